"""GL sampler objects (filter, wrap, mipmaps) and look-up textures.

Passes sample through sampler objects, so a texture's own parameters never matter and
two passes may read one texture differently (RetroArch: each pass says how it reads
its input).  A sampler object bound to a unit overrides that texture unit for every
draw, so the runner unbinds them after its passes (pyglet's text uses unit 0).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from pyglet import gl

from geometry_os.render.images import read_image
from geometry_os.render.passes import Lut, Sampling

_WRAP = {"clamp_to_edge": gl.GL_CLAMP_TO_EDGE, "clamp_to_border": gl.GL_CLAMP_TO_BORDER,
         "repeat": gl.GL_REPEAT, "mirrored_repeat": gl.GL_MIRRORED_REPEAT}


class Samplers:
    """One sampler object per distinct :class:`Sampling`."""

    def __init__(self) -> None:
        self._objects: dict[Sampling, int] = {}

    def get(self, sampling: Sampling) -> int:
        name = self._objects.get(sampling)
        if name is None:
            handle = gl.GLuint()
            gl.glGenSamplers(1, ctypes.byref(handle))
            name = self._objects[sampling] = handle.value
            linear = sampling.filter == "linear"
            if sampling.mipmap:
                minify = gl.GL_LINEAR_MIPMAP_LINEAR if linear else gl.GL_NEAREST_MIPMAP_NEAREST
            else:
                minify = gl.GL_LINEAR if linear else gl.GL_NEAREST
            gl.glSamplerParameteri(name, gl.GL_TEXTURE_MIN_FILTER, minify)
            gl.glSamplerParameteri(name, gl.GL_TEXTURE_MAG_FILTER, gl.GL_LINEAR if linear else gl.GL_NEAREST)
            for axis in (gl.GL_TEXTURE_WRAP_S, gl.GL_TEXTURE_WRAP_T):
                gl.glSamplerParameteri(name, axis, _WRAP[sampling.wrap])
        return name

    def delete(self) -> None:
        for name in self._objects.values():
            gl.glDeleteSamplers(1, ctypes.byref(gl.GLuint(name)))
        self._objects.clear()


class LutTexture:
    """A look-up texture uploaded once (RGBA8, top row first, mipmaps if it asks)."""

    def __init__(self, lut: Lut) -> None:
        pixels = read_image(lut.path)  # ValueError: the effect is left out, naming the file
        self.lut = lut
        self.height, self.width = pixels.shape[:2]
        handle = gl.GLuint()
        gl.glGenTextures(1, ctypes.byref(handle))
        self.id = handle.value
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.id)
        gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 4)
        gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, gl.GL_RGBA8, self.width, self.height, 0, gl.GL_RGBA,
                        gl.GL_UNSIGNED_BYTE, pixels.ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte)))
        if lut.mipmap:
            gl.glGenerateMipmap(gl.GL_TEXTURE_2D)

    @property
    def path(self) -> Path:
        return self.lut.path

    def delete(self) -> None:
        gl.glDeleteTextures(1, ctypes.byref(gl.GLuint(self.id)))
