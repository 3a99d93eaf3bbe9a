"""Reading .slangp presets: every key, RetroArch's defaults, #reference, and one-line errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from geometry_os.plugins.effects.slang import LutSpec, Scale, ScaleType, SlangError, WrapMode, load_preset
from geometry_os.plugins.effects.slang.preset import MAX_SIZE
from tests.slang.shaders import write

V, SRC, ABS = ScaleType.VIEWPORT, ScaleType.SOURCE, ScaleType.ABSOLUTE


def preset(tmp_path: Path, text: str, shaders: tuple[str, ...] = ("a.slang", "b.slang", "c.slang")) -> Path:
    for name in shaders:
        write(tmp_path, {name: "#version 450\n"})
    return write(tmp_path, {"p.slangp": text})


def test_every_pass_key_is_read(tmp_path):
    spec = load_preset(preset(tmp_path, """
shaders = 2
shader0 = "a.slang"
filter_linear0 = true
wrap_mode0 = mirrored_repeat
mipmap_input0 = true
float_framebuffer0 = true
srgb_framebuffer0 = false
frame_count_mod0 = 8
alias0 = Blur
scale_type0 = viewport
scale0 = 0.5
shader1 = b.slang
scale_type_x1 = absolute
scale_x1 = 320
scale_type_y1 = source
scale_y1 = 2.0
""")).passes
    assert spec[0].shader == tmp_path / "a.slang"
    assert (spec[0].filter_linear, spec[0].wrap_mode, spec[0].mipmap_input) == (True, WrapMode.MIRRORED_REPEAT, True)
    assert (spec[0].float_framebuffer, spec[0].srgb_framebuffer, spec[0].frame_count_mod) == (True, False, 8)
    assert (spec[0].alias, spec[0].scale_x, spec[0].scale_y) == ("Blur", Scale(V, 0.5), Scale(V, 0.5))
    assert (spec[1].scale_x, spec[1].scale_y, spec[1].explicit_scale) == (Scale(ABS, 320), Scale(SRC, 2.0), True)


def test_defaults_are_retroarchs_and_the_last_pass_fills_the_viewport(tmp_path):
    first, middle, last = load_preset(preset(tmp_path, "shaders = 3\nshader0 = a.slang\nshader1 = b.slang\n"
                                                       "shader2 = c.slang\n")).passes
    for spec in (first, middle, last):
        assert (spec.filter_linear, spec.wrap_mode, spec.mipmap_input) == (False, WrapMode.CLAMP_TO_BORDER, False)
        assert (spec.float_framebuffer, spec.srgb_framebuffer, spec.frame_count_mod, spec.alias) == (
            False, False, 0, None)
        assert spec.explicit_scale is False
    assert first.scale_x == middle.scale_y == Scale(SRC, 1.0)
    assert last.scale_x == last.scale_y == Scale(V, 1.0)


def test_one_scale_type_axis_leaves_the_other_source_sized_and_axis_keys_beat_scale(tmp_path):
    spec = load_preset(preset(tmp_path, "shaders = 1\nshader0 = a.slang\nscale_type_y0 = viewport\nscale0 = 3\n"
                                        "scale_y0 = 0.25\n")).passes[0]
    assert (spec.scale_x, spec.scale_y) == (Scale(SRC, 3.0), Scale(V, 0.25))


def test_scale_without_a_scale_type_is_ignored_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        spec = load_preset(preset(tmp_path, "shaders = 1\nshader0 = a.slang\nscale0 = 2\n")).passes[0]
    assert spec.scale_x == Scale(V, 1.0)
    assert "p.slangp:3: scale0 has no effect without scale_type0" in caplog.text


def test_scale_sizes_round_and_clamp(tmp_path):
    assert Scale(SRC, 1.5).size(source=101, viewport=9) == 152
    assert Scale(V, 0.5).size(source=1, viewport=801) == 400
    assert Scale(ABS, 64).size(source=1, viewport=1) == 64
    assert Scale(SRC, 0.001).size(source=10, viewport=1) == 1
    assert Scale(V, 100).size(source=1, viewport=1000) == MAX_SIZE


def test_textures_with_their_options_and_parameter_overrides(tmp_path):
    write(tmp_path, {"luts/mask.png": "", "noise.png": ""})
    loaded = load_preset(preset(tmp_path, """
