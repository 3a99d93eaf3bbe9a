"""The tile stage drawn as one batch: no per-tile uniforms, no per-tile Python beyond a draw.

When the scene's tile chain is empty, or one fused step (single-pass effects sharing one
program, drawn straight onto the screen, no feedback, no history, no per-tile uniforms
from Python), every tile's image is the same program over a different texture.  Then
each tile's values (image rect, frame size, focus, state, CPU load, update rate) live in
one row of a buffer (:class:`TileRows`, numpy-backed, uploaded only when a row changed)
that the vertex shader reads (shaders/tile_batch.vert), and a frame costs per tile only
the three GL calls that pick its row and texture and draw it.  With bindless textures
unavailable (not in GL 3.3, not on llvmpipe) and tiles' textures of any size, one draw
per texture is what remains; the effects' GLSL is compiled unchanged (the per-tile
uniforms become inputs of the same names: shaders/tile_uniforms.glsl).

Any other chain (multi-pass effects, feedback, per-tile uniforms such as ``bio``'s) is
drawn by :class:`~geometry_os.render.runner.ChainRunner` tile by tile as before.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np
from pyglet import gl

from geometry_os.render.passes import Sampling
from geometry_os.render.runner import ChainRunner
from geometry_os.render.shaders import ReloadableProgram, ShaderError
from geometry_os.render.steps import CompiledPass, Step
from geometry_os.render.target import RenderTarget

ROW_FLOATS = 12  # three RGBA32F texels, laid out as tile_batch.vert reads them
#: The texture unit the rows' buffer texture is bound to (units 0.. are the passes' inputs).
ROWS_UNIT = 7
_SAMPLING = Sampling()


class TileRows:
    """Per-tile rows in a numpy array mirrored in a float texture, one texel row per tile
    (a buffer texture would do, but pyglet's programs refuse samplerBuffer uniforms)."""

    def __init__(self, capacity: int = 64) -> None:
        self.data = np.zeros((capacity, ROW_FLOATS), dtype=np.float32)
        self.changed = True
        texture = gl.GLuint()
        gl.glGenTextures(1, ctypes.byref(texture))
        self.texture = texture.value
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.texture)
        for name in (gl.GL_TEXTURE_MIN_FILTER, gl.GL_TEXTURE_MAG_FILTER):  # no mipmaps: complete as it is
            gl.glTexParameteri(gl.GL_TEXTURE_2D, name, gl.GL_NEAREST)

    def set(self, slot: int, row: Sequence[float]) -> None:
        """Row ``slot``: image rect (x, y, w, h), frame size, focus, cpu load, update rate, state."""
        while slot >= len(self.data):
            self.data = np.concatenate([self.data, np.zeros_like(self.data)])
        self.data[slot, :len(row)] = row
        self.changed = True

    def bind(self) -> None:
        """Upload the rows if any changed, and bind them to :data:`ROWS_UNIT`."""
        gl.glActiveTexture(gl.GL_TEXTURE0 + ROWS_UNIT)
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.texture)
        gl.glBindSampler(ROWS_UNIT, 0)  # the texture's own (nearest) filtering, whatever a pass left there
        if self.changed:
            self.changed = False
            gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 4)
            gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, gl.GL_RGBA32F, ROW_FLOATS // 4, len(self.data), 0, gl.GL_RGBA,
                            gl.GL_FLOAT, self.data.ctypes.data)
        gl.glActiveTexture(gl.GL_TEXTURE0)

    def delete(self) -> None:
        gl.glDeleteTextures(1, ctypes.byref(gl.GLuint(self.texture)))


class TileBatch:
    """Draws many tiles' images with one program when the chain allows it."""

    def __init__(self, runner: ChainRunner) -> None:
        self.runner = runner
        self.rows = TileRows()
        self._program: ReloadableProgram | None = None
        self._key: tuple[Any, ...] | None = None  # what the program was built for
        self._values: dict[str, Any] = {}  # uniforms as last set
        self._eligible = False

    def ready(self) -> bool:
        """Whether the runner's chain (brought up to date by ``runner.begin``) can be batched;
        builds or rebuilds the batched program when the chain or its program changed."""
        chain = self.runner.chain
        steps = chain.steps
        compiled = _fused_pass(steps)
        if steps and compiled is None:
            return False
        source = compiled.program if compiled is not None else None
        key = (chain.generation, id(source), source.generation if source is not None else 0)
        if key != self._key:
            self._key = key
            self._build([] if compiled is None else compiled.effects)
        return self._eligible

    def _build(self, effects: list[Any]) -> None:
        if self._program is not None:
            self._program.program.delete()
            self._program = None
        builder = self.runner.chain.builder
        assert builder is not None
        name = f"tile-batch:{'+'.join(e.name for e in effects)}"
        try:
            program = builder.native_program(name, effects, [e.fused_shader for e in effects], batched=True)
        except ShaderError:  # the runner draws tile by tile (and reports the error if it is the effect's)
            self._eligible = False
            return
        # A frame counter per tile is the one thing the batch does not keep.
        self._eligible = "u_frame_count" not in program.program.uniforms
        self._program = program
        self._values = {}
        program.program.use()
        for name in ("u_frame", "u_original", "u_guest"):
            location = gl.glGetUniformLocation(program.program.id, name.encode())
            if location >= 0:
                gl.glUniform1i(location, 0)  # the step's input, original and guest are all the guest image
        location = gl.glGetUniformLocation(program.program.id, b"u_tiles")
        gl.glUniform1i(location, ROWS_UNIT)
        program.program.stop()
        self._effects = effects
        self._tile_location = gl.glGetUniformLocation(program.program.id, b"u_tile")

    def draw(self, slots: Sequence[int], textures: Sequence[int], screen: RenderTarget,
             uniforms: dict[str, Any]) -> None:
        """Draw the tiles in ``slots`` (rows of :attr:`rows`) with their ``textures`` onto ``screen``
        (between the runner's begin and end).  ``uniforms``: the stage's common ones
        (u_camera, u_time, u_zoom, u_resolution)."""
        assert self._program is not None
        program = self._program.program
        self.rows.bind()
        self.runner.to_screen(screen, _SAMPLING)
        program.use()
        values = {**uniforms, "u_opaque": 1.0, "u_frame_direction": 1}
        for effect in self._effects:
            values.update(effect.uniforms())
        for name, value in values.items():
            if self._values.get(name, self) != value and name in program.uniforms:
                self._values[name] = value
                program[name] = value
        set_row, bind, draw = gl.glUniform1i, gl.glBindTexture, gl.glDrawArrays
        location, texture_2d, strip = self._tile_location, gl.GL_TEXTURE_2D, gl.GL_TRIANGLE_STRIP
        for slot, texture in zip(slots, textures, strict=True):
            set_row(location, slot)
            bind(texture_2d, texture)
            draw(strip, 0, 4)
        self.runner.draws += len(slots)

    def delete(self) -> None:
        if self._program is not None:
            self._program.program.delete()
        self.rows.delete()


def _fused_pass(steps: Sequence[Step]) -> CompiledPass | None:
    """The one pass of a chain that is a single fused step drawn straight onto the screen
    with no per-tile uniforms from Python; None for any other chain."""
    if len(steps) != 1:
        return None
    (step,) = steps
    if len(step.passes) != 1 or step.feedback or step.history or step.luts:
        return None
    (compiled,) = step.passes
    if compiled.blocks is not None or not compiled.output.is_viewport:
        return None
    if not step.fused or any(e.kind.per_tile is not None for e in step.effects):
        return None
    return compiled
