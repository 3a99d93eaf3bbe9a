"""Vertex buffers the renderer draws with: a batch of rectangles, and the unit quad passes draw.

Rectangles (tile quads, title bars, badges, borders) are written into one numpy
array and drawn with a single upload + draw call per program, not one per shape.
The array is uploaded only when something was written since the last upload, so a
batch that is kept across frames (the tile frames) costs one draw call a frame.
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
        self.changed = False  # written since the last upload
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
        self.changed = True

    def add(self, x0: float, y0: float, x1: float, y1: float, *attributes: float,
            uv: tuple[float, float, float, float] | None = None) -> None:
        """A quad from (x0, y0) to (x1, y1); ``attributes`` are the same for all corners.

        With ``uv`` (u0, v0, u1, v1) the two floats after the position are texture
        coordinates interpolated across the quad.
        """
        self._reserve(self.count + 6)
        corners = ((x0, y0, 0, 0), (x1, y0, 1, 0), (x1, y1, 1, 1), (x0, y0, 0, 0), (x1, y1, 1, 1), (x0, y1, 0, 1))
        rows = self._data[self.count:self.count + 6]
        for row, (x, y, cu, cv) in zip(rows, corners, strict=True):
            if uv is None:
                row[:] = (x, y, *attributes)
            else:
                row[:] = (x, y, uv[0] + (uv[2] - uv[0]) * cu, uv[1] + (uv[3] - uv[1]) * cv, *attributes)
        self.count += 6
        self.changed = True

    def put(self, first: int, quads: np.ndarray) -> None:
        """Write quads ``first``, ``first + 1`` ... from rows (x0, y0, x1, y1, attributes...), all
        at once; the batch then draws at least up to the last of them.  (No ``uv`` here.)"""
        end = (first + len(quads)) * 6
        self._reserve(end)
        corners = quads[:, [0, 1, 2, 1, 2, 3, 0, 1, 2, 3, 0, 3]].reshape(len(quads), 6, 2)
        rows = self._data[first * 6:end].reshape(len(quads), 6, self.stride)
        rows[:, :, :2] = corners
        rows[:, :, 2:] = quads[:, None, 4:]
        self.count = max(self.count, end)
        self.changed = True

    def truncate(self, quads: int) -> None:
        """Keep only the first ``quads`` quads."""
        if self.count > quads * 6:
            self.count = quads * 6
            self.changed = True

    def _reserve(self, vertices: int) -> None:
        while vertices > len(self._data):
            self._data = np.concatenate([self._data, np.zeros_like(self._data)])

    def upload(self) -> None:
        """Send the quads to the GPU if anything was written since the last upload."""
        if not self.count or not self.changed:
            return
        self.changed = False
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


def unit_quad() -> tuple[int, int]:
    """A vertex array (and its buffer) of the unit quad passes draw as a triangle strip:
    attribute 0 the position 0..1, attribute 1 the texture coordinate, v = 0 on the first row."""
    vao, vbo = gl.GLuint(), gl.GLuint()
    gl.glGenVertexArrays(1, ctypes.byref(vao))
    gl.glGenBuffers(1, ctypes.byref(vbo))
    quad = np.array([[0, 0, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 1, 1]], dtype=np.float32)  # x, y, u, v
    gl.glBindVertexArray(vao.value)
    gl.glBindBuffer(gl.GL_ARRAY_BUFFER, vbo.value)
    gl.glBufferData(gl.GL_ARRAY_BUFFER, quad.nbytes, quad.ctypes.data, gl.GL_STATIC_DRAW)
    for location, offset in ((0, 0), (1, 8)):  # Position (a vec4 reads z = 0, w = 1) and TexCoord
        gl.glEnableVertexAttribArray(location)
        gl.glVertexAttribPointer(location, 2, gl.GL_FLOAT, gl.GL_FALSE, 16, ctypes.c_void_p(offset))
    gl.glBindVertexArray(0)
    return vao.value, vbo.value
