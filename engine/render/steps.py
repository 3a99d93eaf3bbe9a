"""A chain's effects as steps of compiled passes.

A *step* is what one effect draws, or a run of single-pass effects sharing one program:
consecutive single-pass effects are fused into one pass (one draw per tile, the cheap
default) as long as none of them but the first samples a texture, and no effect type
repeats within the run (each instance of a repeated effect gets its own program, so its
uniforms are never redeclared).  An effect that samples (a warp) starts a new step, so
it samples what the effects before it drew.  Multi-pass effects are a step of their own.

Native passes (:class:`~geometry_os.render.passes.Pass` and single-pass effects) are
built from the stage's template (``tile.frag`` / ``screen.frag``) with a generated
``@tile_effects`` / ``@screen_effects`` include; program passes (slang) from their own
text.  Every program is a :class:`~geometry_os.render.shaders.ReloadableProgram`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
from pyglet import gl

from geometry_os.render.passes import (
    EffectError,
    Output,
    Pass,
    PassFrame,
    PassList,
    ProgramPass,
    Sampling,
    TextureKind,
    TextureRef,
)
from geometry_os.render.sampling import LutTexture
from geometry_os.render.shaders import (
    Generated,
    ReloadableProgram,
    ShaderError,
    ShaderSource,
    file_stamp,
    load_source,
)

#: The sampler a stage's passes read their input from, and the template they are built from.
INPUT = {"tile": "u_frame", "screen": "u_screen"}
TEMPLATE = {"tile": "tile.frag", "screen": "screen.frag"}
#: Uniforms a native pass program may have besides its stage's: name -> the texture whose size it holds.
_SIZES = {"u_source_size": TextureRef(TextureKind.SOURCE), "u_original_size": TextureRef(TextureKind.ORIGINAL)}
_STEP_SAMPLERS = {"u_original": TextureRef(TextureKind.ORIGINAL), "u_guest": TextureRef(TextureKind.GUEST)}
_ANIMATES = re.compile(r"\b(u_time|u_frame_count)\b")
_FUSABLE_OUTPUT = Output()
_FUSABLE_SAMPLING = Sampling()


@attrs.define(eq=False)
class CompiledPass:
    """One pass ready to draw: its program and what to bind for it."""

    program: ReloadableProgram
    output: Output
    sampling: Sampling
    effects: list[Any]  # the ActiveEffects whose parameter uniforms this program has
    samplers: dict[str, TextureRef]  # sampler uniform -> texture it reads (units are assigned on setup)
    sizes: dict[str, TextureRef]  # vec2 uniform -> texture whose size it holds (native passes)
    blocks: Callable[[PassFrame], Sequence[tuple[Sequence[str], bytes]]] | None = None  # program passes
    units: list[tuple[int, TextureRef]] = attrs.field(factory=list)  # set up for program.generation
    block_bindings: dict[str, int] = attrs.field(factory=dict)
    generation: int = -1
    values: dict[str, Any] = attrs.field(factory=dict)  # uniforms as last set (each set is a GL call)

    def put(self, name: str, value: Any) -> None:
        """Set a uniform of the (bound) program if it has it and the value changed."""
        if self.values.get(name, self) != value:
            self.values[name] = value
            program = self.program.program
            if name in program.uniforms:
                program[name] = value

    def setup(self) -> None:
        """Point sampler uniforms at texture units (after a (re)link): units in the order of ``samplers``."""
        program = self.program.program
        self.generation = self.program.generation
        self.values = {}
        self.units = []
        program.use()
        for name, ref in self.samplers.items():
            location = gl.glGetUniformLocation(program.id, name.encode())
            if location < 0:
                continue  # declared but never read: the driver dropped it
            unit = len(self.units)
            gl.glUniform1i(location, unit)
            self.units.append((unit, ref))
        self.block_bindings = {}
        program.stop()


@attrs.define(eq=False)
class Step:
    """What one effect draws (or a fused run of single-pass effects)."""

    effects: list[Any]  # ActiveEffect
    passes: list[CompiledPass]
    luts: list[LutTexture]
    history: int  # frames of the step's input kept (HISTORY refs)
    feedback: dict[int, int]  # pass index -> frames of its output kept (FEEDBACK refs)
    stamps: dict[Path, float]  # files that rebuild the step when edited (beyond native programs' own)
    animates: bool
    fused: bool = False  # a run of single-pass effects in one program (StepBuilder.fused)

    def delete(self) -> None:
        for compiled in self.passes:
            compiled.program.program.delete()
        for lut in self.luts:
            lut.delete()


class StepError(Exception):
    """A step that could not be built: ``culprits`` are the effects to leave out."""

    def __init__(self, lines: list[str], culprits: list[Any], files: set[Path], cause: Exception) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines
        self.culprits = culprits
        self.files = files
        self.cause = cause


def passes_for(effect: Any) -> PassList:
    """The effect's passes for its current params: its shader as one pass, its static
    passes, or what its passes function returns (EffectError on failure)."""
    kind = effect.kind
    if kind.shader is not None:
        return PassList((Pass(kind.shader),))
    if callable(kind.passes):
        result = kind.passes(effect.params)
        if not isinstance(result, PassList):
            raise EffectError(f"effect {effect.name}: its passes function returned {type(result).__name__}, "
                              f"not a PassList")
        return result
    return PassList(tuple(kind.passes), tuple(kind.luts))


def fusable(passes: PassList) -> Pass | None:
    """The one pass of ``passes`` if it can share a program with neighbouring effects."""
    if len(passes.passes) != 1 or passes.luts:
        return None
    (single,) = passes.passes
    if not isinstance(single, Pass) or single.name or single.history:
        return None
    if single.output != _FUSABLE_OUTPUT or single.sampling != _FUSABLE_SAMPLING:
        return None
    return single


def samples(shader: Path, stage: str, shaders_dir: Path) -> bool:
    """Whether an effect's GLSL (with what it includes) reads a texture of its step."""
    text = load_source(shader, include_dirs=[shaders_dir]).text
    return re.search(rf"\b({INPUT[stage]}|u_original|u_guest)\b", text) is not None


