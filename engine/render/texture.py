"""A texture that a frame source's pixels stream into, uploading only dirty rectangles.

Why this storage: pyglet's default (sized GL_RGBA8) turns every GL_BGRA upload into
a swizzling copy on Mesa (~3 GB/s).  An *unsized* GL_RGBA texture allocated with a
GL_BGRA/GL_UNSIGNED_BYTE hint stores BGRA natively, so an upload is a plain copy
(~34 GB/s measured).  QEMU's X byte is 0, so alpha is forced to 1 by a swizzle.
Dirty rectangles are uploaded straight from the full frame (a pointer to the
rectangle's first pixel and GL_UNPACK_ROW_LENGTH): no copy in Python.
"""

from __future__ import annotations

import ctypes

import numpy as np
from pyglet import gl

from geometry_os.frames import Frame, Rect


class StreamTexture:
    """A GL texture fed by :class:`~geometry_os.frames.Frame` objects."""

    def __init__(self) -> None:
        tex = gl.GLuint()
        gl.glGenTextures(1, ctypes.byref(tex))
        self.id = tex.value
        self.width = 0
        self.height = 0
        self.uploads = 0  # dirty-rect uploads done (stats, tests)
        self.bytes_uploaded = 0  # pixel bytes those uploads moved (stats, benchmarks)
        self.reallocations = 0  # storage (re)allocations: only on size changes
        self.max_size = _max_texture_size()
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.id)
        for name, value in ((gl.GL_TEXTURE_MIN_FILTER, gl.GL_LINEAR), (gl.GL_TEXTURE_MAG_FILTER, gl.GL_LINEAR),
                            (gl.GL_TEXTURE_WRAP_S, gl.GL_CLAMP_TO_EDGE), (gl.GL_TEXTURE_WRAP_T, gl.GL_CLAMP_TO_EDGE),
                            (gl.GL_TEXTURE_SWIZZLE_A, gl.GL_ONE)):
            gl.glTexParameteri(gl.GL_TEXTURE_2D, name, value)

    def upload(self, frame: Frame) -> Rect | None:
        """Apply ``frame``: reallocate on a size change, then upload its dirty union.

        Returns the rectangle uploaded, or None if the frame was too large for this GPU
        (the caller shows that on the tile; the texture keeps its last content).
        """
        pixels = frame.pixels
        height, width = pixels.shape[:2]
        if width > self.max_size or height > self.max_size:
            return None
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.id)
        dirty = frame.dirty
        if (width, height) != (self.width, self.height):
            gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, gl.GL_RGBA, width, height, 0, gl.GL_BGRA,
                            gl.GL_UNSIGNED_BYTE, None)
            self.width, self.height = width, height
            self.reallocations += 1
            dirty = Rect(0, 0, width, height)
        row_pixels = pixels.strides[0] // 4
        if pixels.strides[1] != 4 or pixels.strides[0] % 4:
            pixels = np.ascontiguousarray(pixels)  # never happens for sources that follow the contract
            row_pixels = width
        # The rectangle's first pixel by pointer, not GL_UNPACK_SKIP_*; the row length only
        # when rows are longer than the rectangle: each GL call is ~1-2 us of Python, a
        # sizeable part of a small upload.  The alignment is reset because pyglet's own
        # image uploads leave theirs (up to 8, which odd widths would break).
        start = pixels.ctypes.data + (dirty.y * row_pixels + dirty.x) * 4
        strided = row_pixels != dirty.w
        gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 4)
        if strided:
            gl.glPixelStorei(gl.GL_UNPACK_ROW_LENGTH, row_pixels)
        gl.glTexSubImage2D(gl.GL_TEXTURE_2D, 0, dirty.x, dirty.y, dirty.w, dirty.h, gl.GL_BGRA,
                           gl.GL_UNSIGNED_BYTE, ctypes.c_void_p(start))
        if strided:
            gl.glPixelStorei(gl.GL_UNPACK_ROW_LENGTH, 0)
        self.bytes_uploaded += dirty.w * dirty.h * 4
        self.uploads += 1
        return dirty

    def delete(self) -> None:
        if self.id:
            gl.glDeleteTextures(1, ctypes.byref(gl.GLuint(self.id)))
            self.id = 0


def _max_texture_size() -> int:
    value = gl.GLint()
    gl.glGetIntegerv(gl.GL_MAX_TEXTURE_SIZE, ctypes.byref(value))
    return value.value
