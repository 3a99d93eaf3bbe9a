"""RetroArch presets running on tiles: every supported semantic, read back from the screen.

Each test writes its own preset (tests/slang/shaders.py) next to a scene that names it
(``{type: slang, preset: p.slangp}``).  The card is drawn pixel-exact (zoom 1, a 640x480
tile at the window's top-left): the last pass's output is the tile.  Values that are not
colours are written as colours (a size of 320 as 320 / 1000 of full scale).
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import numpy as np
import pytest

from geometry_os.render.effects import ParamError
from geometry_os.scene import SceneError, load_scene
from tests.gl.test_render import card_rgba, wait_for_texture
from tests.slang.shaders import shader, write

pytestmark = pytest.mark.gl

SCENE = """
window: {width: 800, height: 600}
camera: {x: 400, y: 300, zoom: 1, fit: false}
tiles:
  - {position: [0, 0], size: [640, 480], source: {type: pattern, width: 640, height: 480, rate: 0}}
effects:
  - {type: slang, preset: p.slangp PARAMS}
"""
CARD = card_rgba(640, 480)[..., :3].astype(np.int16)


def scene(folder: Path, preset: str, shaders: dict[str, str], params: str = "") -> Path:
    write(folder, {"p.slangp": preset, **shaders})
    path = folder / "scene.yaml"
    path.write_text(SCENE.replace(" PARAMS", f", {params}" if params else ""))
    return path


def run(render_scene, path: Path, dev: bool = False):
    shell = render_scene(path, dev=dev)
    wait_for_texture(render_scene, shell)
    return shell


def tile(shell) -> np.ndarray:
    return shell.screenshot()[:480, :640, :3].astype(np.int16)


def scaled(values) -> np.ndarray:
    """What a pass writing ``values / 1000`` shows (8 bits per channel)."""
    return np.round(np.asarray(values, dtype=float) / 1000 * 255)


def regions(*cases: str) -> str:
    """A fragment body writing ``cases[i]`` in the i-th of len(cases) vertical stripes."""
    lines = [f"   {'if' if i == 0 else 'else if'} (vTexCoord.x < {(i + 1) / len(cases)}) FragColor = {case};"
             for i, case in enumerate(cases[:-1])]
    return "\n".join([*lines, f"   else FragColor = {cases[-1]};"]).strip()


def stripe(image: np.ndarray, index: int, count: int) -> np.ndarray:
    """The middle pixel of stripe ``index`` of ``count`` (a row away from the card's grid lines)."""
    return image[100, int((index + 0.5) * 640 / count)]


def test_inputs_sizes_and_builtins(render_scene, tmp_path):
    half = shader(body="FragColor = vec4(texture(Source, vTexCoord).rgb, 2.0);")
    show = shader(
        ubo="   vec4 SourceSize;\n   vec4 OutputSize;\n   vec4 OriginalSize;\n   vec4 FinalViewportSize;\n"
            "   vec4 HalfSize;\n   vec4 PassOutputSize0;\n   float OriginalAspect;\n   uint Rotation;\n"
            "   uint TotalSubFrames;\n   uint CurrentSubFrame;\n   uint FrameTimeDelta;\n   float OriginalFPS;\n",
        samplers=("Source", "Original", "Half", "PassOutput0"),
        body=regions(
            "vec4(global.SourceSize.xy, global.OutputSize.x, 1000.0) / 1000.0",
            "vec4(global.OriginalSize.xy, global.FinalViewportSize.y, 1000.0) / 1000.0",
            "vec4(texture(Half, vTexCoord).a * 0.25, global.HalfSize.x / 1000.0, "
            "global.PassOutputSize0.w * 100.0, 1.0)",
            "texture(Original, vTexCoord)",
            "vec4(global.OriginalAspect / 2.0, float(global.Rotation), "
            "float(global.TotalSubFrames + global.CurrentSubFrame) / 255.0, 1.0)",
            "vec4(float(global.FrameTimeDelta) / 100000.0, global.OriginalFPS / 100.0, 0.0, 1.0)"))
    path = scene(tmp_path, "shaders = 2\nshader0 = half.slang\nalias0 = Half\nscale_type0 = source\nscale0 = 0.5\n"
                           "float_framebuffer0 = true\nshader1 = show.slang\n",
                 {"half.slang": half, "show.slang": show})
    shell = run(render_scene, path)
    assert shell.errors() == []
    image = tile(shell)
    assert np.abs(stripe(image, 0, 6) - scaled([320, 240, 640])).max() <= 1
    assert np.abs(stripe(image, 1, 6) - scaled([640, 480, 480])).max() <= 1
    # a float target keeps an alpha of 2.0; pass 0 is 320 wide, 1 / 240 high
    assert np.abs(stripe(image, 2, 6) - np.round(np.array([0.5, 0.32, 100 / 240]) * 255)).max() <= 1
    assert np.array_equal(image[100:140, 320:426], CARD[100:140, 320:426])  # Original: the card itself
    assert np.abs(stripe(image, 4, 6) - np.round(np.array([640 / 480 / 2, 0, 2 / 255]) * 255)).max() <= 1
    # one frame of a 60 fps scene: 16667 microseconds, 60 frames a second
    assert np.abs(stripe(image, 5, 6) - np.round(np.array([0.16667, 0.6, 0]) * 255)).max() <= 1


def test_pass_outputs_by_index_and_alias_and_a_pragma_name(render_scene, tmp_path):
    first = shader(body="FragColor = vec4(0.2, 0.4, 0.6, 1.0);", head="#pragma name First\n")
    second = shader(body="FragColor = vec4(0.8, texture(Source, vTexCoord).g, 0.0, 1.0);")
    last = shader(samplers=("Source", "PassOutput0", "Second", "Original"),
                  body="FragColor = vec4(texture(Second, vTexCoord).r, texture(PassOutput0, vTexCoord).b, "
                       "texture(Original, vTexCoord).b, 1.0);")
    path = scene(tmp_path, "shaders = 3\nshader0 = a.slang\nshader1 = b.slang\nalias1 = Second\nshader2 = c.slang\n",
                 {"a.slang": first, "b.slang": second, "c.slang": last})
    image = tile(run(render_scene, path))
    expected = np.empty_like(CARD)
    expected[..., 0], expected[..., 1], expected[..., 2] = round(0.8 * 255), round(0.6 * 255), CARD[..., 2]
    assert np.abs(image - expected).max() <= 1


def test_feedback_of_the_last_pass_decays_to_the_input(render_scene, tmp_path):
    decay = shader(push="   float DECAY;\n", samplers=("Source", "PassFeedback0"),
                   body="FragColor = mix(texture(Source, vTexCoord), texture(PassFeedback0, vTexCoord), params.DECAY);",
                   head='#pragma parameter DECAY "Decay" 0.9 0.0 0.99 0.01\n')
    path = scene(tmp_path, "shaders = 1\nshader0 = d.slang\nfloat_framebuffer0 = true\n", {"d.slang": decay},
                 params="DECAY: 0.8")
    shell = run(render_scene, path)
    series = [tile(shell)[240, 20].astype(float)]
    for _ in range(40):
        render_scene.frames(shell, 1)
        series.append(tile(shell)[240, 20].astype(float))
    for before, after in itertools.pairwise(series):
        assert np.abs(after - (0.2 * 235 + 0.8 * before)).max() <= 1.0
    assert series[0][0] < 200 and np.abs(series[-1] - 235).max() <= 1


def test_original_history(render_scene, tmp_path):
    history = shader(samplers=("Original", "OriginalHistory1", "OriginalHistory3"),
                     body="FragColor = vec4(texture(Original, vTexCoord).r, texture(OriginalHistory1, vTexCoord).r, "
                          "texture(OriginalHistory3, vTexCoord).r, 1.0);")
    path = scene(tmp_path, "shaders = 1\nshader0 = h.slang\n", {"h.slang": history})
    shell = run(render_scene, path)
    guest = shell.tiles[0]
    seen = []
    for value in (10, 40, 70, 100, 130, 160):
        guest.ctx.mailbox.publish(np.full((480, 640, 4), value, np.uint8))
        render_scene.frames(shell, 1)
        seen.append(tuple(tile(shell)[200, 200]))
    assert seen[3:] == [(100, 70, 10), (130, 100, 40), (160, 130, 70)]


def test_frame_count_modulo_and_direction(render_scene, tmp_path):
    counter = shader(push="   uint FrameCount;\n   int FrameDirection;\n",
                     body="FragColor = vec4(float(params.FrameCount) / 255.0, float(params.FrameDirection) / 255.0, "
                          "0.0, 1.0);")
    path = scene(tmp_path, "shaders = 1\nshader0 = f.slang\nframe_count_mod0 = 5\n", {"f.slang": counter})
    shell = run(render_scene, path)
    counts = []
    for _ in range(8):
        render_scene.frames(shell, 1)
        red, green, _ = tile(shell)[200, 200]
        counts.append(int(red))
        assert green == 1
    assert all(b == (a + 1) % 5 for a, b in itertools.pairwise(counts)) and max(counts) == 4


def test_look_up_textures_and_wrap_modes(render_scene, tmp_path):
    from PIL import Image

    Image.fromarray(np.array([[[10, 20, 30, 255], [200, 150, 100, 255]]], np.uint8)).save(tmp_path / "lut.png")
    body = regions("texture(Lut, vec2(0.25, 0.5))", "texture(User0, vec2(0.75, 0.5))",
                   "texture(Source, vec2(vTexCoord.x - 1.0, vTexCoord.y))",
                   "vec4(global.UserSize0.xy, global.LutSize.x, 1000.0) / 1000.0")
    look = shader(ubo="   vec4 UserSize0;\n   vec4 LutSize;\n", samplers=("Source", "Lut", "User0"), body=body)
    preset = 'shaders = 1\nshader0 = l.slang\nwrap_mode0 = WRAP\ntextures = "Lut"\nLut = lut.png\nLut_linear = false\n'
    for wrap in ("clamp_to_border", "repeat"):
        folder = tmp_path / wrap
        folder.mkdir()
        (folder / "lut.png").write_bytes((tmp_path / "lut.png").read_bytes())
        image = tile(run(render_scene, scene(folder, preset.replace("WRAP", wrap), {"l.slang": look})))
        assert tuple(stripe(image, 0, 4)) == (10, 20, 30) and tuple(stripe(image, 1, 4)) == (200, 150, 100)
        assert np.abs(stripe(image, 3, 4) - scaled([2, 1, 2])).max() <= 1
        outside = image[100:140, 330:470]
        if wrap == "clamp_to_border":
            assert (outside == 0).all()  # transparent black beyond the edge
        else:
            assert np.array_equal(outside, CARD[100:140, 330:470])  # u - 1 wraps round to u


def test_mipmapped_input(render_scene, tmp_path):
    blur = shader(body="FragColor = textureLod(Source, vTexCoord, 4.0);")
    path = scene(tmp_path, "shaders = 1\nshader0 = m.slang\nmipmap_input0 = true\nfilter_linear0 = true\n"
                           "wrap_mode0 = clamp_to_edge\n",
                 {"m.slang": blur})
    image = tile(run(render_scene, path))
    level = CARD.reshape(30, 16, 40, 16, 3).mean(axis=(1, 3))  # level 4: means of 16x16 blocks
    for y, x in ((8, 8), (104, 200), (232, 600), (472, 328)):  # half a pixel off the centres of level-4 texels:
        assert np.abs(image[y, x] - level[y // 16, x // 16]).max() <= 8, (y, x)  # 1/32 of the next texel
    blocks = np.repeat(np.repeat(level, 16, axis=0), 16, axis=1)
    assert np.abs(image - blocks).mean() < 8 < np.abs(image - CARD).mean()  # blurred, not the card


def test_srgb_target_stores_encoded_and_reads_back_linear(render_scene, tmp_path):
    store = shader(body="FragColor = vec4(0.5, 0.25, 0.75, 1.0);")
    show = shader(body="FragColor = texture(Source, vTexCoord);")
    path = scene(tmp_path, "shaders = 2\nshader0 = s.slang\nsrgb_framebuffer0 = true\nshader1 = t.slang\n",
                 {"s.slang": store, "t.slang": show})
    assert np.abs(tile(run(render_scene, path))[200, 200] - np.array([128, 64, 191])).max() <= 1


GAIN = shader(push="   float GAIN;\n", body="FragColor = texture(Source, vTexCoord) * params.GAIN;",
              head='#pragma parameter GAIN "Gain" 1.0 0.0 2.0 0.05\n')


def test_parameters_come_from_the_shader_a_reference_the_scene_and_run_time(render_scene, tmp_path):
    write(tmp_path, {"base.slangp": "shaders = 1\nshader0 = g.slang\n", "g.slang": GAIN})
    preset = '#reference "base.slangp"\nGAIN = 0.25\n'
    shell = run(render_scene, scene(tmp_path, preset, {}))
    assert np.abs(tile(shell) - np.round(CARD * 0.25)).max() <= 1  # the reference's override
    shell = run(render_scene, scene(tmp_path, preset, {}, params="GAIN: 0.5"))
    assert np.abs(tile(shell) - np.round(CARD * 0.5)).max() <= 1  # the scene's value
    shell.set_effect_param("slang", "GAIN", 1)
    render_scene.frames(shell, 1)
    assert np.array_equal(tile(shell), CARD)
    with pytest.raises(ParamError, match=r"effect slang: GAIN must be <= 2.0 \(got 3.0\)"):
        shell.set_effect_param("slang", "GAIN", 3.0)
    fields = {f.name: f for f in type(shell.effects[0].params).__attrs_attrs__}
    assert fields["GAIN"].default == 0.25 and fields["GAIN"].metadata["geos.doc"] == "Gain"


def test_scene_errors_name_the_scene_line(render_scene, tmp_path):
    path = scene(tmp_path, "shaders = 1\nshader0 = g.slang\n", {"g.slang": GAIN}, params="GAIN: 3, GAINS: 1")
    with pytest.raises(SceneError) as caught:
        load_scene(path, render_scene.host)
    assert caught.value.lines == [f"{path}:7: effects[0].GAIN: must be <= 2.0 (got 3.0)",
                                  f"{path}:7: effects[0].GAINS: unknown field; did you mean 'GAIN'?"]
    (tmp_path / "scene.yaml").write_text(SCENE.replace("p.slangp PARAMS", "missing.slangp"))
    with pytest.raises(SceneError) as caught:
        load_scene(tmp_path / "scene.yaml", render_scene.host)
    (line,) = caught.value.lines
    assert line.startswith(f"{path}:7: effects[0].preset: {tmp_path / 'missing.slangp'}: cannot read"), line
    (tmp_path / "scene.yaml").write_text(SCENE.replace(" PARAMS", ""))
    (tmp_path / "p.slangp").write_text("shaders = 1\nshader0 = g.slang\nscale_type0 = sideways\n")
    with pytest.raises(SceneError) as caught:
        load_scene(tmp_path / "scene.yaml", render_scene.host)
    assert caught.value.lines == [f"{path}:7: effects[0].preset: {tmp_path / 'p.slangp'}:3: scale_type0 must be one "
                                  f"of source, viewport, absolute (got 'sideways')"]


@pytest.mark.parametrize(("decl", "use", "feature"), [
    ("#pragma format R32_UINT\n", "", "s.slang:2: framebuffer format R32_UINT is not supported"),
    ("", "global.EnableHDR", "s.slang: EnableHDR is not supported (HDR output)"),
])
def test_an_unsupported_feature_is_one_line_naming_file_and_feature_and_the_tile_still_shows(
        render_scene, tmp_path, decl, use, feature):
    body = f"FragColor = texture(Source, vTexCoord) * ({use or '1.0'});"
    broken = shader(ubo="   float EnableHDR;\n" if use else "", body=body, head=decl)
    path = scene(tmp_path, "shaders = 1\nshader0 = s.slang\n", {"s.slang": broken})
    shell = run(render_scene, path)
    (error,) = shell.errors()
    assert error.startswith(str(tmp_path)) and feature in error, error
    assert np.array_equal(tile(shell), CARD)  # never a blank tile: the card, without the preset


def touch(path: Path, text: str) -> None:
    path.write_text(text)
    stamp = time.time_ns() + 1_000_000
    os.utime(path, ns=(stamp, stamp))


def test_hot_reload_of_shader_preset_and_a_broken_edit(render_scene, tmp_path):
    path = scene(tmp_path, "shaders = 1\nshader0 = g.slang\nGAIN = 0.5\n", {"g.slang": GAIN})
    shell = run(render_scene, path, dev=True)
    assert np.abs(tile(shell) - np.round(CARD * 0.5)).max() <= 1
    touch(tmp_path / "p.slangp", "shaders = 1\nshader0 = g.slang\nGAIN = 0.25\n")
    render_scene.frames(shell, 1)
    assert np.abs(tile(shell) - np.round(CARD * 0.25)).max() <= 1
    touch(tmp_path / "g.slang", GAIN.replace("* params.GAIN", "* params.GAIN * 2.0"))
    render_scene.frames(shell, 1)
    assert np.abs(tile(shell) - np.round(CARD * 0.5)).max() <= 1
    touch(tmp_path / "g.slang", GAIN.replace("* params.GAIN", "* nothing"))
    render_scene.frames(shell, 1)
    assert np.abs(tile(shell) - np.round(CARD * 0.5)).max() <= 1  # the last good passes keep drawing
    (error,) = shell.errors()
    assert error.startswith(f"{tmp_path / 'g.slang'}:") and "nothing" in error, error


def test_a_tile_shown_smaller_than_its_guest_runs_the_preset_at_its_size_on_screen(render_scene, tmp_path):
    copy = shader(body="FragColor = texture(Source, vTexCoord);")
    show = shader(ubo="   vec4 SourceSize;\n   vec4 OriginalSize;\n", samplers=("Source", "Original"),
                  body="FragColor = vec4(global.SourceSize.xy, global.OriginalSize.x, 1000.0) / 1000.0;")
    path = scene(tmp_path, "shaders = 2\nshader0 = a.slang\nshader1 = b.slang\n", {"a.slang": copy, "b.slang": show})
    half = path.read_text().replace("camera: {x: 400, y: 300, zoom: 1", "camera: {x: 800, y: 600, zoom: 0.5")
    path.write_text(half)
    shell = run(render_scene, path)
    # the 640x480 guest fills 320x240 screen pixels: pass 0 runs at that size, on a copy that size
    assert np.abs(shell.screenshot()[120, 160, :3] - scaled([320, 240, 320])).max() <= 1


def test_absolute_scale_feedback_and_history_sizes_and_mirrored_wrap(render_scene, tmp_path):
    small = shader(body="FragColor = texture(Source, vTexCoord);")
    show = shader(
        ubo="   vec4 SourceSize;\n   vec4 OriginalHistorySize1;\n   vec4 PassFeedbackSize0;\n"
            "   vec4 SmallFeedbackSize;\n   float OriginalAspectRotated;\n",
        samplers=("Source", "OriginalHistory1", "PassFeedback0", "SmallFeedback", "Original"),
        body=regions(
            "vec4(global.SourceSize.xy, global.OriginalHistorySize1.x, 1000.0) / 1000.0",
            "vec4(global.PassFeedbackSize0.xy, global.SmallFeedbackSize.y, 1000.0) / 1000.0",
            "vec4(global.OriginalAspectRotated / 2.0, texture(PassFeedback0, vTexCoord).a, "
            "texture(SmallFeedback, vTexCoord).a + texture(OriginalHistory1, vTexCoord).a - 1.0, 1.0)",
            "texture(Original, vec2(-vTexCoord.x, vTexCoord.y))"))
    preset = ("shaders = 2\nshader0 = a.slang\nalias0 = Small\nscale_type_x0 = absolute\nscale_x0 = 100\n"
              "scale_type_y0 = absolute\nscale_y0 = 50\nshader1 = b.slang\nwrap_mode1 = mirrored_repeat\n")
    shell = run(render_scene, scene(tmp_path, preset, {"a.slang": small, "b.slang": show}))
    render_scene.frames(shell, 2)  # feedback and history have a frame behind them
    image = tile(shell)
    assert np.abs(stripe(image, 0, 4) - scaled([100, 50, 640])).max() <= 1
    assert np.abs(stripe(image, 1, 4) - scaled([100, 50, 50])).max() <= 1
    assert np.abs(stripe(image, 2, 4) - np.round(np.array([640 / 480 / 2, 1.0, 1.0]) * 255)).max() <= 1
    # mirrored_repeat reads u at -u: the card itself (repeat would read 1 - u, clamping the edge column)
    assert np.array_equal(image[100:140, 480:640], CARD[100:140, 480:640])
