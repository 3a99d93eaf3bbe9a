"""The line at the bottom of the window that says a VM has the keyboard, and how to leave."""

from __future__ import annotations

import pyglet

from geometry_os import api
from geometry_os.render.solid import SolidRects

PADDING = 6


class HintLayer:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.rects = SolidRects(shell)
        self.label = pyglet.text.Label("", font_name="DejaVu Sans", font_size=11, color=(235, 240, 250, 255),
                                       anchor_x="center", anchor_y="bottom")

    def draw(self) -> None:
        from geometry_os.plugins.input import BRIDGES

        bridge = BRIDGES.get(self.shell)
        text = bridge.hint() if bridge is not None else None
        if text is None:
            return
        if text != self.label.text:
            self.label.text = text
        width, height = self.shell.camera.width, self.shell.camera.height
        self.label.x, self.label.y = width // 2, PADDING * 2
        half = self.label.content_width / 2 + PADDING * 2
        self.rects.clear()  # screen coordinates here are top-left, y down
        self.rects.add(width / 2 - half, height - self.label.content_height - PADDING * 3,
                       width / 2 + half, height - PADDING, (0.05, 0.20, 0.45, 0.85))
        self.rects.draw(self.shell.screen_matrix())
        self.label.draw()

    def delete(self) -> None:
        self.label.delete()
