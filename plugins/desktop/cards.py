"""Semantic zoom: far away a tile is a card that can be read at that size.

A tile drawn narrower than ``cards_below`` screen pixels (``plugins.options.desktop``)
is covered by a card: its title, its state (``paused (off screen)`` from time
dilation), the last line its guest printed on the serial port (a source with the
``serial`` capability), a sparkline of its CPU load over the last :data:`HISTORY_SECONDS` and a glow
whose strength follows how often its screen changes.  Such a tile is marked
``covered``, so the engine uploads none of its frames.  Up to ``images_above`` pixels
the card fades out over the live image; wider tiles show only the image (at the
reduced streaming rate of zoom-aware streaming, and live when close or focused).
Everything is laid out in screen pixels, so a card reads the same at any zoom.
"""

from __future__ import annotations

import collections
import collections.abc
import time

from pyglet import gl

from geometry_os import api
from geometry_os.plugins.desktop.desktop import DesktopOptions, desktop_of
from geometry_os.plugins.desktop.dilation import policy_of
from geometry_os.plugins.desktop.layer import TextPool
from geometry_os.render.solid import SolidRects

HISTORY_SECONDS = 180  # the sparkline's span: one sample a second
GLOW_RATE = 20.0  # screen updates a second that light the glow fully
CARD = (0.13, 0.15, 0.19)
GLOW = (1.0, 0.72, 0.25)
SPARK = (0.35, 0.75, 0.95)
SERIAL_TEXT = (170, 180, 195)
STATE_COLORS = {
    api.TileState.RUNNING: (0.30, 0.75, 0.40), api.TileState.PAUSED: (0.90, 0.62, 0.15),
    api.TileState.BOOTING: (0.35, 0.55, 0.95), api.TileState.STOPPED: (0.50, 0.52, 0.58),
    api.TileState.FAILED: (0.90, 0.25, 0.25),
}
PAD = 6.0
TITLE_PT, STATE_PT = 10, 9
LINE_PX = 16.0
CHAR_PX = 7.5  # a DejaVu Sans character at TITLE_PT, about: titles are cut to fit


def card_weight(width_px: float, cards_below: float, images_above: float) -> float:
    """How much of the card shows over a tile ``width_px`` screen pixels wide: 1 only the card, 0 only the image."""
    if images_above <= cards_below:
        return 1.0 if width_px < cards_below else 0.0
    return min(1.0, max(0.0, (images_above - width_px) / (images_above - cards_below)))


def fit(text: str, width_px: float) -> str:
    """``text`` cut (with an ellipsis) to about ``width_px`` screen pixels."""
    room = max(1, int(width_px / CHAR_PX))
    return text if len(text) <= room else text[:max(0, room - 1)] + "\u2026"


def cover(shell: api.ShellView, options: DesktopOptions) -> list[tuple[api.Tile, float]]:
    """Mark the tiles drawn as cards only ``covered`` (the engine uploads none of their frames); the
    tiles with a card in view, each with its weight.  Run on every frame drawn, and once before
    the first frame is uploaded (``scene_loaded``)."""
    camera = shell.camera
    view = camera.visible_world()
    shown = []
    for tile in shell.tiles:
        weight = card_weight(tile.rect.w * camera.zoom, options.cards_below, options.images_above)
        tile.covered = weight >= 1.0
        if weight > 0 and tile.footprint.intersects(view):
            shown.append((tile, weight))
    return shown


