"""OpenGL building blocks: streamed textures, offscreen targets, shaders, geometry.

Everything here runs on the main thread, which owns the GL context.
"""
