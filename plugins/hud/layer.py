"""Draws the HUD text in the top-left corner over a dark panel.

One line per tile while they fit the window; when they would not, a summary instead:
the tiles counted by state and the busiest ones (CPU load, then screen updates).
"""

from __future__ import annotations

from collections import Counter

import pyglet

from geometry_os import api
from geometry_os.render.solid import SolidRects

PADDING = 8
LINE_PX = 16.0  # a line of the HUD's font, until the first text drawn measures it
BUSIEST = 8  # tiles the summary names


def tile_line(tile: api.Tile) -> str:
    return (f"{tile.name:<12.12} {tile.ctx.state.value:<8} {tile.update_rate:6.1f} upd/s"
            f"  cpu {tile.cpu_load * 100:3.0f}%")


def summary(tiles: list[api.Tile], busiest: int) -> list[str]:
    """The tiles counted by state, then the ``busiest`` ones, one line each."""
    counts = Counter(tile.ctx.state for tile in tiles)
    states = ", ".join(f"{counts[state]} {state.value}" for state in api.TileState if counts[state])
    ranked = sorted(tiles, key=lambda t: (t.cpu_load, t.update_rate), reverse=True)[:busiest]
    return [f"{len(tiles)} tiles: {states}", "busiest:", *(tile_line(tile) for tile in ranked)]


class HudLayer:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.rects = SolidRects(shell)
        self.label = pyglet.text.Label("", font_name="DejaVu Sans Mono", font_size=10, multiline=True, width=520,
                                       color=(220, 230, 240, 255), anchor_y="top")
        self.line_px = LINE_PX

    def text(self) -> str:
        shell = self.shell
        lines = [f"{shell.stats.fps:5.1f} FPS  {shell.stats.frame_ms:5.2f} ms/frame  zoom {shell.camera.zoom:.2f}"]
        tiles = list(shell.tiles)
        room = int((shell.camera.height - 4 * PADDING) / self.line_px) - 2  # the first and the last line
        if len(tiles) <= room:
            lines.extend(tile_line(tile) for tile in tiles)
        else:
            lines.extend(summary(tiles, max(1, min(BUSIEST, room - 2))))
        focus = shell.focused.name if shell.focused else "map"
        lines.append(f"focus: {focus}")
        return "\n".join(lines)

    def draw(self) -> None:
        if not self.shell.hud_visible:
            return
        text = self.text()
        if text != self.label.text:
            self.label.text = text
            self.line_px = self.label.content_height / (text.count("\n") + 1)
        self.label.x, self.label.y = PADDING * 2, self.shell.camera.height - PADDING * 2
        self.rects.clear()
        self.rects.add(PADDING, PADDING, PADDING * 3 + self.label.content_width,
                       PADDING * 3 + self.label.content_height, (0.0, 0.0, 0.0, 0.6))
        self.rects.draw(self.shell.screen_matrix())
        self.label.draw()
