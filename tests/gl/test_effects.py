"""Pixel tests of the built-in effects and their parameters."""

from __future__ import annotations

import numpy as np
import pytest

from geometry_os.plugins.tiles.layer import TilesLayer
from geometry_os.render.effects import ParamError
from tests.gl.test_render import wait_for_texture

pytestmark = pytest.mark.gl

OFF = "scanlines: 0, curvature: 0, vignette: 0, aberration: 0, mask: 0, glow: 0, quality: fast, persistence: 0"
SCENE = """
window: {width: 800, height: 600}
camera: {x: 400, y: 300, zoom: 1, fit: false}
tiles:
  - {position: [0, 0], size: [640, 480], source: {type: pattern, width: 640, height: 480, rate: 0}}
effects:
  - {type: crt, PARAMS}
"""


def crt(render_scene, **params):
    settings = OFF
    for name, value in params.items():
        settings = settings.replace(f"{name}: {'fast' if name == 'quality' else 0}", f"{name}: {value}")
    shell = render_scene(SCENE.replace("PARAMS", settings))
    wait_for_texture(render_scene, shell)
    return shell, shell.screenshot().astype(np.int16)


def test_all_parameters_off_is_the_plain_image(render_scene):
    _, plain = crt(render_scene)
    assert tuple(plain[5, 20, :3]) == (235, 235, 235) and tuple(plain[6, 20, :3]) == (235, 235, 235)


@pytest.mark.parametrize("factor", [0.25, 0.5, 1.0])
def test_scanlines_darken_odd_rows_by_the_factor(render_scene, factor):
    _, image = crt(render_scene, scanlines=factor)
    even, odd = image[6, 36:60, :3], image[7, 36:60, :3]  # white bar, away from grid lines
    assert (even == 235).all()
    assert np.abs(odd - round(235 * (1 - factor))).max() <= 1


def test_scanlines_change_at_run_time_on_the_next_frame(render_scene):
    shell, image = crt(render_scene, scanlines=0.5)
    assert image[7, 20, 0] < 130
    shell.set_effect_param("crt", "scanlines", 0.0)
    render_scene.frames(shell, 1)
    assert shell.screenshot()[7, 20, 0] == 235
    with pytest.raises(ParamError, match=r"effect crt: scanlines must be <= 1.0 \(got 3.0\)"):
        shell.set_effect_param("crt", "scanlines", 3.0)
    with pytest.raises(ParamError, match="has no parameter 'scanline'"):
        shell.set_effect_param("crt", "scanline", 0.1)


def test_vignette_darkens_corners_not_the_centre(render_scene):
    _, image = crt(render_scene, vignette=1.0)
    corner, edge, centre = image[3, 3, 0], image[240, 5, 0], image[240, 20, 0]  # white bar
    assert corner < 60 < edge < centre
    _, plain = crt(render_scene)
    assert np.abs(image[200:280, 280:360] - plain[200:280, 280:360]).max() <= 4  # the centre keeps its colours


def test_curvature_bends_the_corners_out_of_the_picture(render_scene):
    _, image = crt(render_scene, curvature=0.3)
    assert (image[2, 2, :3] == 0).all() and (image[477, 637, :3] == 0).all()
    assert tuple(image[240, 330, :3]) == tuple(crt(render_scene)[1][240, 330, :3])


def test_aberration_shifts_red_and_blue(render_scene):
    # the white -> yellow bar edge is at x = 92: yellow has no blue
    _, plain = crt(render_scene)
    _, shifted = crt(render_scene, aberration=2.0)
    assert plain[100, 92, 2] < 30 and shifted[100, 92, 2] > 100
    assert (shifted[100, 92, :2] == plain[100, 92, :2]).all()


def test_phosphor_mask_tints_screen_columns(render_scene):
    _, image = crt(render_scene, mask=1.0)
    row = image[100, 30:33, :3]  # white bar, three adjacent columns
    dominant = [int(np.argmax(px)) for px in row]
    assert sorted(dominant) == [0, 1, 2]


def test_glow_lights_up_dark_pixels_next_to_bright_ones(render_scene):
    _, plain = crt(render_scene)
    _, glowing = crt(render_scene, glow=1.0)
    # a grid line (dark, value 40) inside the white bar
    assert plain[64, 20, 0] == 40 and glowing[64, 20, 0] > 60
    assert (glowing[..., :3] >= plain[..., :3] - 1).all()  # glow only adds light


