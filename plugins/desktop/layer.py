"""Draws the desktop above the tiles: selection outlines and resize handles, broadcast marks,
badges of actions under way, placeholders of images being pulled, the rubber band, the open
menu, palette or question, and messages.

World-space marks are drawn with the camera's matrix; the overlay and messages in screen
pixels.  Text is pyglet labels kept in a small pool (re-laid only when their text or place
changes).
"""

from __future__ import annotations

from typing import Any

import pyglet

from geometry_os import api
from geometry_os.plugins.desktop.desktop import desktop_of
from geometry_os.plugins.desktop.overlay import ROW_H, Question
from geometry_os.render.solid import SolidRects

SELECTED = (1.0, 0.62, 0.15, 1.0)
BROADCAST = (0.90, 0.25, 0.85, 1.0)
PENDING = (0.85, 0.55, 0.10, 1.0)
PANEL = (0.10, 0.11, 0.14, 0.97)
PANEL_EDGE = (0.35, 0.40, 0.50, 1.0)
HIGHLIGHT = (0.20, 0.35, 0.60, 1.0)
QUERY = (0.16, 0.18, 0.23, 1.0)
BAND = (0.35, 0.60, 1.0, 0.18)
BAND_EDGE = (0.35, 0.60, 1.0, 0.9)
INFO = (0.05, 0.20, 0.40, 0.92)
ERROR = (0.45, 0.05, 0.05, 0.92)
PLACEHOLDER = (0.12, 0.13, 0.17, 1.0)
PROGRESS = (0.25, 0.55, 0.95, 1.0)
TEXT = (235, 240, 250, 255)
DIM = (160, 170, 185, 255)
FONT = "DejaVu Sans"
HANDLE_PX = 8.0
PAD = 10.0


class TextPool:
    """Labels reused frame to frame: ``add`` them in order, then ``draw``."""

    def __init__(self) -> None:
        self.batch = pyglet.graphics.Batch()
        self.labels: list[pyglet.text.Label] = []
        self.used = 0

    def begin(self) -> None:
        self.used = 0

    def add(self, text: str, x: float, y: float, size: int, color: tuple[int, int, int, int] = TEXT,
            anchor_x: str = "left", anchor_y: str = "center") -> None:
        if self.used == len(self.labels):
            self.labels.append(pyglet.text.Label("", font_name=FONT, batch=self.batch))
        label = self.labels[self.used]
        self.used += 1
        wanted: dict[str, Any] = {"text": text, "font_size": size, "color": color, "anchor_x": anchor_x,
                                  "anchor_y": anchor_y, "position": (round(x), round(y), 0), "visible": True}
        for name, value in wanted.items():
            if getattr(label, name) != value:
                setattr(label, name, value)

    def draw(self) -> None:
        for label in self.labels[self.used:]:
            if label.visible:
                label.visible = False
        self.batch.draw()

    def delete(self) -> None:
        for label in self.labels:
            label.delete()


def font_size(pixels: float) -> int | None:
    """A font size whose glyphs fit a bar ``pixels`` high (None: too small to read)."""
    return None if pixels < 8 else max(6, min(16, int(pixels * 0.55 * 72 / 96)))