class CardLayer:
    """Draws the cards of far tiles and marks those tiles covered (main thread)."""

    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.options = desktop_of(shell).options
        self.rects = SolidRects(shell)
        self.text = TextPool()
        self.cpu: dict[str, collections.deque[float]] = {}  # tile -> its CPU load, one sample a second
        self._sampled = -1.0

    def sample(self, now: float) -> None:
        """Add the tiles' CPU loads to their histories, once a second (the shell measures them as often)."""
        if now - self._sampled < 1.0:
            return
        self._sampled = now
        names = set()
        for tile in self.shell.tiles:
            names.add(tile.name)
            self.cpu.setdefault(tile.name, collections.deque(maxlen=HISTORY_SECONDS)).append(tile.cpu_load)
        for gone in set(self.cpu) - names:
            del self.cpu[gone]

    def draw(self) -> None:
        self.sample(time.monotonic())
        self.rects.clear()
        self.text.begin()
        for tile, weight in cover(self.shell, self.options):
            self._card(tile, weight)
        # the cross-fade needs blending, which pyglet's text drawing in the layers below turns off
        gl.glEnable(gl.GL_BLEND)
        gl.glBlendFunc(gl.GL_SRC_ALPHA, gl.GL_ONE_MINUS_SRC_ALPHA)
        self.rects.draw(self.shell.screen_matrix())
        self.text.draw()

    def _card(self, tile: api.Tile, alpha: float) -> None:
        camera = self.shell.camera
        f = tile.footprint
        x0, y0 = camera.world_to_screen(f.x, f.y)
        x1, y1 = camera.world_to_screen(f.x + f.w, f.y + f.h)
        w, h = x1 - x0, y1 - y0
        self.rects.add(x0, y0, x1, y1, (*CARD, alpha))
        activity = min(1.0, tile.update_rate / GLOW_RATE)
        if activity > 0:
            self.rects.outline(x0, y0, x1, y1, 3.0, (*GLOW, alpha * activity))
        state = STATE_COLORS[tile.ctx.state]
        self.rects.add(x0, y0, x1, y0 + 4, (*state, alpha))
        top = y0 + 4
        if h - 4 >= LINE_PX + PAD:
            self._line(tile.title, x0 + PAD, top + LINE_PX / 2 + 2, TITLE_PT, (235, 240, 250), alpha, w - 2 * PAD)
            top += LINE_PX + 2
        if h - (top - y0) >= LINE_PX + PAD:
            badge = policy_of(self.shell).badge(tile) or tile.ctx.badge or tile.ctx.state.value
            color = tuple(int(c * 255) for c in state)
            self._line(badge, x0 + PAD, top + LINE_PX / 2, STATE_PT, (color[0], color[1], color[2]), alpha,
                       w - 2 * PAD)
            top += LINE_PX
        serial = tile.source.capabilities.serial if tile.source is not None else None
        line = serial.last_line if serial is not None else ""
        if line and h - (top - y0) >= 2 * LINE_PX + PAD:  # and the sparkline keeps some room
            self._line(line, x0 + PAD, top + LINE_PX / 2, STATE_PT, SERIAL_TEXT, alpha, w - 2 * PAD)
            top += LINE_PX
        spark_h = min(40.0, y1 - PAD - (top + PAD))
        if spark_h >= 6:
            self._sparkline(self.cpu.get(tile.name, ()), x0 + PAD, y1 - PAD, x1 - PAD, spark_h, alpha)

    def _line(self, text: str, x: float, y: float, size: int, rgb: tuple[int, int, int], alpha: float,
              width: float) -> None:
        self.text.add(fit(text, width), x, self.shell.camera.height - y, size, (*rgb, int(255 * alpha)))

    def _sparkline(self, loads: collections.abc.Iterable[float], x0: float, bottom: float, x1: float,
                   height: float, alpha: float) -> None:
        """The last samples as bars, newest at the right; 100% fills ``height``."""
        bar = max(2.0, (x1 - x0) / HISTORY_SECONDS)
        recent = list(loads)[-int((x1 - x0) / bar):]
        self.rects.add(x0, bottom - height, x1, bottom, (0.08, 0.09, 0.12, alpha))
        for index, load in enumerate(reversed(recent)):
            right = x1 - index * bar
            if load > 0:
                self.rects.add(right - bar, bottom - max(1.0, load * height), right, bottom, (*SPARK, alpha))