BIO = """
window: {width: 400, height: 240, fps: 60}
camera: {x: 200, y: 100, zoom: 1, fit: false}
tiles:
  - {id: idle, position: [0, 0], size: [160, 120], source: {type: pattern, width: 160, height: 120, rate: 0}}
  - {id: busy, position: [200, 0], size: [160, 120],
     source: {type: pattern, width: 160, height: 120, rate: 0, cpu_load: 1.0}}
effects:
  - {type: bio, idle_bpm: 12, busy_bpm: 150, idle_depth: 0.05, busy_depth: 0.4}
"""


def beats(series: list[float]) -> int:
    """Local maxima that stand clearly above the series' floor."""
    floor, top = min(series), max(series)
    threshold = floor + 0.8 * (top - floor)  # the main beat, not its weaker echo
    return sum(1 for a, b, c in zip(series, series[1:], series[2:], strict=False) if b > a and b >= c and b > threshold)


def test_bio_pulse_follows_the_cpu_load(render_scene):
    shell = render_scene(BIO, frames=2)
    idle, busy = [], []
    for _ in range(120):  # two seconds of frames at 60 fps
        render_scene.frames(shell, 1)
        image = shell.screenshot().astype(np.float64)
        idle.append(image[10:110, 5:20, 0].mean())
        busy.append(image[10:110, 205:220, 0].mean())
    # 150 pulses/min = 5 in 2 s; the idle tile (12/min) barely moves
    assert 4 <= beats(busy) <= 6
    assert (max(busy) - min(busy)) / max(busy) > 0.3
    assert (max(idle) - min(idle)) / max(idle) < 0.07


def test_quality_fast_is_one_pass_and_high_is_four(render_scene):
    for quality, passes in (("fast", 1), ("high", 4)):
        shell, _ = crt(render_scene, quality=quality)
        runner = next(layer for _, layer in shell.layers if isinstance(layer, TilesLayer)).runner
        before = runner.draws
        shell.redraw()
        render_scene.frames(shell, 1)
        assert runner.draws - before == passes


def test_high_quality_with_every_parameter_off_is_the_plain_image(render_scene):
    _, image = crt(render_scene, quality="high")
    _, plain = crt(render_scene)
    assert np.abs(image - plain).max() <= 1


def test_high_quality_phosphors_fade_by_the_persistence(render_scene):
    shell, _ = crt(render_scene, quality="high", persistence=0.5)
    guest = shell.tiles[0]
    guest.ctx.mailbox.publish(np.full((480, 640, 4), 255, np.uint8))
    render_scene.frames(shell, 2)
    assert shell.screenshot()[240, 320, 0] == 255
    guest.ctx.mailbox.publish(np.zeros((480, 640, 4), np.uint8))
    levels = []
    for _ in range(5):
        render_scene.frames(shell, 1)
        levels.append(int(shell.screenshot()[240, 320, 0]))
    assert all(abs(level - 255 * 0.5 ** (n + 1)) <= 1 for n, level in enumerate(levels)), levels


def test_high_quality_bloom_spreads_further_than_the_fast_glow(render_scene):
    square = np.zeros((480, 640, 4), np.uint8)
    square[220:260, 300:340] = 255  # a white square on black
    lit = {}
    for quality in ("fast", "high"):
        shell, _ = crt(render_scene, glow=1.0, quality=quality)
        shell.tiles[0].ctx.mailbox.publish(square)
        render_scene.frames(shell, 2)
        lit[quality] = shell.screenshot()[..., :3].astype(np.int16)
    for image in lit.values():
        assert (image[220:260, 300:340] == 255).all() and (image[:100, :640] == 0).all()
    # the four-tap glow lights only dark pixels among bright ones (grid lines), not beyond an
    # edge; the bloom (9 taps at half size) spreads a few pixels out, fading
    assert (lit["fast"][240, 340:350] == 0).all()
    halo = lit["high"][240, 340:346, 0]
    assert halo[0] > 40 and halo[2] > 10 and (np.diff(halo) < 0).all(), halo