def plan(effects: Sequence[Any], stage: str, shaders_dir: Path,
         made: dict[int, tuple[Any, PassList]]) -> list[tuple[list[Any], PassList | None]]:
    """Group ``effects`` into steps: (effects, None) for a fused run, ([effect], its passes) otherwise.

    ``made`` gets, for each effect with a passes function, the params and what it returned.
    Raises :class:`StepError` for an effect whose passes cannot be had.
    """
    groups: list[tuple[list[Any], PassList | None]] = []
    for effect in effects:
        try:
            passes = passes_for(effect)
            if callable(effect.kind.passes):
                made[id(effect)] = (effect.params, passes)
            single = fusable(passes)
            reads = single is not None and samples(single.shader, stage, shaders_dir)
        except (EffectError, ShaderError) as exc:
            raise _blame(exc, [effect]) from None
        if single is None:
            groups.append(([effect], passes))
            continue
        effect.fused_shader = single.shader
        last = groups[-1] if groups else None
        if (last is not None and last[1] is None and not reads
                and effect.name not in {e.name for e in last[0]}):
            last[0].append(effect)
        else:
            groups.append(([effect], None))
    return groups


def _blame(exc: EffectError | ShaderError, culprits: list[Any]) -> StepError:
    if isinstance(exc, ShaderError):
        return StepError(exc.lines, culprits, files_named(exc.lines), exc)
    return StepError([str(exc)], culprits, files_named([str(exc)]) | set(exc.files), exc)


def files_named(lines: Sequence[str]) -> set[Path]:
    """Existing files that error lines start with (``path:line: ...``)."""
    found = set()
    for line in lines:
        candidate = Path(line.split(":", 1)[0])
        if candidate.suffix and candidate.is_file():
            found.add(candidate.resolve())
    return found


