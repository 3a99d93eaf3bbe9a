"""Pixel tests of the pass model: multi-pass effects, feedback, composition, repeats, colour parameters.

The effects are a plugin file written next to each scene (``FX`` and ``GLSL`` below).
The card is drawn pixel-exact (zoom 1, a 640x480 tile at the window's top-left), so
every intermediate target is 640x480 too and whole-pixel shifts are exact.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from geometry_os.api import wait_until
from geometry_os.plugins.tiles.layer import TilesLayer
from geometry_os.render.effects import ParamError
from tests.gl.test_render import card_rgba, wait_for_texture

pytestmark = pytest.mark.gl

FX = '''
from pathlib import Path

import attrs

from geometry_os import api

HERE = Path(__file__).parent


@attrs.define(frozen=True)
class ShiftParams:
    dx: float = api.setting(0.0, doc="Pixels the picture moves left.", min=-64.0, max=64.0)


@attrs.define(frozen=True)
class NoParams:
    pass


@attrs.define(frozen=True)
class GainParams:
    gain: float = api.setting(1.0, doc="Factor.", min=0.0, max=4.0)


@attrs.define(frozen=True)
class DecayParams:
    decay: float = api.setting(0.8, doc="How much of the last frame stays.", min=0.0, max=1.0)


@attrs.define(frozen=True)
class PaintParams:
    colour: api.Color = api.setting(api.Color.parse("#ff8000"), doc="The paint.")
    offset: tuple[float, float] = api.setting((0.25, 0.5), doc="A vector.", min=0.0, max=1.0)


@attrs.define(frozen=True)
class LevelsParams:
    mode: str = api.setting("one", doc="How many passes.", choices=("one", "two"))


def levels_passes(params):
    if params.mode == "one":
        return api.PassList((api.Pass(HERE / "gain_half.glsl"),))
    return api.PassList((api.Pass(HERE / "gain_half.glsl", name="first"), api.Pass(HERE / "gain_half.glsl")))


@api.hookimpl
def register_effects():
    return [
        api.EffectType("shift", ShiftParams, "tile", HERE / "shift.glsl"),
        api.EffectType("flip", NoParams, "tile", HERE / "flip.glsl"),
        api.EffectType("gain", GainParams, "tile", HERE / "gain.glsl"),
        api.EffectType("multi", NoParams, "tile", passes=[
            api.Pass(HERE / "multi_a.glsl", name="a", scale=api.Scale("viewport", 0.5)),
            api.Pass(HERE / "multi_b.glsl", name="b"),
            api.Pass(HERE / "multi_c.glsl", scale=api.Scale("source", 0.25), scale_y=api.Scale("absolute", 30)),
        ]),
        api.EffectType("mix", NoParams, "tile", passes=[
            api.Pass(HERE / "multi_a.glsl", name="a", scale=api.Scale("viewport", 0.5)),
            api.Pass(HERE / "multi_b.glsl", name="b")]),
        api.EffectType("screen_halves", NoParams, "screen", passes=[
            api.Pass(HERE / "half.glsl", name="half", format="rgba16f"), api.Pass(HERE / "double.glsl")]),
        api.EffectType("decay", DecayParams, "tile", passes=[
            api.Pass(HERE / "decay.glsl", format="rgba16f", history=1)]),
        api.EffectType("paint", PaintParams, "tile", HERE / "paint.glsl"),
        api.EffectType("srgb", NoParams, "tile", passes=[
            api.Pass(HERE / "half_grey.glsl", format="srgb8", name="stored"),
            api.Pass(HERE / "read_back.glsl")]),
        api.EffectType("lut", NoParams, "tile", passes=[api.Pass(HERE / "lut.glsl", filter="nearest")],
                       luts=[api.Lut("table", HERE / "table.png", filter="nearest")]),
        api.EffectType("levels", LevelsParams, "tile", passes=levels_passes),
        api.EffectType("coords", NoParams, "screen", HERE / "coords.glsl"),
        api.EffectType("tile_coords", NoParams, "tile", HERE / "coords.glsl"),
    ]
'''
GLSL = {
    # a warp: the picture moves left by u_shift_dx guest pixels
    "shift.glsl": "vec4 effect_shift(vec4 color, vec2 uv) {\n"
                  "    return texture(u_frame, uv + vec2(u_shift_dx / u_source_size.x, 0.0));\n}\n",
    # a warp: mirrored left to right
    "flip.glsl": "vec4 effect_flip(vec4 color, vec2 uv) { return texture(u_frame, vec2(1.0 - uv.x, uv.y)); }\n",
    "gain.glsl": "vec4 effect_gain(vec4 color, vec2 uv) { return vec4(color.rgb * u_gain_gain, color.a); }\n",
    "gain_half.glsl": "vec4 effect_levels(vec4 color, vec2 uv) { return vec4(color.rgb * 0.5, color.a); }\n",
    "multi_a.glsl": "vec4 effect_multi(vec4 color, vec2 uv) { return vec4(0.2, 0.4, 0.6, 1.0); }\n"
                    "vec4 effect_mix(vec4 color, vec2 uv) { return effect_multi(color, uv); }\n",
    # red from pass a by name, green from u_frame (= pass a), blue from the effect's input
    "multi_b.glsl": "vec4 effect_multi(vec4 color, vec2 uv) {\n"
                    "    return vec4(texture(u_pass_a, uv).r, color.g, texture(u_original, uv).b, 1.0);\n}\n"
                    "vec4 effect_mix(vec4 color, vec2 uv) { return effect_multi(color, uv); }\n",
    # the screen stage: half the window in a float target, then doubled back by name
    "half.glsl": "vec4 effect_screen_halves(vec4 color, vec2 uv) { return vec4(color.rgb * 0.5, 1.0); }\n",
    "double.glsl": "vec4 effect_screen_halves(vec4 color, vec2 uv) {\n"
                   "    return vec4(texture(u_pass_half, uv).rgb * 2.0 * vec3(1.0, 1.0, 0.0), 1.0);\n}\n",
    # sizes in colours: pass a's (320 wide), this pass's input (pass b: 480 high), this pass's own
    "multi_c.glsl": "vec4 effect_multi(vec4 color, vec2 uv) {\n"
                    "    return vec4(u_pass_a_size.x / 1000.0, u_source_size.y / 1000.0,\n"
                    "                (u_output_size.x + u_output_size.y) / 1000.0, 1.0);\n}\n",
    "decay.glsl": "vec4 effect_decay(vec4 color, vec2 uv) {\n"
                  "    return vec4(mix(color.rgb, texture(u_feedback, uv).rgb, u_decay_decay), 1.0);\n}\n",
    "paint.glsl": "vec4 effect_paint(vec4 color, vec2 uv) {\n"
                  "    return uv.x < 0.5 ? vec4(u_paint_colour, 1.0) : vec4(u_paint_offset, 0.0, 1.0);\n}\n",
    "half_grey.glsl": "vec4 effect_srgb(vec4 color, vec2 uv) { return vec4(0.5, 0.25, 0.75, 1.0); }\n",
    "read_back.glsl": "vec4 effect_srgb(vec4 color, vec2 uv) { return texture(u_pass_stored, uv); }\n",
    # the table's two texels, plus its size (2x1) in the low bits of red and green
    "lut.glsl": "vec4 effect_lut(vec4 color, vec2 uv) {\n"
                "    vec4 texel = texture(u_lut_table, vec2(uv.x < 0.5 ? 0.25 : 0.75, 0.5));\n"
                "    return texel + vec4(u_lut_table_size, 0.0, 0.0) / 255.0;\n}\n",
    "coords.glsl": "vec4 effect_coords(vec4 color, vec2 uv) { return vec4(uv, 0.0, 1.0); }\n"
                   "vec4 effect_tile_coords(vec4 color, vec2 uv) { return vec4(uv, 0.0, 1.0); }\n",
}
SCENE = """
plugins: {load: [fx.py]}
window: {width: 800, height: 600}
camera: {x: 400, y: 300, zoom: 1, fit: false}
tiles:
  - {position: [0, 0], size: [640, 480], source: {type: pattern, width: 640, height: 480, rate: 0}}