class DesktopLayer:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.desktop = desktop_of(shell)
        self.world = SolidRects(shell)
        self.screen = SolidRects(shell)
        self.text = TextPool()

    def draw(self) -> None:
        shell, desktop = self.shell, self.desktop
        camera = shell.camera
        self.world.clear()
        self.screen.clear()
        self.text.begin()
        px = 1.0 / camera.zoom  # one screen pixel in world units
        for tile in desktop.selection:
            self._selected(tile, px)
        for tile in shell.broadcast:
            self._broadcast(tile, px)
        for tile in shell.tiles:
            if tile.name in desktop.pending:
                self._pending(tile, desktop.pending[tile.name])
        for pull in desktop.pulls:
            self._pull(pull)
        self.world.draw(camera.matrix())
        if desktop.band is not None:
            x0, y0, x1, y1 = desktop.band
            self.screen.add(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1), BAND)
            self.screen.outline(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1), 1.0, BAND_EDGE)
        self._messages()
        if desktop.overlay is not None:
            self._overlay(desktop.overlay)
        self.screen.draw(shell.screen_matrix())
        self.text.draw()

    # ------------------------------------------------------------ the map
    def _selected(self, tile: api.Tile, px: float) -> None:
        x, y, w, h = tile.footprint
        self.world.outline(x, y, x + w, y + h, 2 * px, SELECTED)
        size = HANDLE_PX * px
        for cx, cy in ((x, y), (x + w, y), (x, y + h), (x + w, y + h)):
            self.world.add(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2, SELECTED)

    def _broadcast(self, tile: api.Tile, px: float) -> None:
        x, y, w, h = tile.footprint
        self.world.outline(x - 3 * px, y - 3 * px, x + w + 3 * px, y + h + 3 * px, 4 * px, BROADCAST)
        size = font_size(api.TITLE_BAR_HEIGHT * self.shell.camera.zoom)
        if size is None:
            return
        tag_h = api.TITLE_BAR_HEIGHT * 0.8
        self.world.add(x - 6 * px, y - tag_h - 7 * px, x + 150 * px, y - 7 * px, BROADCAST)
        sx, sy = self.shell.camera.world_to_screen(x, y - tag_h / 2 - 7 * px)
        self.text.add("typing into this VM", sx + 2, self.shell.camera.height - sy, max(6, size - 2))

    def _pending(self, tile: api.Tile, what: str) -> None:
        r = tile.rect
        badge_w, inset = min(r.w * 0.3, 92.0), 5.0
        x0, y0 = r.x + r.w - badge_w - inset, r.y - api.TITLE_BAR_HEIGHT + inset
        self.world.add(x0, y0, r.x + r.w - inset, r.y - inset, PENDING)
        size = font_size(api.TITLE_BAR_HEIGHT * self.shell.camera.zoom)
        if size is not None:
            sx, sy = self.shell.camera.world_to_screen(r.x + r.w - inset - 3, r.y - api.TITLE_BAR_HEIGHT / 2)
            self.text.add(f"{what}...", sx, self.shell.camera.height - sy, max(6, size - 2), anchor_x="right")

    def _pull(self, pull: Any) -> None:
        (x, y), (w, h) = pull.position, pull.size
        self.world.add(x, y - api.TITLE_BAR_HEIGHT, x + w, y + h, PLACEHOLDER)
        percent = int(pull.progress[:-1]) if pull.progress.endswith("%") else 0
        self.world.add(x + 20, y + h / 2 - 8, x + 20 + (w - 40) * percent / 100, y + h / 2 + 8, PROGRESS)
        self.world.outline(x + 20, y + h / 2 - 8, x + w - 20, y + h / 2 + 8, 1 / self.shell.camera.zoom, PANEL_EDGE)
        size = font_size(api.TITLE_BAR_HEIGHT * self.shell.camera.zoom)
        if size is not None:
            sx, sy = self.shell.camera.world_to_screen(x + w / 2, y + h / 2 - 30)
            self.text.add(f"pulling image {pull.image}: {pull.progress}", sx, self.shell.camera.height - sy, size,
                          anchor_x="center")

    # ------------------------------------------------------------ overlays
    def _overlay(self, overlay: Any) -> None:
        width, height = self.shell.camera.width, self.shell.camera.height
        x, y, w, h = overlay.panel(width, height)
        self.screen.add(x, y, x + w, y + h, PANEL)
        self.screen.outline(x, y, x + w, y + h, 1.0, PANEL_EDGE)
        top = y + (8 if isinstance(overlay, Question) else 4)
        for index, row in enumerate(overlay.rows()):
            y0 = top + index * ROW_H
            middle = height - (y0 + ROW_H / 2)
            if row.style == "selected":
                self.screen.add(x + 2, y0, x + w - 2, y0 + ROW_H, HIGHLIGHT)
            elif row.style == "query":
                self.screen.add(x + 2, y0, x + w - 2, y0 + ROW_H, QUERY)
            if row.style == "buttons":
                for label, cx in ((row.text, x + w / 4), (row.right, x + 3 * w / 4)):
                    self.screen.add(cx - 80, y0 + 4, cx + 80, y0 + ROW_H + 4, HIGHLIGHT)
                    self.text.add(label, cx, height - (y0 + 4 + ROW_H / 2), 11, anchor_x="center")
                continue
            bold = row.style == "title"
            self.text.add(row.text, x + PAD, middle, 11, DIM if bold else TEXT)
            if row.right:
                self.text.add(row.right, x + w - PAD, middle, 10, DIM, anchor_x="right")

    def _messages(self) -> None:
        messages = self.desktop.current_messages()
        height = self.shell.camera.height
        y = height - 48.0
        for message in reversed(messages):
            width = min(self.shell.camera.width - 2 * PAD, 9.0 * len(message.text) + 2 * PAD)
            self.screen.add(PAD, y - ROW_H, PAD + width, y, ERROR if message.error else INFO)
            self.text.add(message.text, 2 * PAD, height - (y - ROW_H / 2), 11)
            y -= ROW_H + 4

    def delete(self) -> None:
        self.text.delete()
