"""A preset compiled to GL: per pass, GLSL for both stages and what every uniform and sampler means.

This is the whole contract with the renderer; see docs/slang.md for what it must do
with it (bind blocks and samplers, fill the buffers, keep history and feedback).
"""

from __future__ import annotations

import enum
import logging
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from attrs import frozen

from geometry_os.plugins.effects.slang.errors import SlangError
from geometry_os.plugins.effects.slang.preprocess import STAGES, Parameter, ShaderSource, preprocess
from geometry_os.plugins.effects.slang.preset import PassSpec, Preset, load_preset
from geometry_os.plugins.effects.slang.semantics import (
    TYPES,
    UNSUPPORTED,
    Context,
    NotAvailable,
    Semantic,
    TextureKind,
    TextureRef,
)
from geometry_os.plugins.effects.slang.toolchain import StageOutput, compile_stage, map_gl_log

#: GL uniform-buffer binding points the renderer binds each block's buffer to.
UBO_BINDING = 0
PUSH_BINDING = 1
GLSL_VERSIONS = (330, 450)
_log = logging.getLogger(__name__)
_TYPE_SIZES = {"float": 4, "int": 4, "uint": 4, "bool": 4, "vec2": 8, "ivec2": 8, "uvec2": 8, "vec3": 12,
               "ivec3": 12, "uvec3": 12, "vec4": 16, "ivec4": 16, "uvec4": 16, "mat2": 32, "mat3": 48, "mat4": 64}


class BlockKind(enum.Enum):
    UBO = "ubo"    # `layout(set = 0, binding = N) uniform UBO`
    PUSH = "push"  # `layout(push_constant) uniform Push`: a second uniform buffer in GL


@frozen
class UniformMember:
    """One member of a block: where it sits (std140 offset) and what to write there."""

    name: str
    offset: int
    type: str  # GLSL type as declared: pack FrameCount/FrameDirection as this (uint or int)
    size: int  # bytes
    semantic: Semantic
    texture: TextureRef | None = None  # for Semantic.TEXTURE_SIZE: whose size
    parameter: str | None = None       # for Semantic.PARAMETER: which parameter


@frozen
class UniformBlock:
    """A block shared by both stages through one buffer at GL binding point ``gl_binding``.

    Each stage names it differently (``gl_names``; Vulkan lets stages declare different
    members, GL wants same-named blocks identical), so bind every name to ``gl_binding``.
    """

    kind: BlockKind
    gl_binding: int
    gl_names: tuple[str, ...]
    size: int
    members: tuple[UniformMember, ...]


@frozen
class SamplerBinding:
    """A sampler uniform: set it to texture unit ``binding`` and bind ``texture`` there."""

    name: str
    binding: int
    texture: TextureRef


@frozen
class CompiledPass:
    spec: PassSpec
    vertex: str
    fragment: str
    files: tuple[Path, ...]  # for map_gl_log: `#line N k` names files[k]
    blocks: tuple[UniformBlock, ...]
    samplers: tuple[SamplerBinding, ...]
    parameters: tuple[Parameter, ...]
    alias: str | None  # the preset's aliasN, else the shader's #pragma name
    format: str  # framebuffer format, a Vulkan name (R8G8B8A8_UNORM, R16G16B16A16_SFLOAT, ...)

    def map_gl_log(self, log: str) -> list[str]:
        """A GL compile log with positions as ``file.slang:line``."""
        return map_gl_log(log, self.files)


@frozen
class CompiledPreset:
    preset: Preset
    passes: tuple[CompiledPass, ...]
    parameters: tuple[Parameter, ...]  # every pass's, first declaration first
    values: dict[str, float]  # each parameter's starting value, the preset's overrides applied
    glsl_version: int
    history: int  # the highest OriginalHistory index sampled (keep that many past frames)
    feedback: frozenset[int]  # passes whose previous output is sampled (keep it a frame)


def load(path: Path | str, glsl_version: int = 330) -> CompiledPreset:
    """Parse and compile the preset at ``path``."""
    return compile_preset(load_preset(path), glsl_version)


