"""Draws a chain's steps over one image: a tile's guest image, or the window.

(Just over 400 lines on purpose: per-frame GL state, targets and uniforms of one chain run
share one cache; the pass model, steps, pools and sampling are in their own modules.)

Per image: every pass of every step in order.  A pass draws one quad into its target
(from the :class:`~geometry_os.render.pool.TargetPool`, or its feedback ring when its
previous outputs are read), sized by its :class:`~geometry_os.render.passes.Output`
against its input and the *viewport* (the image on screen).  The chain's last pass
draws straight onto the screen when it is viewport-sized and keeps no feedback;
otherwise its result is drawn onto the screen by the copy program ("presented").

Every texture is stored top row first (v = 0 at the top), so ``uv`` means the same in
every pass: offscreen quads map v = 0 to the target's first row; on screen the caller's
matrix puts it at the top of the image.

Per image and step the runner keeps state across frames: a frame counter, feedback
rings, the step's input history.  It is dropped when the chain is rebuilt, and for
images not drawn for :data:`STATE_FRAMES` frames (a tile out of view starts its
feedback afresh when it comes back).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any, NamedTuple

import attrs
from pyglet import gl

from geometry_os.render.effects import EffectChain
from geometry_os.render.geometry import unit_quad
from geometry_os.render.passes import PassFrame, Sampling, TextureKind, TextureRef
from geometry_os.render.pool import TargetPool
from geometry_os.render.sampling import Samplers
from geometry_os.render.shaders import ReloadableProgram
from geometry_os.render.steps import CompiledPass, Step, bind_blocks
from geometry_os.render.target import RenderTarget

#: Column-major mat4 taking the unit quad onto a whole pass target, v = 0 on its first row.
OFFSCREEN = (2.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, -1.0, 0.0, 1.0)
STATE_FRAMES = 120
_NEAREST = Sampling("nearest")
_LINEAR = Sampling()


class Texture(NamedTuple):
    id: int
    width: int
    height: int
    format: str = "rgba8"


@attrs.define(eq=False)
class StepState:
    """One image's state for one step, kept across frames."""

    frames: int = 0  # frames drawn
    feedback: dict[int, list[RenderTarget]] = attrs.field(factory=dict)  # pass index -> ring
    history: list[RenderTarget] = attrs.field(factory=list)  # copies of the step's input, a ring
    used: int = 0  # the runner frame it was last drawn in

    def delete(self) -> None:
        for ring in self.feedback.values():
            for target in ring:
                target.delete()
        for target in self.history:
            target.delete()


def quad_matrix(camera_matrix: tuple[float, ...], x: float, y: float, w: float, h: float) -> tuple[float, ...]:
    """Column-major ``camera_matrix`` times the map of the unit quad onto the rectangle (x, y, w, h).

    That map's columns are (w, 0, 0, 0), (0, h, 0, 0), (0, 0, 1, 0) and (x, y, 0, 1).
    """
    c = camera_matrix
    return (*(w * v for v in c[0:4]), *(h * v for v in c[4:8]), *c[8:12],
            *(x * a + y * b + d for a, b, d in zip(c[0:4], c[4:8], c[12:16], strict=True)))


