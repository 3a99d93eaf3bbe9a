"""Semantic zoom (plugins/desktop/cards.py) in the real renderer, headless, with pattern tiles:
far tiles are cards and upload nothing, close tiles show their image, in between both
cross-fade; the sparkline follows the CPU load and the glow the screen updates."""

from __future__ import annotations

import numpy as np
import pytest

from geometry_os.api import wait_until
from geometry_os.plugins.desktop import cards
from geometry_os.plugins.desktop.cards import CARD, GLOW, SPARK, CardLayer, card_weight

pytestmark = pytest.mark.gl

# A still test card (published once) with a CPU load, and a moving one: world 0..800 x 0..600 at zoom 1.
SCENE = """
window: {width: 800, height: 600, fps: 60}
camera: {x: 400, y: 300, zoom: 1, fit: false}
tiles:
  - {id: still, title: still card, position: [0, 0], size: [640, 480],
     source: {type: pattern, width: 640, height: 480, rate: 0, cpu_load: 0.5}}
  - {id: moving, position: [800, 0], size: [640, 480], source: {type: pattern, width: 640, height: 480, rate: 30}}
"""
FAR = 0.1  # the tiles 64 screen pixels wide: cards (below 96)
MID = 0.1875  # 120 pixels: halfway between 96 and 144
CLOSE = 1.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def rgb(color: tuple[float, float, float]) -> np.ndarray:
    return np.array([round(c * 255) for c in color], np.float64)


def probe(shell, tile, dx: float, fy: float) -> np.ndarray:
    """The screen pixel ``dx`` pixels right of the tile's left edge, ``fy`` of the way down its footprint."""
    f = tile.footprint
    x0, y0 = shell.camera.world_to_screen(f.x, f.y)
    _, y1 = shell.camera.world_to_screen(f.x + f.w, f.y + f.h)
    return shell.screenshot()[int(y0 + fy * (y1 - y0)), int(x0 + dx), :3].astype(np.float64)


def at_zoom(render_scene, shell, zoom: float, frames: int = 3) -> None:
    shell.camera.set(400 / zoom, 300 / zoom, zoom)  # world (0, 0) at the window's top-left
    render_scene.frames(shell, frames)


def test_far_tiles_are_cards_that_upload_nothing_and_close_tiles_are_images(render_scene):
    shell = render_scene(SCENE.replace("zoom: 1,", f"zoom: {FAR},"), frames=1)
    still, moving = shell.find_tile("still"), shell.find_tile("moving")
    shell.camera.set(400 / FAR, 300 / FAR, FAR)
    wait_until(lambda: moving.update_rate >= cards.GLOW_RATE, 5, step=lambda: render_scene.frames(shell, 1),
               what="the moving card's update rate")
    shell.redraw()  # the glow follows the rate just measured
    render_scene.frames(shell, 1)
    assert still.covered and moving.covered
    assert still.texture is None and moving.texture is None  # frames published, none uploaded
    assert still.ctx.mailbox.published >= 1 and moving.ctx.mailbox.published >= cards.GLOW_RATE
    assert np.abs(probe(shell, still, 3, 0.5) - rgb(CARD)).max() <= 2  # the card, not the test card's bars
    x0, y0 = shell.camera.world_to_screen(moving.footprint.x, moving.footprint.y)
    glow = shell.screenshot()[int(y0) + 20, int(x0) - 2, :3].astype(np.float64)
    assert np.abs(glow - rgb(GLOW)).max() <= 2, glow  # the moving tile's screen changes: it glows
    x0, y0 = shell.camera.world_to_screen(still.footprint.x, still.footprint.y)
    assert np.abs(shell.screenshot()[int(y0) + 20, int(x0) - 2, :3] - np.array([20, 23, 28])).max() <= 30  # none

    # close: the image, uploaded, and no card over it
    at_zoom(render_scene, shell, CLOSE)
    assert not still.covered and still.texture is not None
    image = probe(shell, still, 3, 0.5)
    assert np.abs(image - rgb(CARD)).max() > 40

    # mid range: card and image cross-fade, half each
    at_zoom(render_scene, shell, MID)
    assert not still.covered and card_weight(120, 96, 144) == 0.5
    mid = probe(shell, still, 3, 0.5)
    assert np.abs(mid - (0.5 * rgb(CARD) + 0.5 * image)).max() <= 4, (mid, image)


def test_the_sparkline_shows_the_cpu_load_of_the_last_minutes(render_scene, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(cards, "time", clock)
    shell = render_scene(SCENE, frames=1)
    still = shell.find_tile("still")
    wait_until(lambda: still.cpu_load == 0.5, 5, step=lambda: render_scene.frames(shell, 1),
               what="the pattern's CPU load")
    zoom = 0.14  # 90 pixels wide, 71 high: a card with room for its sparkline under the title and state
    shell.camera.set(400 / zoom, 300 / zoom, zoom)
    for _ in range(30):  # half a minute of samples
        clock.now += 1.0
        shell.redraw()  # a frame is drawn (idle maps redraw twice a second of real time)
        render_scene.frames(shell, 1)
    layer = next(layer for _, layer in shell.layers if isinstance(layer, CardLayer))
    assert list(layer.cpu["still"])[-30:] == [0.5] * 30
    f = still.footprint
    x0, y0 = shell.camera.world_to_screen(f.x, f.y)
    x1, y1 = shell.camera.world_to_screen(f.x + f.w, f.y + f.h)
    screen = shell.screenshot()
    bottom = y1 - cards.PAD
    height = bottom - (y0 + 4 + 2 * cards.LINE_PX + 2 + cards.PAD)  # under the stripe, title and state lines
    x = int(x1 - cards.PAD) - 2
    assert np.abs(screen[int(bottom - 0.25 * height), x, :3] - rgb(SPARK)).max() <= 2  # 50%: a bar ...
    assert np.abs(screen[int(bottom - 0.75 * height), x, :3] - rgb(SPARK)).max() > 40  # ... half as high
    x = int(x0 + cards.PAD) + 1
    assert np.abs(screen[int(bottom - 0.25 * height), x, :3] - rgb(SPARK)).max() > 40  # 30 s: not back to here


def test_card_weight_is_one_below_and_zero_above_the_thresholds():
    assert card_weight(50, 96, 144) == 1.0 and card_weight(96, 96, 144) == 1.0
    assert card_weight(144, 96, 144) == 0.0 and card_weight(1000, 96, 144) == 0.0
    assert card_weight(95, 96, 96) == 1.0 and card_weight(96, 96, 96) == 0.0  # no fade
