"""Compiling presets: what every uniform and sampler means, errors mapped to file:line, the cache."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from geometry_os.plugins.effects.slang import (
    BlockKind,
    CompiledPass,
    Semantic,
    SlangError,
    TextureKind,
    TextureRef,
    load,
)
from tests.slang.shaders import everything, shader, write

S, T = Semantic, TextureKind


def meanings(compiled: CompiledPass) -> dict[str, object]:
    """name -> what it means, over both blocks and the samplers."""
    out: dict[str, object] = {}
    for block in compiled.blocks:
        for m in block.members:
            out[m.name] = (m.semantic, m.texture) if m.texture else m.semantic
    for s in compiled.samplers:
        out[s.name] = s.texture
    return out


def one_pass(tmp_path: Path, text: str, preset: str = "") -> Path:
    return write(tmp_path, {"p.slangp": f"shaders = 1\nshader0 = p.slang\n{preset}", "p.slang": text})


def test_every_semantic_alias_history_feedback_and_lut_is_named(tmp_path):
    compiled = load(everything(tmp_path))
    first, second, third = compiled.passes
    assert meanings(first) == {
        "MVP": S.MVP, "OriginalSize": (S.TEXTURE_SIZE, TextureRef(T.ORIGINAL)),
        "SourceSize": (S.TEXTURE_SIZE, TextureRef(T.SOURCE)), "OutputSize": S.OUTPUT_SIZE,
        "FinalViewportSize": S.FINAL_VIEWPORT_SIZE,
        "OriginalHistorySize2": (S.TEXTURE_SIZE, TextureRef(T.ORIGINAL_HISTORY, 2)),
        "PassFeedbackSize2": (S.TEXTURE_SIZE, TextureRef(T.PASS_FEEDBACK, 2)),
        "UserSize0": (S.TEXTURE_SIZE, TextureRef(T.USER, 0)), "LutSize": (S.TEXTURE_SIZE, TextureRef(T.USER, 0)),
        "FrameCount": S.FRAME_COUNT, "FrameDirection": S.FRAME_DIRECTION, "GAIN": S.PARAMETER,
        "Original": TextureRef(T.ORIGINAL), "Source": TextureRef(T.SOURCE),
        "OriginalHistory2": TextureRef(T.ORIGINAL_HISTORY, 2), "PassFeedback2": TextureRef(T.PASS_FEEDBACK, 2),
        "User0": TextureRef(T.USER, 0), "Lut": TextureRef(T.USER, 0),
    }  # NeverRead and NotReadEither mean nothing and are never read: left out, no error
    assert meanings(second) == {
        "MVP": S.MVP, "PassOutputSize0": (S.TEXTURE_SIZE, TextureRef(T.PASS_OUTPUT, 0)),
        "FirstSize": (S.TEXTURE_SIZE, TextureRef(T.PASS_OUTPUT, 0)),
        "FirstFeedbackSize": (S.TEXTURE_SIZE, TextureRef(T.PASS_FEEDBACK, 0)),
        "PassFeedbackSize1": (S.TEXTURE_SIZE, TextureRef(T.PASS_FEEDBACK, 1)),
        "FrameDirection": S.FRAME_DIRECTION, "GAIN": S.PARAMETER, "MIX": S.PARAMETER,
        "PassOutput0": TextureRef(T.PASS_OUTPUT, 0), "First": TextureRef(T.PASS_OUTPUT, 0),
        "FirstFeedback": TextureRef(T.PASS_FEEDBACK, 0), "PassFeedback1": TextureRef(T.PASS_FEEDBACK, 1),
        "SecondFeedback": TextureRef(T.PASS_FEEDBACK, 1),
    }
    assert meanings(third) == {
        "MVP": S.MVP, "SecondSize": (S.TEXTURE_SIZE, TextureRef(T.PASS_OUTPUT, 1)),
        "PassOutputSize1": (S.TEXTURE_SIZE, TextureRef(T.PASS_OUTPUT, 1)),
        "OriginalAspect": S.ORIGINAL_ASPECT, "OriginalAspectRotated": S.ORIGINAL_ASPECT_ROTATED,
        "OriginalFPS": S.ORIGINAL_FPS, "FrameTimeDelta": S.FRAME_TIME_DELTA, "Rotation": S.ROTATION,
        "CurrentSubFrame": S.CURRENT_SUBFRAME, "TotalSubFrames": S.TOTAL_SUBFRAMES,
        "Second": TextureRef(T.PASS_OUTPUT, 1), "PassOutput1": TextureRef(T.PASS_OUTPUT, 1),
    }
    assert (first.alias, second.alias, third.alias) == ("First", "Second", None)
    assert compiled.history == 2 and compiled.feedback == {0, 1, 2}
    assert [p.id for p in compiled.parameters] == ["GAIN", "MIX"]
    assert compiled.values == {"GAIN": 1.0, "MIX": 0.25}  # MIX overridden by the preset
    assert [p.format for p in compiled.passes] == ["R8G8B8A8_UNORM", "R16G16B16A16_SFLOAT", "R8G8B8A8_SRGB"]


def test_members_carry_std140_offsets_sizes_and_declared_types(tmp_path):
    first, second, _ = load(everything(tmp_path)).passes
    ubo, push = first.blocks
    assert (ubo.kind, ubo.gl_binding, ubo.gl_names) == (BlockKind.UBO, 0, ("UBO_vertex", "UBO_fragment"))
    assert (push.kind, push.gl_binding, push.gl_names) == (BlockKind.PUSH, 1, ("Push_vertex", "Push_fragment"))
    assert [(m.name, m.offset, m.type, m.size) for m in ubo.members[:3]] == [
        ("MVP", 0, "mat4", 64), ("OriginalSize", 64, "vec4", 16), ("SourceSize", 80, "vec4", 16)]
    assert ubo.size == 64 + 9 * 16  # NeverRead still takes its place in the buffer
    assert [(m.name, m.offset, m.type) for m in push.members] == [
        ("FrameCount", 0, "uint"), ("FrameDirection", 4, "int"), ("GAIN", 8, "float")]
    assert push.members[2].parameter == "GAIN" and push.size == 16
    assert [m.type for m in second.blocks[1].members if m.name == "FrameDirection"] == ["uint"]
    for block, stage_text in ((ubo, first.vertex), (ubo, first.fragment), (push, first.fragment)):
        assert any(f"uniform {name}\n" in stage_text for name in block.gl_names)
    assert "uniform UBO\n" not in first.fragment and "uniform Push\n" not in first.fragment


def test_samplers_keep_their_vulkan_bindings_and_stages_link_by_name(tmp_path):
    first = load(everything(tmp_path)).passes[0]
    assert [(s.name, s.binding) for s in first.samplers] == [
        ("Original", 1), ("Source", 2), ("OriginalHistory2", 3), ("PassFeedback2", 4), ("User0", 5), ("Lut", 6)]
    assert "out vec2 slang_varying_0;" in first.vertex and "in vec2 slang_varying_0;" in first.fragment
    assert first.vertex.startswith("#version 330\n") and "GL_GOOGLE" not in first.vertex


def test_glsl_450_is_generated_when_asked(tmp_path):
    compiled = load(everything(tmp_path), glsl_version=450)
    assert compiled.glsl_version == 450
    assert all(p.fragment.startswith("#version 450\n") for p in compiled.passes)
    with pytest.raises(SlangError, match=r"GLSL 400 is not a target"):
        load(everything(tmp_path), glsl_version=400)


@pytest.mark.parametrize(("decl", "body", "message"), [
    ("   vec4 Mystery;\n", "FragColor = global.Mystery;", r"p\.slang: uniform 'Mystery' has no known meaning"),
    ("   vec4 PassOutputSize0;\n", "FragColor = global.PassOutputSize0;",
     r"p\.slang: PassOutputSize0: pass 0's output is not ready before pass 0"),
    ("   vec4 FrameCount;\n", "FragColor = global.FrameCount;", r"uniform FrameCount is vec4, it must be uint or int"),
    ("   float MaxNits;\n", "FragColor = vec4(global.MaxNits);", r"MaxNits is not supported \(HDR output\)"),
    ("   vec4 UserSize3;\n", "FragColor = global.UserSize3;", r"there is no texture 3 \(the preset has 0\)"),
])
def test_a_read_member_without_a_usable_meaning_is_an_error(tmp_path, decl, body, message):
    path = one_pass(tmp_path, shader(ubo=decl, samplers=(), body=body))
    with pytest.raises(SlangError, match=message):
        load(path)


def test_the_same_members_unread_are_ignored(tmp_path):
    decls = "   vec4 Mystery;\n   vec4 PassOutputSize0;\n   vec4 FrameCount;\n   float MaxNits;\n"
    compiled = load(one_pass(tmp_path, shader(ubo=decls, samplers=("Source", "Nobody", "PassOutput3"))))
    assert meanings(compiled.passes[0]) == {"MVP": S.MVP, "Source": TextureRef(T.SOURCE)}


@pytest.mark.parametrize(("sampler", "message"), [
    ("Nobody", r"sampler 'Nobody' has no known meaning"),
    ("PassOutput0", r"sampler PassOutput0: pass 0's output is not ready before pass 0"),
    ("PassFeedback4", r"sampler PassFeedback4: there is no pass 4 \(the preset has 1\)"),
])
def test_a_read_sampler_without_a_usable_meaning_is_an_error(tmp_path, sampler, message):
    path = one_pass(tmp_path, shader(samplers=(sampler,), body=f"FragColor = texture({sampler}, vTexCoord);"))
    with pytest.raises(SlangError, match=message):
        load(path)


def test_pragma_format_applies_unless_the_preset_asks_for_srgb_or_float(tmp_path):
    text = shader(head="#pragma format R32_UINT\n")
    assert load(one_pass(tmp_path, text)).passes[0].format == "R32_UINT"
    assert load(one_pass(tmp_path, text, "srgb_framebuffer0 = true\n")).passes[0].format == "R8G8B8A8_SRGB"


def test_an_override_of_no_declared_parameter_is_ignored_with_a_warning(tmp_path, caplog):
    path = one_pass(tmp_path, shader(head='#pragma parameter K "K" 1.0 0.0 2.0\n'), "K = 1.5\nTYPO = 3\n")
    with caplog.at_level(logging.WARNING):
        assert load(path).values == {"K": 1.5}
    assert "p.slangp: TYPO = 3 sets no parameter of any pass" in caplog.text


def test_parameters_declared_differently_in_two_passes_are_an_error(tmp_path):
    path = write(tmp_path, {
        "p.slangp": "shaders = 2\nshader0 = a.slang\nshader1 = b.slang\n",
        "a.slang": shader(head='#pragma parameter K "K" 1.0 0.0 2.0\n'),
        "b.slang": shader(head='#pragma parameter K "K" 0.5 0.0 2.0\n'),
    })
    with pytest.raises(SlangError, match=r"b\.slang: parameter 'K' is declared differently in .*a\.slang"):
        load(path)


def test_a_pragma_name_clashing_with_an_alias_is_an_error(tmp_path):
    path = write(tmp_path, {
        "p.slangp": "shaders = 2\nshader0 = a.slang\nalias0 = Same\nshader1 = b.slang\n",
        "a.slang": shader(), "b.slang": shader(head="#pragma name Same\n"),
    })
    with pytest.raises(SlangError, match=r"b\.slang: alias 'Same' is already pass 0's"):
        load(path)


def test_glslang_errors_name_the_shader_file_and_line(tmp_path):
    text = shader(body="FragColor = texture(Source, vTexCoord);\n   oops;")
    line = text.splitlines().index("   oops;") + 1
    with pytest.raises(SlangError, match=rf"^{tmp_path}/p\.slang:{line}: 'oops' : undeclared identifier$"):
        load(one_pass(tmp_path, text))


def test_glslang_errors_inside_an_include_name_the_included_file(tmp_path):
    text = shader(head='#include "lib/colour.inc"\n', body="FragColor = tint(texture(Source, vTexCoord));")
    write(tmp_path, {"lib/colour.inc": "// helpers\nvec4 tint(vec4 c)\n{\n   return c * undefined_thing;\n}\n"})
    with pytest.raises(SlangError, match=r"lib/colour\.inc:4: 'undefined_thing' : undeclared identifier"):
        load(one_pass(tmp_path, text))


def test_what_spirv_cross_cannot_write_for_glsl_330_names_the_file_and_compiles_at_450(tmp_path):
    path = one_pass(tmp_path, shader(body="FragColor = textureGather(Source, vTexCoord, 1);"))
    with pytest.raises(SlangError, match=r"p\.slang: fragment stage for GLSL 330: .*textureGather"):
        load(path)
    assert "textureGather" in load(path, glsl_version=450).passes[0].fragment


def test_a_second_load_runs_no_subprocess(tmp_path, monkeypatch, slang_cache):
    path = everything(tmp_path)
    cold = load(path)
    assert len(list(slang_cache.glob("*.json"))) == 6

    def no_process(*args, **kwargs):
        raise AssertionError(f"a cached load started {args[0]}")

    monkeypatch.setattr(subprocess, "run", no_process)
    monkeypatch.setattr(subprocess, "Popen", no_process)
    assert load(path) == cold


def test_an_edited_shader_or_another_glsl_version_misses_the_cache(tmp_path, slang_cache):
    path = one_pass(tmp_path, shader())
    load(path)
    load(path, glsl_version=450)
    assert len(list(slang_cache.glob("*.json"))) == 4
    (tmp_path / "p.slang").write_text(shader(body="FragColor = texture(Source, vTexCoord) * 0.5;"))
    assert "0.5" in load(path).passes[0].fragment
    assert len(list(slang_cache.glob("*.json"))) == 5  # the vertex stage did not change


def test_a_damaged_cache_entry_is_compiled_again(tmp_path, slang_cache):
    path = one_pass(tmp_path, shader())
    good = load(path)
    for entry in slang_cache.glob("*.json"):
        entry.write_text("{not json")
    assert load(path) == good