effects: EFFECTS
"""


@pytest.fixture
def fx(tmp_path: Path) -> Path:
    from PIL import Image

    (tmp_path / "fx.py").write_text(FX)
    for name, text in GLSL.items():
        (tmp_path / name).write_text(text)
    Image.fromarray(np.array([[[10, 20, 30, 255], [200, 150, 100, 255]]], np.uint8)).save(tmp_path / "table.png")
    return tmp_path


def show(render_scene, effects: str):
    shell = render_scene(SCENE.replace("EFFECTS", effects))
    wait_for_texture(render_scene, shell)
    assert shell.errors() == []
    return shell, shell.screenshot()[:480, :640, :3].astype(np.int16)


CARD = card_rgba(640, 480)[..., :3].astype(np.int16)


def shifted(image: np.ndarray, dx: int) -> np.ndarray:
    """``image`` moved left by ``dx`` pixels, the right edge clamped (clamp_to_edge)."""
    columns = np.minimum(np.arange(image.shape[1]) + dx, image.shape[1] - 1)
    return image[:, columns]


def test_two_warps_compose_in_scene_order(render_scene, fx):
    _, shift_then_flip = show(render_scene, "[{type: shift, dx: 10}, {type: flip}]")
    assert np.array_equal(shift_then_flip, shifted(CARD, 10)[:, ::-1])
    _, flip_then_shift = show(render_scene, "[{type: flip}, {type: shift, dx: 10}]")
    assert np.array_equal(flip_then_shift, shifted(CARD[:, ::-1], 10))


def test_a_warp_after_a_colour_effect_samples_its_result(render_scene, fx):
    _, image = show(render_scene, "[{type: gain, gain: 0.5}, {type: shift, dx: 3}]")
    expected = shifted(np.round(CARD * 0.5), 3)
    assert np.abs(image - expected).max() <= 1


def test_a_repeated_effect_runs_each_instance_with_its_own_parameters(render_scene, fx):
    shell, image = show(render_scene, "[{type: shift, dx: 5}, {type: shift, dx: 7}]")
    assert np.array_equal(image, shifted(CARD, 12))
    _, gains = show(render_scene, "[{type: gain, gain: 0.5}, {type: gain, gain: 0.25}]")
    assert np.abs(gains - np.round(CARD * 0.125)).max() <= 1
    shell.set_effect_param("shift#2", "dx", 1.0)
    render_scene.frames(shell, 1)
    assert np.array_equal(shell.screenshot()[:480, :640, :3].astype(np.int16), shifted(CARD, 6))
    with pytest.raises(ParamError, match="no effect 'shift#3'"):
        shell.set_effect_param("shift#3", "dx", 1.0)


def test_multi_pass_reads_named_passes_the_input_and_sizes(render_scene, fx):
    shell = render_scene(SCENE.replace("EFFECTS", "[{type: multi}]"))
    wait_for_texture(render_scene, shell)
    layer = next(layer for _, layer in shell.layers if isinstance(layer, TilesLayer))
    (step,) = layer.runner.chain.steps
    assert [p.output.scale_x.kind for p in step.passes] == ["viewport", "viewport", "source"]
    image = shell.screenshot()[:480, :640, :3].astype(np.int16)
    # the last pass is 160x30 (a quarter of pass b's 640, 30 absolute), stretched over the tile
    expected = np.round(np.array([320, 480, 160 + 30]) / 1000 * 255)
    assert np.abs(image - expected).max() <= 1


def test_a_pass_reads_an_earlier_pass_by_name_its_input_and_the_effects_input(render_scene, fx):
    _, image = show(render_scene, "[{type: gain, gain: 0.5}, {type: mix}]")
    expected = np.empty_like(CARD)
    expected[..., 0], expected[..., 1] = round(0.2 * 255), round(0.4 * 255)
    expected[..., 2] = np.round(CARD[..., 2] * 0.5)  # blue from the effect's input: the card at half gain
    assert np.abs(image - expected).max() <= 1


def test_screen_stage_passes(render_scene, fx):
    shell = render_scene(SCENE.replace("EFFECTS", "[{type: screen_halves}]"))
    wait_for_texture(render_scene, shell)
    image = shell.screenshot()[:480, :640, :3].astype(np.int16)
    expected = CARD.copy()
    expected[..., 2] = 0
    assert np.abs(image - expected).max() <= 1


def test_feedback_decay_converges_to_the_input(render_scene, fx):
    shell, first = show(render_scene, "[{type: decay, decay: 0.8}]")
    series = [first[240, 20].astype(float)]  # the white bar (235)
    for _ in range(40):
        render_scene.frames(shell, 1)
        series.append(shell.screenshot()[240, 20, :3].astype(float))
    for before, after in itertools.pairwise(series):
        assert np.abs(after - (0.2 * 235 + 0.8 * before)).max() <= 1.0  # out = mix(in, last out, 0.8)
    assert series[0][0] < 200 and np.abs(series[-1] - 235).max() <= 1


def test_colour_and_vector_parameters(render_scene, fx):
    shell, image = show(render_scene, "[{type: paint}]")
    assert tuple(image[100, 100]) == (255, 128, 0) and tuple(image[100, 500]) == (64, 128, 0)
    _, image = show(render_scene, '[{type: paint, colour: "#00ff80", offset: [1.0, 0.0]}]')
    assert tuple(image[100, 100]) == (0, 255, 128) and tuple(image[100, 500]) == (255, 0, 0)
    _, image = show(render_scene, '[{type: paint, colour: [0.2, 0.4, 1.0]}]')
    assert tuple(image[100, 100]) == (51, 102, 255)
    shell.set_effect_param("paint", "colour", "#102030")
    shell.set_effect_param("paint", "offset", [0.5, 0.5])
    render_scene.frames(shell, 1)
    assert tuple(shell.screenshot()[100, 100, :3]) == (16, 32, 48)
    assert tuple(shell.screenshot()[100, 500, :3]) == (128, 128, 0)
    with pytest.raises(ParamError, match="colour string"):
        shell.set_effect_param("paint", "colour", "#12")
    with pytest.raises(ParamError, match=r"offset must be <= 1.0"):
        shell.set_effect_param("paint", "offset", [0.5, 2.0])


def test_colour_parameter_errors_name_the_scene_line(render_scene, fx):
    from geometry_os.scene import SceneError, load_scene

    path = fx / "bad.yaml"
    entries = ['{type: paint, colour: "#12345"}', "{type: paint, colour: [1, 2, 0]}", "{type: paint, offset: [0.5]}"]
    path.write_text(SCENE.replace("EFFECTS", "".join(f"\n  - {entry}" for entry in entries)))
    with pytest.raises(SceneError) as caught:
        load_scene(path, render_scene.host)
    assert caught.value.lines == [
        f'{path}:8: effects[0].colour: a colour string is "#rrggbb" or "#rgb" (got \'#12345\')',
        f"{path}:9: effects[1].colour: colour components must be 0..1 (got [1.0, 2.0, 0.0])",
        f"{path}:10: effects[2].offset: expected a list of 2 values, got a list of 1",
    ]


def test_srgb_target_stores_encoded_and_reads_back_linear(render_scene, fx):
    _, image = show(render_scene, "[{type: srgb}]")
    assert np.abs(image[200, 200] - np.array([128, 64, 191])).max() <= 1


def test_look_up_texture(render_scene, fx):
    _, image = show(render_scene, "[{type: lut}]")
    assert tuple(image[100, 100]) == (12, 21, 30) and tuple(image[100, 500]) == (202, 151, 100)


def test_passes_that_depend_on_a_parameter_are_rebuilt_when_it_changes(render_scene, fx):
    shell, image = show(render_scene, "[{type: levels, mode: one}]")
    assert np.abs(image - np.round(CARD * 0.5)).max() <= 1
    shell.set_effect_param("levels", "mode", "two")
    render_scene.frames(shell, 1)
    assert np.abs(shell.screenshot()[:480, :640, :3] - np.round(CARD * 0.25)).max() <= 1


@pytest.mark.parametrize(("effect", "bottom", "right"), [("coords", 599, 799), ("tile_coords", 479, 639)])
def test_uv_is_y_down_in_both_stages(render_scene, fx, effect, bottom, right):
    """uv is (0, 0) at the top-left of the window (screen stage) or of the tile's image."""
    shell, _ = show(render_scene, f"[{{type: {effect}}}]")
    image = shell.screenshot()[..., :3].astype(np.int16)
    assert np.abs(image[0, 0] - (0, 0, 0)).max() <= 1
    assert np.abs(image[bottom, 0] - (0, 255, 0)).max() <= 1
    assert np.abs(image[0, right] - (255, 0, 0)).max() <= 1