class ChainRunner:
    """Runs one stage's chain (main thread; GL objects are made on first use)."""

    def __init__(self, chain: EffectChain) -> None:
        self.chain = chain
        self.pool = TargetPool()
        self.samplers = Samplers()
        self.states: dict[tuple[str, int], StepState] = {}
        self.frame = 0
        self.draws = 0  # passes drawn (tests, benchmarks)
        self._generation = -1
        self._buffers: dict[int, int] = {}  # binding point -> uniform buffer
        self._copy: ReloadableProgram | None = None
        self._black: RenderTarget | None = None  # what a feedback not drawn yet reads (transparent black)
        self._scissor = False  # the frame is scissored (drawn only around what changed)
        self._unit_samplers: dict[int, int] = {}  # texture unit -> the sampler object bound there
        self._screen: RenderTarget | None = None
        self._bound: RenderTarget | None = None  # the framebuffer passes draw into now
        self._masked = False  # alpha writes are off (a program pass on screen)
        self._vao, self._vbo = unit_quad()

    # ------------------------------------------------------------------ frame
    def begin(self, shell: Any) -> None:
        """Start drawing a frame's images: bring the chain up to date and set the GL state
        passes draw with (no blending; sRGB targets encode).  :meth:`end` restores it."""
        self.chain.refresh(shell)
        if self.chain.generation != self._generation:
            self._generation = self.chain.generation
            self._drop_states(lambda state: True)
        if self._copy is None:
            assert self.chain.builder is not None
            self._copy = self.chain.builder.copy_program()
        if self._black is None:
            self._black = RenderTarget(1, 1)
            self._black.clear()
        self._scissor = bool(gl.glIsEnabled(gl.GL_SCISSOR_TEST))
        self._bound = None  # the caller's framebuffer is bound, but which one is not known here
        self._masked = False
        gl.glDisable(gl.GL_BLEND)
        gl.glEnable(gl.GL_FRAMEBUFFER_SRGB)  # only sRGB targets encode; the others are untouched
        gl.glBindVertexArray(self._vao)

    def end(self) -> None:
        """Restore the GL state; free targets not used lately and the state of images no longer drawn."""
        for unit in self._unit_samplers:
            gl.glBindSampler(unit, 0)
        self._unit_samplers.clear()
        gl.glActiveTexture(gl.GL_TEXTURE0)
        gl.glBindVertexArray(0)
        gl.glDisable(gl.GL_FRAMEBUFFER_SRGB)
        gl.glColorMask(gl.GL_TRUE, gl.GL_TRUE, gl.GL_TRUE, gl.GL_TRUE)
        gl.glEnable(gl.GL_BLEND)
        if self._bound is not None and self._bound is not self._screen and self._screen is not None:
            self._screen.bind()
        if self._scissor:
            gl.glEnable(gl.GL_SCISSOR_TEST)
        self.pool.end_frame()
        self._drop_states(lambda state: self.frame - state.used >= STATE_FRAMES)
        self.frame += 1

    def _drop_states(self, stale: Callable[[StepState], bool]) -> None:
        for key in [k for k, state in self.states.items() if stale(state)]:
            self.states.pop(key).delete()

    # ------------------------------------------------------------------- draw
    def draw(self, key: str, source: Texture, mvp: tuple[float, ...], viewport: tuple[float, float],
             screen: RenderTarget, uniforms: dict[str, Any], frame_time: float,
             per_tile: Callable[[Any], dict[str, Any]] | None = None) -> None:
        """Draw every step over ``source`` onto ``screen``, where ``mvp`` puts the unit quad
        (between :meth:`begin` and :meth:`end`).

        ``viewport`` is the image's size on screen in pixels; ``uniforms`` are the stage's
        (u_time, u_tile_size ...); ``per_tile(effect)`` gives an effect's per-tile uniforms.
        """
        self._screen = screen
        steps = self.chain.steps
        guest = source
        screen_size = (max(1, round(viewport[0])), max(1, round(viewport[1])))
        sized = self._target_viewport(viewport, screen)
        extra = {e: per_tile(e) for step in steps for e in step.effects
                 if per_tile is not None and e.kind.per_tile is not None}
        on_screen = False
        try:
            for step_index, step in enumerate(steps):
                state = self._state(key, step)
                source = self._shrunk(source, step, sized)
                textures = _Textures(step, state, guest, source, [], self._black)
                for pass_index, compiled in enumerate(step.passes):
                    last = step_index == len(steps) - 1 and pass_index == len(step.passes) - 1
                    ring_depth = step.feedback.get(pass_index, 0)
                    on_screen = last and not ring_depth and compiled.output.is_viewport
                    if on_screen:
                        target, size, matrix = None, screen_size, mvp
                    else:
                        size = (compiled.output.scale_x.size(source.width, sized[0]),
                                compiled.output.scale_y.size(source.height, sized[1]))
                        target = (self._ring(state, pass_index, ring_depth, size, compiled.output.format)
                                  if ring_depth else self.pool.acquire(*size, compiled.output.format))
                        matrix = OFFSCREEN
                    textures.source = source
                    self._pass(compiled, step, state, textures, target, size, screen_size, matrix, uniforms,
                               extra.get, frame_time)
                    if target is not None:
                        source = Texture(target.texture, target.width, target.height, target.format)
                    textures.outputs.append(source)
                if step.history:
                    self._remember_input(state, step.history, textures.original)
                state.frames += 1
                state.used = self.frame
            if not on_screen:
                self._present(source, mvp)
        finally:
            self.pool.release_all()

    def to_screen(self, screen: RenderTarget, sampling: Sampling) -> None:
        """Make the next draws go straight onto ``screen`` (scissored like the frame), reading
        texture unit 0 with ``sampling``: for a caller drawing passes of its own between
        :meth:`begin` and :meth:`end` (the batched tile pass), with this runner's quad bound."""
        self._screen = screen
        self._bind_target(None)
        self._bind_sampler(0, sampling)

    def _pass(self, compiled: CompiledPass, step: Step, state: StepState, textures: _Textures,
              target: RenderTarget | None, size: tuple[int, int], screen_size: tuple[int, int],
              matrix: tuple[float, ...], uniforms: dict[str, Any], extra: Callable[[Any], dict[str, Any] | None],
              frame_time: float) -> None:
        program = compiled.program.program
        if compiled.generation != compiled.program.generation:
            compiled.setup()
        self._bind_target(target, mask_alpha=compiled.blocks is not None)
        program.use()
        for unit, ref in compiled.units:
            texture = textures.get(ref)
            gl.glActiveTexture(gl.GL_TEXTURE0 + unit)
            gl.glBindTexture(gl.GL_TEXTURE_2D, texture.id)
            sampling = step.luts[ref.index].lut.sampling if ref.kind is TextureKind.LUT else compiled.sampling
            if sampling.mipmap and ref.kind is not TextureKind.LUT:
                gl.glGenerateMipmap(gl.GL_TEXTURE_2D)
            self._bind_sampler(unit, sampling)
        if compiled.blocks is not None:
            frame = PassFrame(step.effects[0].params, size, screen_size, matrix, state.frames, 1, frame_time,
                              textures.size)
            bind_blocks(program.id, compiled, compiled.blocks(frame), self._fill_buffer)
        else:
            put = compiled.put
            for name, value in uniforms.items():
                put(name, value)
            put("u_matrix", matrix)
            put("u_output_size", (float(size[0]), float(size[1])))
            put("u_frame_count", state.frames)
            put("u_frame_direction", 1)
            put("u_opaque", 1.0 if target is None else 0.0)
            for name, ref in compiled.sizes.items():
                width, height = textures.size(ref)
                put(name, (float(width), float(height)))
            for effect in compiled.effects:
                for name, value in effect.uniforms().items():
                    put(name, value)
                for name, value in (extra(effect) or {}).items():
                    put(name, value)
        gl.glDrawArrays(gl.GL_TRIANGLE_STRIP, 0, 4)
        self.draws += 1

    def _bind_sampler(self, unit: int, sampling: Sampling) -> None:
        sampler = self.samplers.get(sampling)
        if self._unit_samplers.get(unit) != sampler:
            gl.glBindSampler(unit, sampler)
            self._unit_samplers[unit] = sampler

    def _bind_target(self, target: RenderTarget | None, mask_alpha: bool = False) -> None:
        """Draw into ``target``, or (None) onto the screen: scissored like the rest of the frame,
        its alpha kept opaque (program passes may write any alpha; native ones write 1 there)."""
        want = self._screen if target is None else target
        if want is not self._bound:
            if target is None:
                assert self._screen is not None
                self._screen.bind()
                if self._scissor:
                    gl.glEnable(gl.GL_SCISSOR_TEST)
            else:
                if self._scissor:
                    gl.glDisable(gl.GL_SCISSOR_TEST)
                target.bind()
            self._bound = want
        masked = target is None and mask_alpha
        if masked != self._masked:
            gl.glColorMask(gl.GL_TRUE, gl.GL_TRUE, gl.GL_TRUE, gl.GL_FALSE if masked else gl.GL_TRUE)
            self._masked = masked

    def _shrunk(self, source: Texture, step: Step, viewport: tuple[int, int]) -> Texture:
        """``source``, or a copy of it no larger than the viewport if the step's first pass is
        sized by its input: passes run at the image's size on screen, not the guest's, so a
        tile shown small costs little whatever its guest's resolution."""
        scale = step.passes[0].output
        if "source" not in (scale.scale_x.kind, scale.scale_y.kind):
            return source
        shrink = min(viewport[0] / source.width, viewport[1] / source.height)
        if shrink >= 1.0:
            return source
        target = self.pool.acquire(max(1, round(source.width * shrink)), max(1, round(source.height * shrink)),
                                   source.format)
        self._copy_to(source, target, OFFSCREEN, _LINEAR)
        self.draws += 1
        return Texture(target.texture, target.width, target.height, target.format)

    def _present(self, texture: Texture, mvp: tuple[float, ...]) -> None:
        """Draw an offscreen result onto the image's place on screen."""
        self._copy_to(texture, None, mvp, _LINEAR)

    def _remember_input(self, state: StepState, depth: int, original: Texture) -> None:
        """Copy this frame's step input into the history ring (read as HISTORY ``age`` next frames)."""
        ring = state.history
        if not ring or (ring[0].width, ring[0].height, ring[0].format) != (original.width, original.height,
                                                                              original.format):
            for target in ring:
                target.delete()
            ring[:] = [RenderTarget(original.width, original.height, original.format) for _ in range(depth)]
            for target in ring:
                target.clear()
        self._copy_to(original, ring[state.frames % depth], OFFSCREEN, _NEAREST)

    def _copy_to(self, texture: Texture, target: RenderTarget | None, matrix: tuple[float, ...],
                 sampling: Sampling) -> None:
        assert self._copy is not None
        program = self._copy.program
        self._bind_target(target)
        program.use()
        program["u_matrix"] = matrix
        program["u_opaque"] = 1.0 if target is None else 0.0
        gl.glActiveTexture(gl.GL_TEXTURE0)
        gl.glBindTexture(gl.GL_TEXTURE_2D, texture.id)
        self._bind_sampler(0, sampling)
        gl.glDrawArrays(gl.GL_TRIANGLE_STRIP, 0, 4)

    # ------------------------------------------------------------------ state
    def _state(self, key: str, step: Step) -> StepState:
        state = self.states.get((key, id(step)))
        if state is None:
            state = self.states[key, id(step)] = StepState()
        return state

    def _ring(self, state: StepState, index: int, depth: int, size: tuple[int, int], format: str) -> RenderTarget:
        """This frame's target of pass ``index``'s feedback ring (depth + 1 targets, cleared when made)."""
        ring = state.feedback.get(index)
        if ring is None or (ring[0].width, ring[0].height, ring[0].format) != (*size, format):
            for target in ring or ():
                target.delete()
            ring = state.feedback[index] = [RenderTarget(*size, format) for _ in range(depth + 1)]
            for target in ring:
                target.clear()
        return ring[state.frames % (depth + 1)]

    @staticmethod
    def _target_viewport(viewport: tuple[float, float], screen: RenderTarget) -> tuple[int, int]:
        """The viewport offscreen passes size against: the image on screen, at most twice the
        window on each axis (a tile zoomed far larger than the window keeps its aspect)."""
        width, height = max(1.0, viewport[0]), max(1.0, viewport[1])
        shrink = min(1.0, 2 * screen.width / width, 2 * screen.height / height)
        return max(1, round(width * shrink)), max(1, round(height * shrink))

    def _fill_buffer(self, binding: int, data: bytes) -> None:
        """Upload a uniform block's bytes into the buffer of its binding point, and bind it there."""
        buffer = self._buffers.get(binding)
        if buffer is None:
            handle = gl.GLuint()
            gl.glGenBuffers(1, ctypes.byref(handle))
            buffer = self._buffers[binding] = handle.value
        gl.glBindBuffer(gl.GL_UNIFORM_BUFFER, buffer)
        gl.glBufferData(gl.GL_UNIFORM_BUFFER, len(data), data, gl.GL_STREAM_DRAW)
        gl.glBindBufferBase(gl.GL_UNIFORM_BUFFER, binding, buffer)

    def delete(self) -> None:
        """Release every GL object, the chain's programs included (the shell is closing)."""
        self.chain.delete()
        self._drop_states(lambda state: True)
        self.pool.delete()
        self.samplers.delete()
        if self._copy is not None:
            self._copy.program.delete()
        if self._black is not None:
            self._black.delete()
        for buffer in self._buffers.values():
            gl.glDeleteBuffers(1, ctypes.byref(gl.GLuint(buffer)))
        gl.glDeleteBuffers(1, ctypes.byref(gl.GLuint(self._vbo)))
        gl.glDeleteVertexArrays(1, ctypes.byref(gl.GLuint(self._vao)))


