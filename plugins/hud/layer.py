"""Draws the HUD text in the top-left corner over a dark panel."""

from __future__ import annotations

import pyglet

from geometry_os import api
from geometry_os.render.solid import SolidRects

PADDING = 8


class HudLayer:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.rects = SolidRects(shell)
        self.label = pyglet.text.Label("", font_name="DejaVu Sans Mono", font_size=10, multiline=True, width=520,
                                       color=(220, 230, 240, 255), anchor_y="top")

    def text(self) -> str:
        shell = self.shell
        lines = [f"{shell.stats.fps:5.1f} FPS  {shell.stats.frame_ms:5.2f} ms/frame  zoom {shell.camera.zoom:.2f}"]
        for tile in shell.tiles:
            lines.append(f"{tile.name:<12.12} {tile.ctx.state.value:<8} {tile.update_rate:6.1f} upd/s"
                         f"  cpu {tile.cpu_load * 100:3.0f}%")
        focus = shell.focused.name if shell.focused else "map"
        lines.append(f"focus: {focus}")
        return "\n".join(lines)

    def draw(self) -> None:
        if not self.shell.hud_visible:
            return
        text = self.text()
        if text != self.label.text:
            self.label.text = text
        self.label.x, self.label.y = PADDING * 2, self.shell.camera.height - PADDING * 2
        self.rects.clear()
        self.rects.add(PADDING, PADDING, PADDING * 3 + self.label.content_width,
                       PADDING * 3 + self.label.content_height, (0.0, 0.0, 0.0, 0.6))
        self.rects.draw(self.shell.screen_matrix())
        self.label.draw()