WALL = """
plugins: {load: [fx.py]}
window: {width: 800, height: 600, streaming: true}
camera: {x: 400, y: 300, zoom: 1, fit: false}
tiles: TILES
effects: [{type: multi}]
"""


def wall(count: int) -> str:
    tiles = [f"{{position: [{200 * (i % 4)}, {150 * (i // 4) + 20}], size: [160, 120], "
             f"source: {{type: pattern, width: 160, height: 120, rate: 0}}}}" for i in range(count)]
    return WALL.replace("TILES", "[" + ", ".join(tiles) + "]")


def start_wall(render_scene, count: int):
    shell = render_scene(wall(count), frames=1)
    wait_until(lambda: all(t.texture is not None for t in shell.tiles), 5, step=lambda: render_scene.frames(shell, 1),
               what="every tile's first frame")
    return shell, next(layer for _, layer in shell.layers if isinstance(layer, TilesLayer))


def test_targets_are_pooled_across_tiles_and_frames(render_scene, fx):
    shell, layer = start_wall(render_scene, 16)
    render_scene.frames(shell, 2)
    pool = layer.runner.pool
    made = pool.allocations
    assert made == 3  # one target per pass size (80x60, 160x120, 40x30), shared by the 16 tiles
    shell.redraw()
    render_scene.frames(shell, 5)
    assert pool.allocations == made and pool.size == 3


