"""The geometry of arranging tiles: snapping, resizing with the guest's aspect, grid layout.

Pure functions on world rectangles (x, y, w, h; y down), so they are tested without a
window.  Snapping works in *screen* pixels (a tile's edge within :data:`SNAP_PX` of a
line jumps to it), so it feels the same at every zoom.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from geometry_os import api

SNAP_PX = 8.0  # an edge this close (screen pixels) to a grid line or another tile's edge snaps to it
MIN_SIZE = (80.0, 60.0)  # the smallest image area a drag or a command may leave (world units)
GRID_MIN_PX = 8.0  # the map grid's finest lines are at least this far apart (shaders/grid.frag)
ARRANGE_GAP = 40.0  # between tiles laid out in a grid (world units)

Rect = tuple[float, float, float, float]


def grid_step(zoom: float) -> float:
    """The spacing of the map grid's finest lines drawn at ``zoom``: a power of ten, at least
    :data:`GRID_MIN_PX` screen pixels apart (the rule of shaders/grid.frag)."""
    return float(10.0 ** math.ceil(math.log10(GRID_MIN_PX / zoom)))


def _nearest(value: float, lines: Iterable[float], reach: float) -> float | None:
    """The line nearest to ``value`` within ``reach``, or None."""
    best: float | None = None
    for line in lines:
        if abs(line - value) <= reach and (best is None or abs(line - value) < abs(best - value)):
            best = line
    return best


def snap_offset(edges: Sequence[float], lines: Sequence[float], step: float, reach: float) -> float:
    """How far to shift a moving rectangle along one axis so that one of its ``edges`` lands
    on one of ``lines`` (other tiles' edges, preferred) or else on the grid of ``step``;
    0 when nothing is within ``reach``."""
    best: float | None = None
    for edge in edges:
        line = _nearest(edge, lines, reach)
        if line is not None and (best is None or abs(line - edge) < abs(best)):
            best = line - edge
    if best is not None:
        return best
    for edge in edges:
        grid = round(edge / step) * step
        if abs(grid - edge) <= reach and (best is None or abs(grid - edge) < abs(best)):
            best = grid - edge
    return best or 0.0


def footprint(rect: Rect) -> Rect:
    """A tile's image area plus its title bar above it: what is seen, and what snaps."""
    x, y, w, h = rect
    return x, y - api.TITLE_BAR_HEIGHT, w, h + api.TITLE_BAR_HEIGHT


def edges_of(rects: Iterable[Rect]) -> tuple[list[float], list[float]]:
    """Every vertical (x) and horizontal (y) edge of the footprints of ``rects``."""
    xs: list[float] = []
    ys: list[float] = []
    for rect in rects:
        x, y, w, h = footprint(rect)
        xs += [x, x + w]
        ys += [y, y + h]
    return xs, ys


def moved(rects: Sequence[Rect], dx: float, dy: float, others: Sequence[Rect], zoom: float,
          snap: bool) -> tuple[float, float]:
    """The offset to move ``rects`` (the tiles dragged together) by, given the pointer moved
    (dx, dy) world units: snapped so that the group's outer edges meet other tiles' edges or
    the grid."""
    if not snap:
        return dx, dy
    group = bounds([footprint((x + dx, y + dy, w, h)) for x, y, w, h in rects])
    reach = SNAP_PX / zoom
    step = grid_step(zoom)
    xs, ys = edges_of(others)
    gx, gy, gw, gh = group
    return (dx + snap_offset([gx, gx + gw], xs, step, reach),
            dy + snap_offset([gy, gy + gh], ys, step, reach))


def bounds(rects: Iterable[Rect]) -> Rect:
    rects = list(rects)
    x0 = min(r[0] for r in rects)
    y0 = min(r[1] for r in rects)
    x1 = max(r[0] + r[2] for r in rects)
    y1 = max(r[1] + r[3] for r in rects)
    return x0, y0, x1 - x0, y1 - y0


def resized(rect: Rect, edges: str, dx: float, dy: float, aspect: float | None, others: Sequence[Rect],
            zoom: float, snap: bool) -> Rect:
    """``rect`` (an image area) with its ``edges`` ("l", "r", "t", "b" or a corner such as "rb")
    dragged by (dx, dy) world units.

    A corner keeps ``aspect`` (the guest screen's width / height, None when unknown), so
    the guest fills the tile with no bars; an edge changes one side only (the image keeps
    its aspect inside).  The moving edges snap like a move does; the size never drops
    below :data:`MIN_SIZE`.  The opposite edges stay where they are.
    """
    x, y, w, h = rect
    left, right, top, bottom = x, x + w, y, y + h
    reach, step = SNAP_PX / zoom, grid_step(zoom)
    xs, ys = edges_of(others)
    if "l" in edges:
        left += dx
        left += snap_offset([left], xs, step, reach) if snap else 0.0
        left = min(left, right - MIN_SIZE[0])
    if "r" in edges:
        right += dx
        right += snap_offset([right], xs, step, reach) if snap else 0.0
        right = max(right, left + MIN_SIZE[0])
    if "t" in edges:
        top += dy
        top += snap_offset([top - api.TITLE_BAR_HEIGHT], ys, step, reach) if snap else 0.0
        top = min(top, bottom - MIN_SIZE[1])
    if "b" in edges:
        bottom += dy
        bottom += snap_offset([bottom], ys, step, reach) if snap else 0.0
        bottom = max(bottom, top + MIN_SIZE[1])
    w, h = right - left, bottom - top
    if aspect and len(edges) == 2:  # a corner: the width leads, the height follows the guest's shape
        h = max(w / aspect, MIN_SIZE[1])
        w = h * aspect
        left = right - w if "l" in edges else left
        top = bottom - h if "t" in edges else top
    return left, top, w, h


def grid_layout(rects: Sequence[Rect], gap: float = ARRANGE_GAP) -> list[Rect]:
    """``rects`` laid out in a grid, in their order, row by row: as many columns as rows (or
    one more), each cell as large as the largest tile, starting at the group's top-left
    corner.  Sizes are kept."""
    if not rects:
        return []
    columns = math.ceil(math.sqrt(len(rects)))
    cell_w = max(w for _, _, w, _ in rects) + gap
    cell_h = max(h for _, _, _, h in rects) + api.TITLE_BAR_HEIGHT + gap
    x0 = min(x for x, _, _, _ in rects)
    y0 = min(y for _, y, _, _ in rects)
    return [(x0 + (i % columns) * cell_w, y0 + (i // columns) * cell_h, w, h)
            for i, (_, _, w, h) in enumerate(rects)]


def keyboard_resize(rect: Rect, dw: float, dh: float) -> Rect:
    """``rect`` grown (or shrunk) by (dw, dh) from its top-left corner, never below :data:`MIN_SIZE`."""
    x, y, w, h = rect
    return x, y, max(MIN_SIZE[0], w + dw), max(MIN_SIZE[1], h + dh)
