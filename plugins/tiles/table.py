"""What the tiles layer keeps of each tile between frames: its frame rectangles and its batch row.

A tile's title bar, badge, body margins and focus frame are world-space rectangles that
change only when the tile does (moved, resized, a new frame size, another state, focus),
so they stay in one vertex buffer, a fixed run of :data:`QUADS` quads per tile, and only a
changed tile's quads are rewritten.  Likewise its row of the batched image pass
(:class:`~geometry_os.render.tile_batch.TileRows`).  Per frame each tile costs one key
comparison; culling against the view and the frame's scissor box is done on numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from geometry_os.api import TITLE_BAR_HEIGHT as TITLE_H
from geometry_os.api import Tile, TileState
from geometry_os.render.solid import SolidRects
from geometry_os.render.tile_batch import TileRows

QUADS = 10  # focus frame 4, body margins 4, title bar, badge
BORDER = 3.0  # focus frame, world units
STATE_COLORS = {
    TileState.BOOTING: (0.85, 0.65, 0.15, 1.0),
    TileState.RUNNING: (0.20, 0.70, 0.35, 1.0),
    TileState.PAUSED: (0.35, 0.55, 0.85, 1.0),
    TileState.STOPPED: (0.45, 0.45, 0.50, 1.0),
    TileState.FAILED: (0.85, 0.20, 0.20, 1.0),
}
STATE_INDEX = {state: index for index, state in enumerate(TileState)}
TITLE_BAR = (0.16, 0.18, 0.22, 1.0)
TITLE_BAR_FOCUSED = (0.22, 0.30, 0.45, 1.0)
BODY = (0.02, 0.02, 0.03, 1.0)
FOCUS = (0.35, 0.65, 1.0, 1.0)


class TileTable:
    """Per-tile drawing state, by the tile's place in the map's drawing order (its *slot*)."""

    def __init__(self, rects: SolidRects, rows: TileRows) -> None:
        self.rects = rects
        self.rows = rows
        self.tiles: list[Tile] = []
        self._keys: list[Any] = []
        self._loads: list[Any] = []
        self.footprints = np.zeros((0, 4), dtype=np.float64)  # x0, y0, x1, y1 (world)
        self.images = np.zeros((0, 4), dtype=np.float64)  # x, y, w, h (world)
        self.textures = np.zeros(0, dtype=np.int64)  # GL texture id, 0 when there is nothing to draw

    def sync(self, tiles: Sequence[Tile], focused: Tile | None) -> None:
        """Bring every slot up to date, rewriting only the tiles that changed."""
        count = len(tiles)
        if count != len(self.tiles):
            self._resize(count)
        self.tiles = list(tiles)
        keys, loads = self._keys, self._loads
        for slot, tile in enumerate(self.tiles):
            texture = tile.texture
            (x, y), (w, h) = tile.spec.position, tile.spec.size
            key = (tile, x, y, w, h, tile.frame_size, tile.ctx.state, tile is focused, tile.too_large,
                   texture.id if texture is not None else 0, texture.width if texture is not None else 0)
            load = (tile.cpu_load, tile.update_rate)  # measured once a second: only the row reads them
            if key != keys[slot]:
                keys[slot], loads[slot] = key, load
                self._write(slot, tile, tile is focused)
            elif load != loads[slot]:
                loads[slot] = load
                self._write_row(slot, tile, tile is focused)

    def visible(self, view: Any) -> np.ndarray:
        """Slots whose footprint intersects ``view`` (a WorldRect), as a boolean mask."""
        f = self.footprints
        mask: np.ndarray = ((f[:, 0] < view.x + view.w) & (view.x < f[:, 2]) & (f[:, 1] < view.y + view.h)
                               & (view.y < f[:, 3]))
        return mask

    def in_box(self, camera: Any, box: tuple[int, int, int, int]) -> np.ndarray:
        """Slots whose image on screen shares area with ``box`` (x, y up, w, h in GL window pixels)."""
        i = self.images
        sw, sh = i[:, 2] * camera.zoom, i[:, 3] * camera.zoom
        sx = (i[:, 0] - camera.x) * camera.zoom + camera.width / 2
        gy = camera.height - ((i[:, 1] - camera.y) * camera.zoom + camera.height / 2) - sh
        mask: np.ndarray = (sx < box[0] + box[2]) & (box[0] < sx + sw) & (gy < box[1] + box[3]) & (box[1] < gy + sh)
        return mask

    def _resize(self, count: int) -> None:
        self._keys = [None] * count
        self._loads = [None] * count
        self.footprints = np.zeros((count, 4), dtype=np.float64)
        self.images = np.zeros((count, 4), dtype=np.float64)
        self.textures = np.zeros(count, dtype=np.int64)
        self.rects.truncate(count * QUADS)

    def _write(self, slot: int, tile: Tile, focused: bool) -> None:
        r, texture = tile.rect, tile.texture
        drawable = texture is not None and bool(texture.width) and not tile.too_large
        i = tile.image_rect
        self.footprints[slot] = (r.x, r.y - TITLE_H, r.x + r.w, r.y + r.h)
        self.images[slot] = (i.x, i.y, i.w, i.h)
        self.textures[slot] = texture.id if drawable else 0
        self._write_row(slot, tile, focused)
        quads = np.zeros((QUADS, 8), dtype=np.float32)  # unused quads stay empty (zero area)
        for index, quad in enumerate(frame_quads(tile, focused, drawable)):
            quads[index] = quad
        self.rects.put(slot * QUADS, quads)

    def _write_row(self, slot: int, tile: Tile, focused: bool) -> None:
        i, texture = tile.image_rect, tile.texture
        width, height = (texture.width, texture.height) if texture is not None else (0, 0)
        self.rows.set(slot, (i.x, i.y, i.w, i.h, width, height, 1.0 if focused else 0.0, tile.cpu_load,
                             tile.update_rate, STATE_INDEX[tile.ctx.state]))


def frame_quads(tile: Tile, focused: bool, drawable: bool) -> list[tuple[float, ...]]:
    """The flat rectangles of a tile, in drawing order: focus frame, body, title bar, state badge."""
    r = tile.rect
    quads: list[tuple[float, ...]] = []
    if focused:
        x0, y0, x1, y1, b = r.x, r.y - TITLE_H, r.x + r.w, r.y + r.h, BORDER
        quads += [(x0 - b, y0 - b, x1 + b, y0, *FOCUS), (x0 - b, y1, x1 + b, y1 + b, *FOCUS),
                  (x0 - b, y0, x0, y1, *FOCUS), (x1, y0, x1 + b, y1, *FOCUS)]
    if drawable:
        # Only the margins the guest image leaves: shading the body under an opaque
        # image costs a software renderer as much as the image itself.
        i = tile.image_rect
        for x0, y0, x1, y1 in ((r.x, r.y, i.x, r.y + r.h), (i.x + i.w, r.y, r.x + r.w, r.y + r.h),
                               (i.x, r.y, i.x + i.w, i.y), (i.x, i.y + i.h, i.x + i.w, r.y + r.h)):
            if x1 > x0 and y1 > y0:
                quads.append((x0, y0, x1, y1, *BODY))
    else:
        quads.append((r.x, r.y, r.x + r.w, r.y + r.h, *BODY))
    quads.append((r.x, r.y - TITLE_H, r.x + r.w, r.y, *(TITLE_BAR_FOCUSED if focused else TITLE_BAR)))
    badge_w = min(r.w * 0.3, 92.0)
    inset = 5.0
    quads.append((r.x + r.w - badge_w - inset, r.y - TITLE_H + inset, r.x + r.w - inset, r.y - inset,
                  *STATE_COLORS[tile.ctx.state]))
    return quads
