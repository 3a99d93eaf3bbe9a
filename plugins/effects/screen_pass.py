"""Runs the scene's screen-stage effects over everything drawn so far.

The frame drawn by the layers below is copied (a blit, flipped so its first row is the
window's top, like every texture effects read) into a scratch target, then drawn back
through the screen chain's passes.  Layers above (the HUD) are not affected.  With no
screen effects in the scene it does nothing.
"""

from __future__ import annotations

from pyglet import gl

from geometry_os import api
from geometry_os.render.runner import ChainRunner, Texture
from geometry_os.render.target import RenderTarget

#: Column-major mat4 taking the unit quad (v = 0 at the top) onto the whole window.
WINDOW = (2.0, 0.0, 0.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 1.0, 0.0, 1.0)


class ScreenPassLayer:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.runner = ChainRunner(shell.screen_chain)
        self.runner.begin(shell)  # builds the effects now: one that cannot be built is reported at start
        self.runner.end()
        self.scratch: RenderTarget | None = None

    def draw(self) -> None:
        runner = self.runner
        runner.begin(self.shell)  # the scene's effect list, a parameter or an effect's file may have changed
        if runner.chain.steps:
            target = self.shell.target
            if self.scratch is None:
                self.scratch = RenderTarget(target.width, target.height)
            self.scratch.resize(target.width, target.height)
            gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, target.fbo)
            gl.glBindFramebuffer(gl.GL_DRAW_FRAMEBUFFER, self.scratch.fbo)
            gl.glBlitFramebuffer(0, 0, target.width, target.height, 0, target.height, target.width, 0,
                                 gl.GL_COLOR_BUFFER_BIT, gl.GL_NEAREST)
            size = (float(target.width), float(target.height))
            uniforms = {"u_time": self.shell.time, "u_zoom": self.shell.camera.zoom, "u_resolution": size}
            runner.draw("screen", Texture(self.scratch.texture, target.width, target.height), WINDOW, size, target,
                        uniforms, self.shell.frame_dt)
        runner.end()

    def delete(self) -> None:
        if self.scratch is not None:
            self.scratch.delete()
        self.runner.delete()
