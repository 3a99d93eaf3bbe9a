"""Generated GLSL on this machine's GL (Mesa): every program compiles and links, blocks sit where
reflection says, one pass renders through the data model alone, and driver errors map to file:line."""

from __future__ import annotations

import ctypes
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geometry_os.plugins.effects.slang import CompiledPass, CompiledPreset, Semantic, TextureKind, load
from tests.slang.shaders import everything, shader, write

pytestmark = pytest.mark.gl

INVALID_INDEX = 0xFFFFFFFF
# Position is 0..1 and the pass maps it to clip space with MVP, as RetroArch's passes do.
MVP = (2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, -1, -1, 0, 1)  # column-major


@pytest.fixture(scope="module")
def gl_context() -> Iterator[Any]:
    import pyglet
    from pyglet import gl

    config = gl.Config(major_version=3, minor_version=3, forward_compatible=True, double_buffer=False,
                       red_size=8, green_size=8, blue_size=8, alpha_size=8)
    window = pyglet.window.Window(width=8, height=8, visible=False, config=config)
    yield window
    window.close()


def glsl_versions() -> list[int]:
    from pyglet import gl

    raw = ctypes.cast(gl.glGetString(gl.GL_SHADING_LANGUAGE_VERSION), ctypes.c_char_p).value or b"0"
    major, minor = re.match(rb"(\d+)\.(\d+)", raw).groups()  # type: ignore[union-attr]
    return [330] + ([450] if (int(major), int(minor)) >= (4, 50) else [])


def link(compiled: CompiledPass) -> Any:
    from pyglet.graphics.shader import Shader, ShaderException, ShaderProgram

    try:
        return ShaderProgram(Shader(compiled.vertex, "vertex"), Shader(compiled.fragment, "fragment"))
    except ShaderException as exc:  # a BaseException in pyglet
        raise AssertionError(f"{compiled.spec.shader}: {compiled.map_gl_log(str(exc)) or exc}") from None


def presets(folder: Path) -> list[Path]:
    return [
        everything(folder / "everything"),
        write(folder / "one", {"p.slangp": "shaders = 1\nshader0 = p.slang\n", "p.slang": shader(
            ubo="   vec4 OutputSize;\n", push="   float GAIN;\n   uint FrameCount;\n",
            body="FragColor = texture(Source, vTexCoord) * params.GAIN + vec4(0.0, 0.0, "
                 "global.OutputSize.x / 255.0, float(params.FrameCount) / 255.0);",
            head='#pragma parameter GAIN "Gain" 0.5 0.0 1.0\n')}),
    ]


def test_every_generated_program_compiles_links_and_matches_reflection(gl_context, tmp_path):
    from pyglet import gl

    checked_offsets = 0
    for path in presets(tmp_path):
        for version in glsl_versions():
            compiled = load(path, glsl_version=version)
            for compiled_pass in compiled.passes:
                program = link(compiled_pass)
                checked_offsets += check_blocks(program.id, compiled_pass)
                for sampler in compiled_pass.samplers:
                    assert gl.glGetUniformLocation(program.id, sampler.name.encode()) != -1, sampler.name
                program.delete()
    assert checked_offsets > 40


def check_blocks(program: int, compiled: CompiledPass) -> int:
    """Each active block binds, holds our bytes, and its active members sit at our offsets."""
    from pyglet import gl

    checked = 0
    for block in compiled.blocks:
        active = [name for name in block.gl_names if gl.glGetUniformBlockIndex(program, name.encode()) != INVALID_INDEX]
        assert active, f"{compiled.spec.shader}: no stage uses {block.gl_names}"
        for name in active:
            index = gl.glGetUniformBlockIndex(program, name.encode())
            gl.glUniformBlockBinding(program, index, block.gl_binding)
            size = gl.GLint()
            gl.glGetActiveUniformBlockiv(program, index, gl.GL_UNIFORM_BLOCK_DATA_SIZE, ctypes.byref(size))
            assert size.value <= block.size, (name, size.value, block.size)
            for member in block.members:
                full = f"{name}.{member.name}".encode()
                names = (ctypes.c_char_p * 1)(full)
                member_index = gl.GLuint()
                gl.glGetUniformIndices(program, 1, ctypes.cast(names, ctypes.POINTER(ctypes.POINTER(gl.GLchar))),
                                       ctypes.byref(member_index))
                if member_index.value == INVALID_INDEX:
                    continue  # the driver dropped a member this stage never reads
                offset = gl.GLint()
                gl.glGetActiveUniformsiv(program, 1, ctypes.byref(member_index), gl.GL_UNIFORM_OFFSET,
                                         ctypes.byref(offset))
                assert offset.value == member.offset, (full, offset.value, member.offset)
                checked += 1
    return checked


def block_bytes(compiled: CompiledPreset, compiled_pass: CompiledPass, size: tuple[int, int],
                frame: int) -> list[bytes]:
    """Fill each block from the data model alone, as a renderer would."""
    out = []
    for block in compiled_pass.blocks:
        data = bytearray(block.size)
        for m in block.members:
            if m.semantic is Semantic.MVP:
                value = struct.pack("16f", *MVP)
            elif m.semantic in (Semantic.OUTPUT_SIZE, Semantic.TEXTURE_SIZE):
                value = struct.pack("4f", size[0], size[1], 1 / size[0], 1 / size[1])
            elif m.semantic is Semantic.PARAMETER:
                value = struct.pack("f", compiled.values[m.parameter or ""])
            elif m.semantic is Semantic.FRAME_COUNT:
                value = struct.pack("I" if m.type == "uint" else "i", frame)
            else:
                raise AssertionError(f"this test renders no {m.semantic}")
            data[m.offset:m.offset + len(value)] = value
        out.append(bytes(data))
    return out


