"""Shows development errors (a shader that failed to compile, a scene edit that was
not applied) across the bottom of the window, whatever the HUD toggle says."""

from __future__ import annotations

import pyglet

from geometry_os import api
from geometry_os.render.solid import SolidRects

PADDING = 8


class ErrorsLayer:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.rects = SolidRects(shell)
        self.label = pyglet.text.Label("", font_name="DejaVu Sans Mono", font_size=10, multiline=True,
                                       width=max(100, shell.camera.width - 4 * PADDING),
                                       color=(255, 200, 200, 255), anchor_y="bottom")

    def draw(self) -> None:
        lines = self.shell.errors()
        if not lines:
            return
        text = "\n".join(lines[:12])
        if text != self.label.text:
            self.label.text = text
        width, height = self.shell.camera.width, self.shell.camera.height
        self.label.width = max(100, width - 4 * PADDING)
        self.label.x, self.label.y = 2 * PADDING, 2 * PADDING
        top = height - (3 * PADDING + self.label.content_height)
        self.rects.clear()
        self.rects.add(PADDING, top, width - PADDING, height - PADDING, (0.35, 0.0, 0.0, 0.85))
        self.rects.draw(self.shell.screen_matrix())
        self.label.draw()