class _Textures:
    """What a pass's texture references mean for one image and step this frame (``source``
    and ``outputs`` move on pass by pass)."""

    def __init__(self, step: Step, state: StepState, guest: Texture, original: Texture, outputs: list[Texture],
                 black: RenderTarget | None) -> None:
        self.step = step
        self.state = state
        self.guest = guest
        self.original = original
        self.source = original
        self.outputs = outputs
        self.black = black

    def get(self, ref: TextureRef) -> Texture:
        kind = ref.kind
        if kind is TextureKind.SOURCE:
            return self.source
        if kind is TextureKind.ORIGINAL or (kind is TextureKind.HISTORY and ref.age == 0):
            return self.original
        if kind is TextureKind.GUEST:
            return self.guest
        if kind is TextureKind.PASS:
            return self.outputs[ref.index]
        if kind is TextureKind.FEEDBACK:
            ring = self.state.feedback.get(ref.index)
            if ring is None:  # a later pass, on its first frame: nothing drawn yet
                assert self.black is not None
                return Texture(self.black.texture, 1, 1)
            target = ring[(self.state.frames - ref.age) % len(ring)]
        elif kind is TextureKind.HISTORY:
            ring = self.state.history
            if not ring:  # the first frame: no copy made yet
                return self.original
            target = ring[(self.state.frames - ref.age) % len(ring)]
        else:
            lut = self.step.luts[ref.index]
            return Texture(lut.id, lut.width, lut.height)
        return Texture(target.texture, target.width, target.height, target.format)

    def size(self, ref: TextureRef) -> tuple[int, int]:
        texture = self.get(ref)
        return texture.width, texture.height
