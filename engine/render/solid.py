"""Flat-coloured rectangles, batched: one draw call per batch, an upload only after a change."""

from __future__ import annotations

from typing import Any

import numpy as np

from geometry_os.render.geometry import QuadBatch
from geometry_os.render.shaders import load_source

Color = tuple[float, float, float, float]


class SolidRects:
    """Rectangles added each frame in any coordinate space, drawn with a given matrix."""

    def __init__(self, shell: Any) -> None:
        folder = shell.shaders_dir
        self.program = shell.program("solid", lambda: (load_source(folder / "solid.vert"),
                                                       load_source(folder / "solid.frag")))
        self.batch = QuadBatch([(0, 2), (1, 4)])

    def clear(self) -> None:
        self.batch.clear()

    def add(self, x0: float, y0: float, x1: float, y1: float, color: Color) -> None:
        self.batch.add(x0, y0, x1, y1, *color)

    def put(self, first: int, quads: np.ndarray) -> None:
        """Rewrite rectangles ``first``... from rows (x0, y0, x1, y1, r, g, b, a): a batch kept
        across frames, not cleared, is uploaded again only after such a change."""
        self.batch.put(first, quads)

    def truncate(self, count: int) -> None:
        """Keep only the first ``count`` rectangles."""
        self.batch.truncate(count)

    def outline(self, x0: float, y0: float, x1: float, y1: float, width: float, color: Color) -> None:
        """A frame of ``width`` drawn outside the rectangle."""
        self.add(x0 - width, y0 - width, x1 + width, y0, color)
        self.add(x0 - width, y1, x1 + width, y1 + width, color)
        self.add(x0 - width, y0, x0, y1, color)
        self.add(x1, y0, x1 + width, y1, color)

    def draw(self, matrix: tuple[float, ...]) -> None:
        if not self.batch.count:
            return
        program = self.program.program
        program.use()
        program["u_matrix"] = matrix
        self.batch.upload()
        self.batch.draw()
        program.stop()
