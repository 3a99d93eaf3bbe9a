"""Clicking on the map: focus the tile under the pointer (or the map), double-click
flies to it.  Runs before the camera controls, after sinks that feed a focused VM."""

from __future__ import annotations

import time
from typing import Any

from pyglet.window import mouse

from geometry_os import api

DOUBLE_CLICK_SECONDS = 0.35
DOUBLE_CLICK_PX = 5.0  # GTK's double-click distance: a press further away starts a new click


class TilePicker:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self._last_click: tuple[float, float, float, Any] = (0.0, 0.0, 0.0, None)

    def on_mouse_press(self, sx: float, sy: float, button: int, modifiers: int) -> bool:
        if button != mouse.LEFT:
            return False
        tile = self.shell.tile_at(sx, sy)
        now = time.monotonic()
        last_time, last_x, last_y, last_tile = self._last_click
        self._last_click = (now, sx, sy, tile)
        # a press where the last one was, soon after: a title-bar drag followed at once by
        # a press where the tile now is must not count (it flew the camera mid-drag)
        near = abs(sx - last_x) <= DOUBLE_CLICK_PX and abs(sy - last_y) <= DOUBLE_CLICK_PX
        if tile is not None and tile is last_tile and near and now - last_time < DOUBLE_CLICK_SECONDS:
            self.shell.fly_to_tile(tile.index)
            return True
        self.shell.focus(tile)
        return True