def test_only_tiles_inside_the_redrawn_region_run_their_passes(render_scene, fx):
    shell, layer = start_wall(render_scene, 4)
    shell.redraw()
    render_scene.frames(shell, 1)
    before = layer.runner.draws
    shell.redraw()
    render_scene.frames(shell, 1)
    assert layer.runner.draws - before == 4 * 3  # a full redraw: every tile's three passes
    first = shell.tiles[0]
    pixels = np.zeros((120, 160, 4), np.uint8)
    first.ctx.mailbox.publish(pixels)
    before = layer.runner.draws
    render_scene.frames(shell, 1)
    assert first.frame_size == (160, 120) and layer.runner.draws - before == 3  # only the changed tile


def test_an_effect_whose_pass_does_not_compile_is_left_out_and_named(render_scene, fx):
    (fx / "multi_b.glsl").write_text("vec4 effect_multi(vec4 color, vec2 uv) { return color }\n")
    shell = render_scene(SCENE.replace("EFFECTS", "[{type: mix}, {type: gain, gain: 0.5}]"))
    wait_for_texture(render_scene, shell)
    errors = shell.errors()
    assert len(errors) == 1 and errors[0].startswith(f"{(fx / 'multi_b.glsl').resolve()}:1:"), errors
    assert render_scene.host.infos["fx"].failures == 1  # blamed on the effect's plugin
    image = shell.screenshot()[:480, :640, :3].astype(np.int16)
    assert np.abs(image - np.round(CARD * 0.5)).max() <= 1  # the tile, with the other effect
    (fx / "multi_b.glsl").write_text(GLSL["multi_b.glsl"])  # fixed: it comes back
    render_scene.frames(shell, 1)
    assert shell.errors() == []
    assert tuple(shell.screenshot()[100, 100, :2]) == (round(0.2 * 255 * 0.5), round(0.4 * 255 * 0.5))


def test_an_edited_pass_reloads_and_a_broken_edit_keeps_drawing(render_scene, fx):
    shell = render_scene(SCENE.replace("EFFECTS", "[{type: mix}]"), dev=True)
    wait_for_texture(render_scene, shell)
    assert tuple(shell.screenshot()[100, 100, :2]) == (51, 102)
    path = fx / "multi_a.glsl"
    path.write_text(GLSL["multi_a.glsl"].replace("0.2, 0.4", "1.0, 0.0"))
    render_scene.frames(shell, 1)
    assert tuple(shell.screenshot()[100, 100, :2]) == (255, 0)
    path.write_text("vec4 effect_mix(vec4 color, vec2 uv) { return oops; }\n")
    render_scene.frames(shell, 1)
    assert tuple(shell.screenshot()[100, 100, :2]) == (255, 0)
    errors = shell.errors()
    assert errors and all(line.startswith(f"{path.resolve()}:1: error:") for line in errors), errors
