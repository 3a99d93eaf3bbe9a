"""Rendering, read back from the offscreen target through EGL (no display)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from geometry_os.api import assert_image_close, wait_until
from geometry_os.frames import Rect
from geometry_os.plugins.pattern.source import draw_card
from geometry_os.plugins.tiles.layer import FOCUS, TITLE_BAR, TITLE_BAR_FOCUSED
from geometry_os.png import read_png
from tests.conftest import ROOT

pytestmark = pytest.mark.gl

# One still 640x480 card at the world origin; the camera puts world (0, 0) at the
# window's top-left pixel at zoom 1, so texels land exactly on pixels.
ONE_TILE = """
window: {width: 800, height: 600}
camera: {x: 400, y: 300, zoom: ZOOM, fit: false}
tiles:
  - title: Card
    position: [0, 0]
    size: [640, 480]
    source: {type: pattern, width: 640, height: 480, rate: 0}
"""


def rgb(color: tuple[float, ...]) -> np.ndarray:
    return np.round(np.array(color[:3]) * 255).astype(np.int16)


def card_rgba(width: int, height: int) -> np.ndarray:
    card = draw_card(width, height)
    rgba = card[..., [2, 1, 0, 3]].copy()
    rgba[..., 3] = 255
    return rgba


def wait_for_texture(render_scene, shell):
    tile = shell.tiles[0]
    wait_until(lambda: tile.texture is not None, 5, step=lambda: render_scene.frames(shell, 1), what="first frame")
    render_scene.frames(shell, 1)
    return tile


def test_tile_is_pixel_exact_at_zoom_1(render_scene):
    shell = render_scene(ONE_TILE.replace("ZOOM", "1"))
    wait_for_texture(render_scene, shell)
    image = shell.screenshot()
    assert image.shape == (600, 800, 4)
    assert_image_close(image[:480, :640], card_rgba(640, 480), tolerance=0)
    # outside the tile there is only map background and grid: no card colours
    assert (image[:, 640:, :3].max(axis=-1) < 120).all()


@pytest.mark.parametrize("zoom", [0.37, 2.5])
def test_tile_stays_inside_its_quad_at_other_zooms(render_scene, zoom):
    shell = render_scene(ONE_TILE.replace("ZOOM", str(zoom)))
    tile = wait_for_texture(render_scene, shell)
    image = shell.screenshot().astype(np.int16)
    sx, sy, sw, sh = shell.camera.rect_to_screen(tile.rect)
    x0, y0 = int(np.ceil(sx)) + 1, int(np.ceil(sy)) + 1
    x1, y1 = min(800, int(sx + sw) - 1), min(600, int(sy + sh) - 1)
    saturated = image[..., :3].max(axis=-1) > 150
    assert saturated[y0:y1, x0:x1].mean() > 0.9  # the card fills its quad
    outside = saturated.copy()
    outside[max(0, int(sy) - 1):int(sy + sh) + 2, max(0, int(sx) - 1):int(sx + sw) + 2] = False
    title_top = int(sy - 28 * zoom) - 1
    outside[max(0, title_top):int(sy) + 1, max(0, int(sx) - 1):int(sx + sw) + 2] = False  # title bar text
    assert not outside.any()


def test_title_bar_and_focus_highlight(render_scene):
    shell = render_scene(ONE_TILE.replace("ZOOM", "1").replace("x: 400, y: 300", "x: 380, y: 250"))
    tile = wait_for_texture(render_scene, shell)
    # world (0, 0) is at screen (20, 50): the title bar spans y 22..50
    image = shell.screenshot().astype(np.int16)
    assert (np.abs(image[24, 200, :3] - rgb(TITLE_BAR)) <= 1).all()
    assert (np.abs(image[40, 17, :3] - rgb(FOCUS)) > 40).any()  # no focus frame yet
    shell.focus(tile)
    render_scene.frames(shell, 1)
    image = shell.screenshot().astype(np.int16)
    assert (np.abs(image[24, 200, :3] - rgb(TITLE_BAR_FOCUSED)) <= 1).all()
    for y, x in [(40, 17), (300, 18), (531, 300), (300, 661)]:  # left, left, bottom, right of the frame
        assert (np.abs(image[y, x, :3] - rgb(FOCUS)) <= 1).all(), (x, y, image[y, x])
    # the title is drawn: light text pixels in the left part of the bar
    assert (image[26:48, 25:120, :3].min(axis=-1) > 180).any()


def test_resized_source_reallocates_the_texture(render_scene):
    shell = render_scene(ONE_TILE.replace("ZOOM", "1").replace("rate: 0", "rate: 60"))
    tile = wait_for_texture(render_scene, shell)
    assert (tile.texture.width, tile.texture.height, tile.texture.reallocations) == (640, 480, 1)
    tile.source.resize(320, 200)
    wait_until(lambda: tile.texture.width == 320, 5, step=lambda: render_scene.frames(shell, 1), what="resize")
    assert (tile.texture.height, tile.texture.reallocations, tile.frame_size) == (200, 2, (320, 200))
    uploads = tile.texture.uploads
    wait_until(lambda: tile.texture.uploads > uploads + 3, 5, step=lambda: render_scene.frames(shell, 1),
               what="more frames")
    assert tile.texture.reallocations == 2  # same size: only sub-image uploads


def test_dirty_rect_update_changes_only_that_rectangle(render_scene):
    shell = render_scene(ONE_TILE.replace("ZOOM", "1"))
    tile = wait_for_texture(render_scene, shell)
    before = shell.screenshot()
    pixels = tile.ctx.mailbox.peek_pixels().copy()
    pixels[:] = 0  # the whole buffer changes, but only one rectangle is declared dirty
    tile.ctx.mailbox.publish(pixels, Rect(100, 50, 30, 20))
    render_scene.frames(shell, 1)
    after = shell.screenshot()
    changed = (after != before).any(axis=-1)
    ys, xs = np.nonzero(changed)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (100, 129, 50, 69)
    assert (after[50:70, 100:130, :3] == 0).all()


SCENES = sorted((ROOT / "scenes").glob("*.yaml"))


@pytest.mark.parametrize("scene", SCENES, ids=[p.name for p in SCENES])
def test_every_shipped_scene_renders(render_scene, scene):
    shell = render_scene(scene, frames=5, size=(640, 360))
    image = shell.screenshot()
    assert image.shape == (360, 640, 4)
    assert image[..., :3].std() > 5  # something was drawn


def test_headless_screenshot_command_writes_the_png(tmp_path):
    scene = tmp_path / "one.yaml"
    scene.write_text(ONE_TILE.replace("ZOOM", "1"))
    out = tmp_path / "shot.png"
    result = subprocess.run([sys.executable, "-m", "geometry_os", "run", str(scene), "--headless", "--frames", "5",
                             "--screenshot", str(out)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    image = read_png(out)
    assert image.shape == (600, 800, 4)
    assert_image_close(image[:480, :640], card_rgba(640, 480), tolerance=0)
