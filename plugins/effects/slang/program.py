"""A compiled preset as the renderer's passes: samplers, targets and the bytes of each uniform block.

Each :class:`~.compile.CompiledPass` becomes an :class:`api.ProgramPass`.  What RetroArch
calls a texture maps onto the renderer's references (Original: the effect's input;
Source; OriginalHistoryN; PassOutputN; PassFeedbackN; a look-up texture), its scale
types onto :class:`api.Scale` (the viewport is the tile's image on screen) and its
framebuffer formats onto the renderer's.  Uniform blocks are packed per draw from a
plan made once per pass.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from typing import Any

from geometry_os import api
from geometry_os.plugins.effects.slang.compile import CompiledPass, CompiledPreset, UniformMember
from geometry_os.plugins.effects.slang.errors import SlangError
from geometry_os.plugins.effects.slang.preset import ScaleType
from geometry_os.plugins.effects.slang.semantics import Semantic, TextureKind, TextureRef

#: Vulkan framebuffer formats -> the renderer's; the integer ones have no equivalent here.
FORMATS = {
    "R8_UNORM": "r8", "R8G8_UNORM": "rg8", "R8G8B8A8_UNORM": "rgba8", "R8G8B8A8_SRGB": "srgb8",
    "A2B10G10R10_UNORM_PACK32": "rgb10a2", "R16_SFLOAT": "r16f", "R16G16_SFLOAT": "rg16f",
    "R16G16B16A16_SFLOAT": "rgba16f", "R32_SFLOAT": "r32f", "R32G32_SFLOAT": "rg32f",
    "R32G32B32A32_SFLOAT": "rgba32f",
}
_SCALES = {ScaleType.SOURCE: "source", ScaleType.VIEWPORT: "viewport", ScaleType.ABSOLUTE: "absolute"}
_ANIMATED = frozenset({Semantic.FRAME_COUNT, Semantic.FRAME_TIME_DELTA})
_FORMAT_PRAGMA = re.compile(r"^\s*#\s*pragma\s+format\b")

Values = Callable[[Any], dict[str, float]]  # params -> every parameter's value


def texture(ref: TextureRef) -> api.TextureRef:
    """A slang texture reference as the renderer's."""
    kind = ref.kind
    if kind is TextureKind.ORIGINAL or (kind is TextureKind.ORIGINAL_HISTORY and ref.index == 0):
        return api.TextureRef(api.TextureKind.ORIGINAL)
    if kind is TextureKind.SOURCE:
        return api.TextureRef(api.TextureKind.SOURCE)
    if kind is TextureKind.ORIGINAL_HISTORY:
        return api.TextureRef(api.TextureKind.HISTORY, age=ref.index)
    if kind is TextureKind.PASS_OUTPUT:
        return api.TextureRef(api.TextureKind.PASS, ref.index)
    if kind is TextureKind.PASS_FEEDBACK:
        return api.TextureRef(api.TextureKind.FEEDBACK, ref.index, 1)
    return api.TextureRef(api.TextureKind.LUT, ref.index)


def output(compiled: CompiledPass) -> api.Output:
    spec = compiled.spec
    fmt = FORMATS.get(compiled.format)
    if fmt is None:
        raise SlangError(f"{_format_line(compiled)}: framebuffer format {compiled.format} is not supported "
                         f"(integer formats need integer samplers)")
    return api.Output(api.Scale(_SCALES[spec.scale_x.type], spec.scale_x.value),
                      api.Scale(_SCALES[spec.scale_y.type], spec.scale_y.value), fmt)


def _format_line(compiled: CompiledPass) -> str:
    """``file:line`` of the shader's ``#pragma format`` (or the file alone)."""
    for path in compiled.files:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, start=1):
            if _FORMAT_PRAGMA.match(line):
                return f"{path}:{number}"
    return str(compiled.spec.shader)


def program_pass(compiled: CompiledPass, preset: CompiledPreset, values: Values) -> api.ProgramPass:
    """One pass for the renderer; ``values(params)`` gives the parameters' values for a draw."""
    spec = compiled.spec
    blocks = [(block.gl_names, block.size, [_writer(m, spec.frame_count_mod, values) for m in block.members])
              for block in compiled.blocks]

    def pack(frame: api.PassFrame) -> Sequence[tuple[Sequence[str], bytes]]:
        out = []
        for names, size, writers in blocks:
            data = bytearray(size)
            for write in writers:
                write(data, frame)
            out.append((names, bytes(data)))
        return out

    samplers = tuple((s.name, texture(s.texture)) for s in compiled.samplers)
    animates = any(m.semantic in _ANIMATED for b in compiled.blocks for m in b.members)
    return api.ProgramPass(
        compiled.vertex, compiled.fragment, samplers, pack, compiled.map_gl_log, output(compiled),
        api.Sampling("linear" if spec.filter_linear else "nearest", spec.wrap_mode.value, spec.mipmap_input),
        str(spec.shader), animates or bool(preset.feedback) or preset.history > 0)


Writer = Callable[[bytearray, api.PassFrame], None]


def _writer(member: UniformMember, frame_count_mod: int, values: Values) -> Writer:
    """What writes one member's value into its block's bytes for a draw."""
    offset, semantic = member.offset, member.semantic
    integer = "I" if member.type == "uint" else "i"

    def vec4(size: tuple[int, int]) -> tuple[float, float, float, float]:
        return float(size[0]), float(size[1]), 1.0 / size[0], 1.0 / size[1]

    def packer(fmt: str, value: Callable[[api.PassFrame], Any]) -> Writer:
        code = struct.Struct("<" + fmt)

        def write(data: bytearray, frame: api.PassFrame) -> None:
            result = value(frame)
            code.pack_into(data, offset, *(result if isinstance(result, tuple) else (result,)))
        return write

    if semantic is Semantic.MVP:
        return packer("16f", lambda f: f.mvp)
    if semantic is Semantic.OUTPUT_SIZE:
        return packer("4f", lambda f: vec4(f.output_size))
    if semantic is Semantic.FINAL_VIEWPORT_SIZE:
        return packer("4f", lambda f: vec4(f.viewport_size))
    if semantic is Semantic.TEXTURE_SIZE:
        assert member.texture is not None
        ref = texture(member.texture)
        return packer("4f", lambda f: vec4(f.size(ref)))
    if semantic is Semantic.FRAME_COUNT:
        return packer(integer, lambda f: f.frame_count % frame_count_mod if frame_count_mod else f.frame_count)
    if semantic is Semantic.FRAME_DIRECTION:
        return packer(integer, lambda f: f.frame_direction if integer == "i" else max(0, f.frame_direction))
    if semantic is Semantic.PARAMETER:
        name = member.parameter or member.name
        return packer("f", lambda f: values(f.params)[name])
    if semantic in (Semantic.ORIGINAL_ASPECT, Semantic.ORIGINAL_ASPECT_ROTATED):
        original = api.TextureRef(api.TextureKind.ORIGINAL)
        return packer("f", lambda f: f.size(original)[0] / f.size(original)[1])
    if semantic is Semantic.ORIGINAL_FPS:
        return packer("f", lambda f: 1.0 / f.frame_time if f.frame_time > 0 else 60.0)
    if semantic is Semantic.FRAME_TIME_DELTA:
        return packer(integer, lambda f: round(f.frame_time * 1e6))
    if semantic in (Semantic.CURRENT_SUBFRAME, Semantic.TOTAL_SUBFRAMES):
        return packer(integer, lambda f: 1)
    return packer(integer, lambda f: 0)  # Semantic.ROTATION: tiles are never rotated
