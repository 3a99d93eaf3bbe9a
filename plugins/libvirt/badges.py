"""What libvirt tiles say about themselves on the map, and how the libvirt connections stand.

* Under each libvirt tile (below its image, so no guest pixel is covered): how its screen travels
  ("VNC, local", "D-Bus, shared memory", "VNC, SSH tunnel to host", "screenshots,
  4.0/s") and, when it is not live, why and the one-line XML change that would
  make it so (amber).  Dropped when the tile is too small for it to be read.
* At the bottom left of the window: each ``connections`` URI that is not open
  (connecting, or lost with the reason and the next attempt), and each open one
  without domains, one line each.
"""

from __future__ import annotations

from typing import Any

import pyglet

from geometry_os import api

from .connection import OPEN
from .session import LibvirtMap
from .source import LibvirtSource

MIN_TEXT_PX = 7.0  # screen pixels of title-bar height below which a badge is not drawn (as titles)
PADDING = 8
LIVE = (200, 230, 210, 255)
NOT_LIVE = (255, 200, 90, 255)
CONNECTION = (255, 210, 150, 255)


class BadgesLayer:
    """Draws the badges and connection lines (order 14: above the tiles and the guest cursor)."""

    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.batch = pyglet.graphics.Batch()
        self.labels: dict[str, pyglet.text.Label] = {}
        self.status = pyglet.text.Label("", font_name="DejaVu Sans", font_size=10, multiline=True, width=900,
                                        color=CONNECTION, anchor_y="bottom")

    def _map(self) -> LibvirtMap | None:
        from . import map_of

        return map_of(self.shell)

    def badges(self) -> dict[str, tuple[str, bool]]:
        """Tile name -> (badge text, live) for every libvirt tile with a screen connection."""
        found = {}
        for tile in self.shell.tiles:
            source = tile.source
            if isinstance(source, LibvirtSource) and source.badge:
                found[tile.name] = (source.badge, not source.note)
        return found

    def connection_lines(self) -> list[str]:
        session = self._map()
        lines = []
        for grid in session.grids if session is not None else ():
            status = grid.status
            if status.state != OPEN:
                lines.append(f"{grid.uri}: {status.message}")
            elif grid.domains == 0:
                lines.append(f"{grid.uri}: no domains yet (virsh define FILE.xml adds one)")
        return lines

    def state(self) -> tuple[Any, ...]:
        """What this layer shows; a change redraws the map."""
        return tuple(sorted(self.badges().items())), tuple(self.connection_lines())

    def draw(self) -> None:
        badges = self.badges()
        self._place(badges)
        self.batch.draw()
        lines = self.connection_lines()
        if lines:
            text = "\n".join(lines[:8])
            if self.status.text != text:
                self.status.text = text
            self.status.width = max(100, self.shell.camera.width - 4 * PADDING)
            self.status.x, self.status.y = 2 * PADDING, 2 * PADDING
            self.status.draw()

    def _place(self, badges: dict[str, tuple[str, bool]]) -> None:
        camera = self.shell.camera
        view = camera.visible_world()
        px = api.TITLE_BAR_HEIGHT * camera.zoom
        size = max(6, int(px * 0.55 * 72 / 96) - 1)  # a step below the title's size
        shown = set()
        for tile in self.shell.tiles:
            entry = badges.get(tile.name)
            if entry is None or px < MIN_TEXT_PX or not view.intersects(tile.footprint):
                continue
            text, live = entry
            label = self.labels.get(tile.name)
            if label is None:
                label = self.labels[tile.name] = pyglet.text.Label(
                    "", font_name="DejaVu Sans", batch=self.batch, anchor_y="top", multiline=True, width=100)
            sx, sy, sw, sh = camera.rect_to_screen(tile.rect)
            pad = 4 * camera.zoom
            if label.text != text:
                label.text = text
            label.font_size = size
            label.color = LIVE if live else NOT_LIVE
            label.width = max(10, int(sw))
            label.position = (sx, camera.height - (sy + sh + pad), 0)
            shown.add(tile.name)
        for name in list(self.labels):
            if name not in shown:
                self.labels.pop(name).delete()

    def delete(self) -> None:
        for label in self.labels.values():
            label.delete()
        self.status.delete()