class StepBuilder:
    """Compiles steps for one stage."""

    def __init__(self, stage: str, shaders_dir: Path) -> None:
        self.stage = stage
        self.shaders_dir = shaders_dir

    # -------------------------------------------------------------- native
    def native_program(self, name: str, effects: list[Any], shaders: list[Path], extra: str = "",
                       batched: bool = False) -> ReloadableProgram:
        """The stage template with ``effects`` (each defining ``effect_<name>`` in its shader) applied in order.

        ``batched``: the tile stage's batched form (:mod:`~geometry_os.render.tile_batch`): the
        tile_batch.vert vertex shader, and the template with GEOS_TILE_BATCH defined."""
        folder = self.shaders_dir
        vertex, prelude = ("tile_batch.vert", "#define GEOS_TILE_BATCH") if batched else ("pass.vert", "")

        def build() -> tuple[ShaderSource, ShaderSource]:
            header = "\n".join([*(f"uniform {glsl_type(v)} {u};" for e in effects for u, v in e.uniforms().items()),
                                extra])
            calls = "\n".join(f"    color = effect_{e.name}(color, uv);" for e in effects)
            text = (f"vec4 apply_{self.stage}_effects(vec4 color, vec2 uv) {{\n{calls}\n    return color;\n}}")
            generated = Generated(files=tuple(shaders), text=text, header=header)
            return (load_source(folder / vertex),
                    load_source(folder / TEMPLATE[self.stage], include_dirs=[folder], prelude=prelude,
                                virtual={f"{self.stage}_effects": generated}))

        return ReloadableProgram(name, build)

    def copy_program(self) -> ReloadableProgram:
        """The template with no effect: draws its input (history copies, presenting an offscreen result)."""
        return self.native_program(f"{self.stage}-copy", [], [])

    def fused(self, effects: list[Any]) -> Step:
        """One pass running single-pass ``effects`` in order (a compile error names its culprits)."""
        shaders = [e.fused_shader for e in effects]
        try:
            program = self.native_program(f"{self.stage}:{'+'.join(e.name for e in effects)}", effects, shaders)
        except ShaderError as exc:
            raise StepError(exc.lines, self._culprits(exc, effects), files_named(exc.lines), exc) from None
        samplers = {INPUT[self.stage]: TextureRef(TextureKind.SOURCE), **_STEP_SAMPLERS}
        compiled = CompiledPass(program, Output(), Sampling(), list(effects), samplers, dict(_SIZES))
        return Step(list(effects), [compiled], [], 0, {}, {}, any(_animated(e, shaders) for e in effects), fused=True)

    def _culprits(self, exc: ShaderError, effects: list[Any]) -> list[Any]:
        """The effects an error is about: by the files it names, else the one without which it compiles."""
        named = files_named(exc.lines)
        culprits = [e for e in effects if e.fused_shader.resolve() in named]
        if culprits or len(effects) == 1:
            return culprits or list(effects)
        for index, effect in enumerate(effects):
            rest = effects[:index] + effects[index + 1:]
            try:
                self.native_program("probe", rest, [e.fused_shader for e in rest]).program.delete()
            except ShaderError:
                continue
            return [effect]
        return list(effects)

    # ---------------------------------------------------------- multi-pass
    def effect(self, effect: Any, passes: PassList) -> Step:
        """The passes of one effect (a StepError names the effect)."""
        built: list[CompiledPass] = []
        luts: list[LutTexture] = []
        try:
            if not passes.passes:
                raise EffectError(f"effect {effect.name}: no passes")
            for lut in passes.luts:
                luts.append(LutTexture(lut))
            names = {p.name: i for i, p in enumerate(passes.passes) if isinstance(p, Pass) and p.name}
            for index, one in enumerate(passes.passes):
                if isinstance(one, Pass):
                    built.append(self._native_pass(effect, index, one, passes, names))
                else:
                    built.append(self._program_pass(effect, index, one))
        except (EffectError, ShaderError, ValueError) as exc:
            for compiled in built:
                compiled.program.program.delete()
            for texture in luts:
                texture.delete()
            if isinstance(exc, ValueError):
                exc = EffectError(str(exc))
            raise _blame(exc, [effect]) from None
        refs = [ref for compiled in built for ref in [*compiled.samplers.values(), *compiled.sizes.values()]]
        for index, one in enumerate(passes.passes):
            if isinstance(one, Pass) and one.history:
                refs.append(TextureRef(TextureKind.FEEDBACK, index, one.history))
        feedback: dict[int, int] = {}
        for ref in refs:
            if ref.kind is TextureKind.FEEDBACK:
                feedback[ref.index] = max(feedback.get(ref.index, 0), ref.age)
        history = max((ref.age for ref in refs if ref.kind is TextureKind.HISTORY), default=0)
        shaders = [p.shader for p in passes.passes if isinstance(p, Pass)]
        animates = (bool(feedback) or history > 0 or _animated(effect, shaders)
                    or any(isinstance(p, ProgramPass) and p.animates for p in passes.passes))
        files = {*passes.files, *(lut.path for lut in passes.luts)}
        return Step([effect], built, luts, history, feedback, {path: file_stamp(path) for path in files}, animates)

    def _native_pass(self, effect: Any, index: int, one: Pass, passes: PassList, names: dict[str, int]) -> CompiledPass:
        samplers = {INPUT[self.stage]: TextureRef(TextureKind.SOURCE), **_STEP_SAMPLERS}
        sizes = dict(_SIZES)
        for name, at in names.items():
            if at < index:
                samplers[f"u_pass_{name}"] = TextureRef(TextureKind.PASS, at)
                sizes[f"u_pass_{name}_size"] = TextureRef(TextureKind.PASS, at)
            kept = passes.passes[at]
            assert isinstance(kept, Pass)
            for age in range(1, kept.history + 1):
                samplers[f"u_pass_{name}_prev{age}"] = TextureRef(TextureKind.FEEDBACK, at, age)
        if one.history:
            samplers["u_feedback"] = TextureRef(TextureKind.FEEDBACK, index, 1)
        for number, lut in enumerate(passes.luts):
            samplers[f"u_lut_{lut.name}"] = TextureRef(TextureKind.LUT, number)
            sizes[f"u_lut_{lut.name}_size"] = TextureRef(TextureKind.LUT, number)
        extra = "\n".join([*(f"uniform sampler2D {name};" for name in samplers if name not in _DECLARED),
                           *(f"uniform vec2 {name};" for name in sizes if name not in _DECLARED)])
        program = self.native_program(f"{self.stage}:{effect.name}[{index}]", [effect], [one.shader], extra)
        return CompiledPass(program, one.output, one.sampling, [effect], samplers, sizes)

    def _program_pass(self, effect: Any, index: int, one: ProgramPass) -> CompiledPass:
        origin = [(Path(one.name or effect.name), 1)]  # where a link error is reported

        def build() -> tuple[ShaderSource, ShaderSource]:
            return (ShaderSource(one.vertex, origin, set(), one.map_log),
                    ShaderSource(one.fragment, origin, set(), one.map_log))

        program = ReloadableProgram(f"{self.stage}:{effect.name}[{index}] {one.name}".strip(), build)
        return CompiledPass(program, one.output, one.sampling, [], dict(one.samplers), {}, one.blocks)


