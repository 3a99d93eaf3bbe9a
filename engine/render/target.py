"""Offscreen render targets (FBOs) that can be read back: the shell draws every frame
into one, then shows it (window) or reads it (headless screenshots, tests); effect
passes draw into others (:mod:`geometry_os.render.pool`)."""

from __future__ import annotations

import ctypes

import numpy as np
from pyglet import gl

#: Pass target formats (render/passes.py FORMATS): internal format, and an upload format/type for allocation.
GL_FORMATS: dict[str, tuple[int, int, int]] = {
    "rgba8": (gl.GL_RGBA8, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE),
    "srgb8": (gl.GL_SRGB8_ALPHA8, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE),
    "rgb10a2": (gl.GL_RGB10_A2, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE),
    "rgba16f": (gl.GL_RGBA16F, gl.GL_RGBA, gl.GL_FLOAT),
    "rgba32f": (gl.GL_RGBA32F, gl.GL_RGBA, gl.GL_FLOAT),
    "r8": (gl.GL_R8, gl.GL_RED, gl.GL_UNSIGNED_BYTE),
    "rg8": (gl.GL_RG8, gl.GL_RG, gl.GL_UNSIGNED_BYTE),
    "r16f": (gl.GL_R16F, gl.GL_RED, gl.GL_FLOAT),
    "rg16f": (gl.GL_RG16F, gl.GL_RG, gl.GL_FLOAT),
    "r32f": (gl.GL_R32F, gl.GL_RED, gl.GL_FLOAT),
    "rg32f": (gl.GL_RG32F, gl.GL_RG, gl.GL_FLOAT),
}


class RenderTarget:
    """A colour attachment (``rgba8`` unless ``format`` says otherwise) in a framebuffer object."""

    def __init__(self, width: int, height: int, format: str = "rgba8") -> None:
        fbo = gl.GLuint()
        gl.glGenFramebuffers(1, ctypes.byref(fbo))
        self.fbo = fbo.value
        tex = gl.GLuint()
        gl.glGenTextures(1, ctypes.byref(tex))
        self.texture = tex.value
        self.format = format
        self.width = self.height = 0
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        if (width, height) == (self.width, self.height):
            return
        self.width, self.height = width, height
        internal, upload, kind = GL_FORMATS[self.format]
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.texture)
        gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, internal, width, height, 0, upload, kind, None)
        for name in (gl.GL_TEXTURE_MIN_FILTER, gl.GL_TEXTURE_MAG_FILTER):
            gl.glTexParameteri(gl.GL_TEXTURE_2D, name, gl.GL_LINEAR)
        for name in (gl.GL_TEXTURE_WRAP_S, gl.GL_TEXTURE_WRAP_T):
            gl.glTexParameteri(gl.GL_TEXTURE_2D, name, gl.GL_CLAMP_TO_EDGE)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        gl.glFramebufferTexture2D(gl.GL_FRAMEBUFFER, gl.GL_COLOR_ATTACHMENT0, gl.GL_TEXTURE_2D, self.texture, 0)
        status = gl.glCheckFramebufferStatus(gl.GL_FRAMEBUFFER)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        if status != gl.GL_FRAMEBUFFER_COMPLETE:
            raise RuntimeError(f"offscreen framebuffer {width}x{height} {self.format} incomplete (status 0x{status:x})")

    def clear(self) -> None:
        """Transparent black (a new feedback or history target starts so, as in RetroArch)."""
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        gl.glClearColor(0.0, 0.0, 0.0, 0.0)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT)

    def bind(self) -> None:
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        gl.glViewport(0, 0, self.width, self.height)

    def read_rgba(self) -> np.ndarray:
        """The target's pixels as an (h, w, 4) RGBA array, top row first."""
        out = np.empty((self.height, self.width, 4), dtype=np.uint8)
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, self.fbo)
        gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 4)
        gl.glReadPixels(0, 0, self.width, self.height, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE,
                        out.ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte)))
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, 0)
        return np.ascontiguousarray(out[::-1])  # GL's rows start at the bottom

    def blit_to_default(self, width: int, height: int) -> None:
        """Copy to the window's back buffer (same size: a plain copy)."""
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, self.fbo)
        gl.glBindFramebuffer(gl.GL_DRAW_FRAMEBUFFER, 0)
        gl.glBlitFramebuffer(0, 0, self.width, self.height, 0, 0, width, height,
                             gl.GL_COLOR_BUFFER_BIT, gl.GL_NEAREST)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)

    def delete(self) -> None:
        gl.glDeleteFramebuffers(1, ctypes.byref(gl.GLuint(self.fbo)))
        gl.glDeleteTextures(1, ctypes.byref(gl.GLuint(self.texture)))