def compile_preset(preset: Preset, glsl_version: int = 330) -> CompiledPreset:
    """Compile every pass for GLSL ``glsl_version`` (330, or 450 where the driver has it)."""
    if glsl_version not in GLSL_VERSIONS:
        raise SlangError(f"{preset.path}: GLSL {glsl_version} is not a target (choose from {GLSL_VERSIONS})")
    sources = [preprocess(spec.shader) for spec in preset.passes]
    aliases = _aliases(preset, sources)
    parameters, values = _parameters(preset, sources)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        # A shader used by several passes is compiled once.
        jobs: dict[tuple[str, str, tuple[Path, ...]], Future[StageOutput]] = {}
        for source in sources:
            for stage in STAGES:
                key = (stage, source.stage(stage), source.files)
                if key not in jobs:
                    jobs[key] = pool.submit(compile_stage, key[1], stage, source.files, glsl_version)
        stages = [[jobs[stage, source.stage(stage), source.files].result() for stage in STAGES] for source in sources]
    names = frozenset(p.id for p in parameters)
    luts = tuple(lut.name for lut in preset.luts)
    passes = tuple(
        _compiled_pass(spec, source, dict(zip(STAGES, outputs, strict=True)),
                       Context(spec.index, len(preset.passes), aliases, luts, names))
        for spec, source, outputs in zip(preset.passes, sources, stages, strict=True))
    refs = [s.texture for p in passes for s in p.samplers] + [m.texture for p in passes for b in p.blocks
                                                              for m in b.members if m.texture]
    history = max((r.index for r in refs if r and r.kind is TextureKind.ORIGINAL_HISTORY), default=0)
    feedback = frozenset(r.index for r in refs if r and r.kind is TextureKind.PASS_FEEDBACK)
    return CompiledPreset(preset, passes, parameters, values, glsl_version, history, feedback)


def _alias_of(spec: PassSpec, source: ShaderSource) -> str | None:
    return spec.alias or source.name


def _aliases(preset: Preset, sources: list[ShaderSource]) -> dict[str, int]:
    aliases: dict[str, int] = {}
    for spec, source in zip(preset.passes, sources, strict=True):
        alias = _alias_of(spec, source)
        if alias is None:
            continue
        if alias in aliases:
            raise SlangError(f"{source.path}: alias {alias!r} is already pass {aliases[alias]}'s")
        if alias in (lut.name for lut in preset.luts):
            raise SlangError(f"{source.path}: alias {alias!r} is also the name of a texture in {preset.path}")
        aliases[alias] = spec.index
    return aliases


def preset_parameters(preset: Preset) -> tuple[tuple[Parameter, ...], dict[str, float]]:
    """The parameters of every pass and their starting values, without compiling anything
    (the shaders are only preprocessed): what a scene may set."""
    return _parameters(preset, [preprocess(spec.shader) for spec in preset.passes])


def _parameters(preset: Preset, sources: list[ShaderSource]) -> tuple[tuple[Parameter, ...], dict[str, float]]:
    """All passes' parameters (RetroArch shares one value per id, so declarations must
    agree) and their starting values, the preset's overrides applied."""
    found: dict[str, tuple[Parameter, Path]] = {}
    for source in sources:
        for parameter in source.parameters:
            known = found.setdefault(parameter.id, (parameter, source.path))
            if known[0] != parameter:
                raise SlangError(f"{source.path}: parameter {parameter.id!r} is declared differently in {known[1]}")
    parameters = tuple(p for p, _ in found.values())
    values = {p.id: preset.parameters.get(p.id, p.initial) for p in parameters}
    for unknown in sorted(set(preset.parameters) - set(values)):
        _log.warning("%s: %s = %g sets no parameter of any pass (ignored, as RetroArch does)", preset.path, unknown,
                     preset.parameters[unknown])
    return parameters, values


def _compiled_pass(spec: PassSpec, source: ShaderSource, outputs: dict[str, StageOutput],
                   context: Context) -> CompiledPass:
    _check_interface(source, outputs)
    glsl = {stage: output.glsl for stage, output in outputs.items()}
    blocks = []
    for kind, binding in ((BlockKind.UBO, UBO_BINDING), (BlockKind.PUSH, PUSH_BINDING)):
        block = _block(kind, binding, source, outputs, context, glsl)
        if block is not None:
            blocks.append(block)
    return CompiledPass(spec, glsl["vertex"], glsl["fragment"], source.files, tuple(blocks),
                        _samplers(source, outputs, context), source.parameters, _alias_of(spec, source),
                        _format(spec, source))


def _format(spec: PassSpec, source: ShaderSource) -> str:
    """The preset's srgb/float flags override the shader's #pragma format (as librashader and RetroArch)."""
    if spec.srgb_framebuffer:
        return "R8G8B8A8_SRGB"
    if spec.float_framebuffer:
        return "R16G16B16A16_SFLOAT"
    return source.format or "R8G8B8A8_UNORM"


def _check_interface(source: ShaderSource, outputs: dict[str, StageOutput]) -> None:
    inputs = [(i["location"], i["name"]) for i in outputs["vertex"].reflection.get("inputs", [])]
    extra = [name for location, name in inputs if location not in (0, 1)]
    if extra:
        raise SlangError(f"{source.path}: vertex input {extra[0]!r} is not at location 0 (Position) "
                         f"or 1 (TexCoord)")
    targets = [o["name"] for o in outputs["fragment"].reflection.get("outputs", []) if o.get("location", 0) != 0]
    if targets:
        raise SlangError(f"{source.path}: fragment output {targets[0]!r}: only one render target (location 0)")