#: Declared by the stage's uniform file (shaders/*_uniforms.glsl), not per pass.
_DECLARED = frozenset({"u_frame", "u_screen", "u_original", "u_guest", "u_source_size", "u_original_size"})


def glsl_type(value: Any) -> str:
    """The GLSL type of a parameter uniform's value: float, or vec2..vec4 for vectors and colours."""
    if isinstance(value, tuple):
        return f"vec{len(value)}"
    return "float"


def _animated(effect: Any, shaders: list[Path]) -> bool:
    """Whether an effect may change the picture by itself: per-tile uniforms, the screen
    stage, or GLSL reading the clock or the frame counter."""
    if effect.kind.per_tile is not None or effect.kind.stage == "screen":
        return True
    for shader in shaders:
        try:
            if _ANIMATES.search(shader.read_text(encoding="utf-8")):
                return True
        except OSError:
            return True
    return False


#: Program passes' uniform blocks use binding points from here up: pyglet keeps its own
#: (the window matrices its text and shapes read) at the low ones.
BLOCK_BINDING_BASE = 16


def bind_blocks(program_id: int, compiled: CompiledPass, blocks: Sequence[tuple[Sequence[str], bytes]],
                buffers: Callable[[int, bytes], None]) -> None:
    """Bind each uniform block of a program pass to its binding point and fill it."""
    for binding, (names, data) in enumerate(blocks, start=BLOCK_BINDING_BASE):
        for name in names:
            if name not in compiled.block_bindings:
                index = gl.glGetUniformBlockIndex(program_id, name.encode())
                compiled.block_bindings[name] = -1 if index == gl.GL_INVALID_INDEX else binding
                if index != gl.GL_INVALID_INDEX:
                    gl.glUniformBlockBinding(program_id, index, binding)
        buffers(binding, data)