shaders = 1
shader0 = a.slang
textures = "Mask; Noise"
Mask = luts/mask.png
Mask_linear = false
Mask_wrap_mode = repeat
Mask_mipmap = true
Noise = "noise.png"
parameters = "BRIGHT;CURVE"
BRIGHT = 1.25
CURVE = -3e-1
"""))
    assert loaded.luts == (LutSpec("Mask", tmp_path / "luts/mask.png", False, WrapMode.REPEAT, True),
                           LutSpec("Noise", tmp_path / "noise.png", True, WrapMode.CLAMP_TO_BORDER, False))
    assert loaded.parameters == {"BRIGHT": 1.25, "CURVE": -0.3}


def test_comments_quotes_and_blank_lines(tmp_path):
    loaded = load_preset(preset(tmp_path, '\ufeff# a preset\n\n  shaders=1   # one pass\n// a comment\n'
                                          'shader0    =   "a.slang"  // trailing\n\tK = 2\n'))
    assert loaded.passes[0].shader == tmp_path / "a.slang" and loaded.parameters == {"K": 2.0}


def test_reference_is_read_first_and_local_keys_win(tmp_path):
    write(tmp_path, {"base/shaders/a.slang": "#version 450\n", "base/mask.png": "", "mine.png": ""})
    write(tmp_path, {"base/base.slangp": 'shaders = 1\nshader0 = shaders/a.slang\nfilter_linear0 = true\n'
                                         'textures = Mask\nMask = mask.png\nK = 1.0\nJ = 5\n'})
    write(tmp_path, {"middle/middle.slangp": '#reference "../base/base.slangp"\nK = 2.0\n'})
    top = write(tmp_path, {"top.slangp": '#reference "middle/middle.slangp"\nMask = mine.png\nJ = 6\n'})
    loaded = load_preset(top)
    assert loaded.passes[0].shader == tmp_path / "base/shaders/a.slang"  # relative to the file that says it
    assert loaded.passes[0].filter_linear is True
    assert loaded.luts[0].path == tmp_path / "mine.png"
    assert loaded.parameters == {"K": 2.0, "J": 6.0}


def test_reference_nesting_deeper_than_16_is_an_error(tmp_path):
    write(tmp_path, {"a.slang": "#version 450\n", "r0.slangp": "shaders = 1\nshader0 = a.slang\n"})
    for i in range(1, 18):
        write(tmp_path, {f"r{i}.slangp": f'#reference "r{i - 1}.slangp"\n'})
    assert load_preset(tmp_path / "r16.slangp").passes[0].shader == tmp_path / "a.slang"
    with pytest.raises(SlangError, match=r"r1\.slangp:1: #reference nesting is deeper than 16"):
        load_preset(tmp_path / "r17.slangp")


def test_reference_cycles_are_an_error(tmp_path):
    write(tmp_path, {"x.slangp": '#reference "y.slangp"\n', "y.slangp": '\n#reference "x.slangp"\n'})
    with pytest.raises(SlangError, match=r"y\.slangp:2: #reference cycle: x\.slangp -> y\.slangp -> x\.slangp"):
        load_preset(tmp_path / "x.slangp")


@pytest.mark.parametrize(("text", "message"), [
    ("shader0 = a.slang\n", r"p\.slangp: no 'shaders' key"),
    ("shaders = 2\nshader0 = a.slang\n", r"p\.slangp:1: shaders = 2 but there is no shader1"),
    ("shaders = two\n", r"p\.slangp:1: shaders must be a whole number \(got 'two'\)"),
    ("shaders = 0\n", r"p\.slangp:1: shaders must be 1\.\.64 \(got 0\)"),
    ("shaders = 1\nshader0 = a.slang\nbogus = yes\n", r"p\.slangp:3: unknown key 'bogus'$"),
    ("shaders = 1\nshader0 = a.slang\nshader3 = c.slang\n", r":3: unknown key 'shader3' \(the preset has 1 passes\)"),
    ("shaders = 1\nshader0 = a.cg\n", r"p\.slangp:2: shader0: only \.slang shaders are supported"),
    ("shaders = 1\nshader0 = missing.slang\n", r"p\.slangp:2: shader0: no such file .*missing\.slang"),
    ("shaders = 1\nshader0 = a.slang\nfilter_linear0 = maybe\n", r":3: filter_linear0 must be true or false"),
    ("shaders = 1\nshader0 = a.slang\nwrap_mode0 = clamp\n", r":3: wrap_mode0 must be one of clamp_to_border"),
    ("shaders = 1\nshader0 = a.slang\nscale_type0 = huge\n", r":3: scale_type0 must be one of source"),
    ("shaders = 1\nshader0 = a.slang\nscale_type0 = absolute\n", r"pass 0 has an absolute scale type but no scale0"),
    ("shaders = 1\nshader0 = a.slang\nscale_type0 = absolute\nscale0 = 1.5\n",
     r":4: scale0 must be a whole number of pixels >= 1 \(got 1\.5\)"),
    ("shaders = 1\nshader0 = a.slang\nscale_type0 = source\nscale0 = -1\n", r":4: scale0 must be > 0"),
    ("shaders = 1\nshader0 = a.slang\nframe_count_mod0 = -2\n", r":3: frame_count_mod0 must be >= 0"),
    ("shaders = 1\nshader0 = a.slang\nalias0 = 9lives\n", r":3: alias0 must be an identifier"),
    ("shaders = 2\nshader0 = a.slang\nalias0 = X\nshader1 = b.slang\nalias1 = X\n",
     r":5: alias 'X' is already pass 0's"),
    ("shaders = 1\nshader0 = a.slang\nalias0 = X\ntextures = X\nX = a.slang\n",
     r":4: texture 'X' has the name of pass 0's alias"),
    ("shaders = 1\nshader0 = a.slang\ntextures = Mask\n", r":3: texture 'Mask' has no 'Mask = path' line"),
    ("shaders = 1\nshader0 = a.slang\nfeedback_pass = 0\n", r":3: feedback_pass is not supported"),
    ('shaders = 1\nshader0 = "a.slang\n', r":2: shader0: unterminated quoted value"),
    ("shaders = 1 2\n", r":1: shaders: unexpected text after the value: '2'"),
    ("shaders 1\n", r":1: expected '=' after 'shaders'"),
    ("= 1\n", r":1: expected 'key = value', got '= 1'"),
    ('#include "x.slangp"\n', r":1: #include is not supported in presets \(use #reference\)"),
    ("#reference\n", r":1: #reference needs a file name"),
    ('#reference "nowhere.slangp"\n', r"p\.slangp:1: cannot read .*nowhere\.slangp: No such file"),
])
def test_bad_presets_say_where_and_what_in_one_line(tmp_path, text, message):
    with pytest.raises(SlangError, match=message) as caught:
        load_preset(preset(tmp_path, text))
    assert "\n" not in str(caught.value)


def test_a_preset_that_is_not_text_is_an_error(tmp_path):
    path = tmp_path / "p.slangp"
    path.write_bytes(b"shaders = 1\n\xff\xfe\n")
    with pytest.raises(SlangError, match=r"p\.slangp: not UTF-8 text \(byte 12\)"):
        load_preset(path)
