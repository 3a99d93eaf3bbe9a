"""The background grid: one full-screen triangle, lines computed in the shader."""

from __future__ import annotations

import ctypes

from pyglet import gl

from geometry_os import api
from geometry_os.render.shaders import load_source

BACKGROUND = (0.08, 0.09, 0.11)
LINE = (0.30, 0.34, 0.40)


class GridLayer:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        folder = shell.shaders_dir
        self.program = shell.program("grid", lambda: (load_source(folder / "screen.vert"),
                                                      load_source(folder / "grid.frag")))
        vao = gl.GLuint()
        gl.glGenVertexArrays(1, ctypes.byref(vao))  # core profile: a VAO must be bound to draw
        self.vao = vao.value

    def draw(self) -> None:
        if self.shell.region_opaque:
            return  # this frame only redraws pixels under an opaque tile image (engine/streaming.py)
        camera = self.shell.camera
        program = self.program.program
        program.use()
        program["u_camera"] = (camera.x, camera.y, camera.zoom)
        program["u_viewport"] = (float(camera.width), float(camera.height))
        program["u_background"] = BACKGROUND
        program["u_line"] = LINE
        gl.glBindVertexArray(self.vao)
        gl.glDrawArrays(gl.GL_TRIANGLES, 0, 3)
        gl.glBindVertexArray(0)
        program.stop()

    def delete(self) -> None:
        gl.glDeleteVertexArrays(1, ctypes.byref(gl.GLuint(self.vao)))