def _resources(output: StageOutput, kind: BlockKind) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = output.reflection.get("ubos" if kind is BlockKind.UBO else "push_constants", [])
    return found


def _block(kind: BlockKind, binding: int, source: ShaderSource, outputs: dict[str, StageOutput], context: Context,
           glsl: dict[str, str]) -> UniformBlock | None:
    members: dict[str, UniformMember] = {}
    gl_names: list[str] = []
    size = 0
    for stage, output in outputs.items():
        resources = _resources(output, kind)
        if len(resources) > 1:
            raise SlangError(f"{source.path}: {stage} stage declares {len(resources)} {kind.value} blocks "
                             f"(one is supported)")
        if not resources:
            continue
        block_type = output.reflection["types"][resources[0]["type"]]
        gl_name = f"{block_type['name']}_{stage}"
        glsl[stage] = _rename_block(glsl[stage], block_type["name"], gl_name, source.path)
        gl_names.append(gl_name)
        read = output.members_read.get(block_type["name"], [])
        for raw in block_type["members"]:
            size = max(size, raw["offset"] + _declared_size(raw))
            member = _member(raw, read is None or raw["name"] in read, context, source.path)
            if member is None:
                continue
            known = members.setdefault(member.name, member)
            if (known.offset, known.type) != (member.offset, member.type):
                raise SlangError(f"{source.path}: {member.name} sits at offset {known.offset} ({known.type}) in one "
                                 f"stage and {member.offset} ({member.type}) in the other")
        size = max(size, resources[0].get("block_size", 0))
    if not gl_names:
        return None
    return UniformBlock(kind, binding, tuple(gl_names), -(-size // 16) * 16,
                        tuple(sorted(members.values(), key=lambda m: m.offset)))


def _declared_size(raw: dict[str, Any]) -> int:
    """Bytes a reflected member takes (arrays by their stride; structs, unknown here, count as 16)."""
    if "array" in raw:
        count = 1
        for length in raw["array"]:
            count *= max(1, int(length))
        return int(raw.get("array_stride", 16)) * count
    return _TYPE_SIZES.get(raw["type"], 16)


def _member(raw: dict[str, Any], read: bool, context: Context, path: Path) -> UniformMember | None:
    """The member's meaning; None for one the code never reads and we cannot fill."""
    name, type_ = raw["name"], raw["type"]
    try:
        meaning = context.member(name)
    except NotAvailable as exc:
        if read:
            raise SlangError(f"{path}: {name}: {exc}") from None
        return None
    if meaning is None or "array" in raw or type_ not in TYPES[meaning[0]]:
        if not read:
            return None
        if name in UNSUPPORTED:
            raise SlangError(f"{path}: {name} is not supported (HDR output)")
        if meaning is None:
            raise SlangError(f"{path}: uniform {name!r} has no known meaning (not a semantic, alias, texture "
                             f"or parameter)")
        raise SlangError(f"{path}: uniform {name} is {type_}{'[]' if 'array' in raw else ''}, "
                         f"it must be {' or '.join(TYPES[meaning[0]])}")
    semantic, texture = meaning
    return UniformMember(name, raw["offset"], type_, _TYPE_SIZES[type_], semantic, texture,
                         name if semantic is Semantic.PARAMETER else None)


def _rename_block(glsl: str, name: str, gl_name: str, path: Path) -> str:
    pattern = re.compile(rf"^((?:layout\([^)]*\)\s*)?uniform\s+){re.escape(name)}(\s*)$", re.MULTILINE)
    renamed, count = pattern.subn(rf"\g<1>{gl_name}\g<2>", glsl)
    if count != 1:
        raise SlangError(f"{path}: could not find block {name} in spirv-cross's GLSL")
    return renamed


def _samplers(source: ShaderSource, outputs: dict[str, StageOutput], context: Context) -> tuple[SamplerBinding, ...]:
    found: dict[str, SamplerBinding] = {}
    for output in outputs.values():
        for raw in output.reflection.get("textures", []):
            name, read = raw["name"], raw["name"] in output.samplers_read
            try:
                texture = context.texture(name)
            except NotAvailable as exc:
                if read:
                    raise SlangError(f"{source.path}: sampler {name}: {exc}") from None
                continue
            if texture is None or raw["type"] != "sampler2D" or "array" in raw:
                if read:
                    what = "has no known meaning" if texture is None else f"is {raw['type']}, only sampler2D works"
                    raise SlangError(f"{source.path}: sampler {name!r} {what}")
                continue
            binding = SamplerBinding(name, raw["binding"], texture)
            if found.setdefault(name, binding) != binding:
                raise SlangError(f"{source.path}: sampler {name} has different bindings in the two stages")
    return tuple(sorted(found.values(), key=lambda s: s.binding))
