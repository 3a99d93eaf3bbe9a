"""Runs the scene's screen-stage effects as one pass over everything drawn so far.

The frame drawn by the layers below is copied (a blit) into a scratch target, then
drawn back through the generated ``apply_screen_effects`` chain.  Layers above
(the HUD) are not affected.  With no screen effects in the scene it does nothing.
"""

from __future__ import annotations

import ctypes

from pyglet import gl

from geometry_os import api
from geometry_os.render.shaders import load_source
from geometry_os.render.target import RenderTarget


class ScreenPassLayer:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.chain = shell.screen_chain
        self.scratch: RenderTarget | None = None
        folder = shell.shaders_dir
        self.program = self.chain.program(shell, "screen", lambda: (
            load_source(folder / "screen.vert"),
            load_source(folder / "screen.frag", include_dirs=[folder],
                        virtual={"screen_effects": self.chain.generated()})))
        vao = gl.GLuint()
        gl.glGenVertexArrays(1, ctypes.byref(vao))
        self.vao = vao.value

    def draw(self) -> None:
        self.chain.refresh(self.program)  # the scene's effect list or a left-out effect was edited
        if not self.chain.active:
            return
        target = self.shell.target
        if self.scratch is None:
            self.scratch = RenderTarget(target.width, target.height)
        self.scratch.resize(target.width, target.height)
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, target.fbo)
        gl.glBindFramebuffer(gl.GL_DRAW_FRAMEBUFFER, self.scratch.fbo)
        gl.glBlitFramebuffer(0, 0, target.width, target.height, 0, 0, target.width, target.height,
                             gl.GL_COLOR_BUFFER_BIT, gl.GL_NEAREST)
        target.bind()
        program = self.program.program
        program.use()
        for name, value in (("u_screen", 0), ("u_time", self.shell.time), ("u_zoom", self.shell.camera.zoom),
                            ("u_resolution", (float(target.width), float(target.height)))):
            if name in program.uniforms:
                program[name] = value
        self.chain.set_uniforms(program)
        gl.glActiveTexture(gl.GL_TEXTURE0)
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.scratch.texture)
        gl.glDisable(gl.GL_BLEND)
        gl.glBindVertexArray(self.vao)
        gl.glDrawArrays(gl.GL_TRIANGLES, 0, 3)
        gl.glBindVertexArray(0)
        gl.glEnable(gl.GL_BLEND)
        program.stop()

    def delete(self) -> None:
        if self.scratch is not None:
            self.scratch.delete()
        gl.glDeleteVertexArrays(1, ctypes.byref(gl.GLuint(self.vao)))
