"""Vertex buffers the renderer draws with: a batch of rectangles rebuilt per frame.

Rectangles (tile quads, title bars, badges, borders) are written into one numpy
array and drawn with a single upload + draw call per program, not one per shape.
"""

from __future__ import annotations

import ctypes

import numpy as np
from pyglet import gl

FLOAT = ctypes.sizeof(ctypes.c_float)


class QuadBatch:
    """Axis-aligned quads with per-vertex attributes, drawn as triangles.

    Each vertex is ``floats_per_vertex`` floats; the layout is given as a list of
    ``(attribute location, component count)``.  ``add`` appends one quad (4 corners
    expanded to 6 vertices); ``draw`` uploads what was added and draws it.
    """

    def __init__(self, layout: list[tuple[int, int]], capacity: int = 256) -> None:
        self.layout = layout
        self.stride = sum(count for _, count in layout)
        self._data = np.zeros((capacity * 6, self.stride), dtype=np.float32)
        self.count = 0
        vao, vbo = gl.GLuint(), gl.GLuint()
        gl.glGenVertexArrays(1, ctypes.byref(vao))
        gl.glGenBuffers(1, ctypes.byref(vbo))
        self.vao, self.vbo = vao.value, vbo.value
        gl.glBindVertexArray(self.vao)
        gl.glBindBuffer(gl.GL_ARRAY_BUFFER, self.vbo)
        offset = 0
        for location, components in layout:
            gl.glEnableVertexAttribArray(location)
            gl.glVertexAttribPointer(location, components, gl.GL_FLOAT, gl.GL_FALSE, self.stride * FLOAT,
                                     ctypes.c_void_p(offset * FLOAT))
            offset += components
        gl.glBindVertexArray(0)

    def clear(self) -> None:
        self.count = 0

    def add(self, x0: float, y0: float, x1: float, y1: float, *attributes: float,
            uv: tuple[float, float, float, float] | None = None) -> None:
        """A quad from (x0, y0) to (x1, y1); ``attributes`` are the same for all corners.

        With ``uv`` (u0, v0, u1, v1) the two floats after the position are texture
        coordinates interpolated across the quad.
        """
        if self.count + 6 > len(self._data):
            self._data = np.concatenate([self._data, np.zeros_like(self._data)])
        corners = ((x0, y0, 0, 0), (x1, y0, 1, 0), (x1, y1, 1, 1), (x0, y0, 0, 0), (x1, y1, 1, 1), (x0, y1, 0, 1))
        rows = self._data[self.count:self.count + 6]
        for row, (x, y, cu, cv) in zip(rows, corners, strict=True):
            if uv is None:
                row[:] = (x, y, *attributes)
            else:
                row[:] = (x, y, uv[0] + (uv[2] - uv[0]) * cu, uv[1] + (uv[3] - uv[1]) * cv, *attributes)
        self.count += 6

    def upload(self) -> None:
        """Send everything added since :meth:`clear` to the GPU (once per frame)."""
        if not self.count:
            return
        gl.glBindBuffer(gl.GL_ARRAY_BUFFER, self.vbo)
        data = self._data[:self.count]
        gl.glBufferData(gl.GL_ARRAY_BUFFER, data.nbytes, data.ctypes.data, gl.GL_STREAM_DRAW)

    def draw(self, first: int = 0, count: int | None = None) -> None:
        """Draw uploaded vertices ``[first, first + count)`` (default: all)."""
        count = self.count - first if count is None else count
        if count <= 0:
            return
        gl.glBindVertexArray(self.vao)
        gl.glDrawArrays(gl.GL_TRIANGLES, first, count)
        gl.glBindVertexArray(0)

    def delete(self) -> None:
        gl.glDeleteBuffers(1, ctypes.byref(gl.GLuint(self.vbo)))
        gl.glDeleteVertexArrays(1, ctypes.byref(gl.GLuint(self.vao)))