def test_one_pass_renders_from_the_data_model_alone(gl_context, tmp_path):
    from pyglet import gl

    compiled = load(presets(tmp_path)[1])
    compiled_pass = compiled.passes[0]
    program = link(compiled_pass)
    w, h = 4, 4

    def texture(pixels: bytes | None) -> int:
        name = gl.GLuint()
        gl.glGenTextures(1, ctypes.byref(name))
        gl.glBindTexture(gl.GL_TEXTURE_2D, name.value)
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MIN_FILTER, gl.GL_NEAREST)
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MAG_FILTER, gl.GL_NEAREST)
        gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, gl.GL_RGBA8, w, h, 0, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE, pixels)
        return name.value

    source = texture(bytes([200, 100, 0, 0]) * (w * h))
    target = texture(None)
    fbo = gl.GLuint()
    gl.glGenFramebuffers(1, ctypes.byref(fbo))
    gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, fbo.value)
    gl.glFramebufferTexture2D(gl.GL_FRAMEBUFFER, gl.GL_COLOR_ATTACHMENT0, gl.GL_TEXTURE_2D, target, 0)
    vao, vbo = gl.GLuint(), gl.GLuint()
    gl.glGenVertexArrays(1, ctypes.byref(vao))
    gl.glBindVertexArray(vao.value)
    gl.glGenBuffers(1, ctypes.byref(vbo))
    gl.glBindBuffer(gl.GL_ARRAY_BUFFER, vbo.value)
    quad = np.array([[0, 0, 0, 1, 0, 0], [1, 0, 0, 1, 1, 0], [0, 1, 0, 1, 0, 1], [1, 1, 0, 1, 1, 1]], np.float32)
    gl.glBufferData(gl.GL_ARRAY_BUFFER, quad.nbytes, quad.ctypes.data, gl.GL_STATIC_DRAW)
    gl.glVertexAttribPointer(0, 4, gl.GL_FLOAT, gl.GL_FALSE, 24, 0)  # Position: location 0
    gl.glVertexAttribPointer(1, 2, gl.GL_FLOAT, gl.GL_FALSE, 24, 16)  # TexCoord: location 1
    gl.glEnableVertexAttribArray(0)
    gl.glEnableVertexAttribArray(1)
    gl.glUseProgram(program.id)
    buffers = (gl.GLuint * len(compiled_pass.blocks))()
    gl.glGenBuffers(len(buffers), buffers)
    for block, data, buffer in zip(compiled_pass.blocks, block_bytes(compiled, compiled_pass, (w, h), 7), buffers,
                                   strict=True):
        gl.glBindBuffer(gl.GL_UNIFORM_BUFFER, buffer)
        gl.glBufferData(gl.GL_UNIFORM_BUFFER, len(data), data, gl.GL_STATIC_DRAW)
        gl.glBindBufferBase(gl.GL_UNIFORM_BUFFER, block.gl_binding, buffer)
        for name in block.gl_names:
            index = gl.glGetUniformBlockIndex(program.id, name.encode())
            if index != INVALID_INDEX:
                gl.glUniformBlockBinding(program.id, index, block.gl_binding)
    (sampler,) = compiled_pass.samplers
    assert sampler.texture.kind is TextureKind.SOURCE
    gl.glActiveTexture(gl.GL_TEXTURE0 + sampler.binding)
    gl.glBindTexture(gl.GL_TEXTURE_2D, source)
    gl.glUniform1i(gl.glGetUniformLocation(program.id, sampler.name.encode()), sampler.binding)
    gl.glViewport(0, 0, w, h)
    gl.glDrawArrays(gl.GL_TRIANGLE_STRIP, 0, 4)
    pixels = (gl.GLubyte * (w * h * 4))()
    gl.glReadPixels(0, 0, w, h, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE, pixels)
    image = np.frombuffer(bytes(pixels), np.uint8).reshape(h, w, 4).astype(int)
    gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
    gl.glActiveTexture(gl.GL_TEXTURE0)
    gl.glDeleteFramebuffers(1, ctypes.byref(fbo))
    gl.glDeleteBuffers(len(buffers), buffers)
    gl.glDeleteBuffers(1, ctypes.byref(vbo))
    gl.glDeleteVertexArrays(1, ctypes.byref(vao))
    program.delete()
    # Source * GAIN (0.5), OutputSize.x (4) / 255 in blue, FrameCount (7) / 255 in alpha
    assert np.abs(image - np.array([100, 50, 4, 7])).max() <= 1, image[0, 0]


def test_driver_errors_map_to_the_slang_file_and_line(gl_context, tmp_path):
    from pyglet.graphics.shader import Shader, ShaderException

    compiled = load(presets(tmp_path)[0]).passes[0]
    lines = compiled.fragment.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("#line ") and "main" not in lines[i + 1])
    number, index = (int(part) for part in lines[at].split()[1:3])
    broken = "\n".join([*lines[:at + 1], "    no_such_function();", *lines[at + 1:]])
    with pytest.raises(ShaderException) as caught:
        Shader(broken, "fragment")
    mapped = compiled.map_gl_log(str(caught.value))
    assert mapped and mapped[0].startswith(f"{compiled.files[index]}:{number}: error:"), mapped
    assert compiled.files[index].name == "first.slang"
