"""Draws the branch lines: from a VM to its first snapshots, from each snapshot to the ones taken
after it; a ghost's outline, its time under it, the VM's head (the snapshot its state grew
from) in a brighter colour, and the name field while a ghost is renamed.

Lines are elbows of horizontal and vertical strokes a constant number of screen pixels wide,
drawn in screen space (pyglet shapes and labels, y up) above the tiles and below the cards.
"""

from __future__ import annotations

import datetime
import itertools

import pyglet

from geometry_os import api
from geometry_os.plugins.snapshots import branches
from geometry_os.plugins.snapshots.rename import Editing, editing

LINE = (110, 160, 235, 230)
HEAD = (255, 180, 60, 255)
OUTLINE = (110, 160, 235, 160)
FIELD = (20, 24, 32, 245)
TEXT = (235, 240, 250, 255)
DIM = (170, 185, 210, 255)
LINE_PX = 2.0
FONT = "DejaVu Sans"
MIN_LABEL_PX = 60.0  # a ghost narrower than this on screen gets no time label


class BranchLayer:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.back, self.front = pyglet.graphics.Group(order=0), pyglet.graphics.Group(order=1)  # text on top
        self.key: object = None
        self.batch = pyglet.graphics.Batch()
        self.shapes: list[object] = []

    def draw(self) -> None:
        shell = self.shell
        ghosts = [t for t in shell.tiles if branches.is_ghost(t)]
        field = editing(shell)
        if not ghosts and field is None:
            return
        head = branches.branches_of(shell).head
        names = {t.name: t for t in shell.tiles}
        # rebuilt only when something it shows changed (the map redraws often while VMs run)
        key = (shell.camera.version, shell.camera.width, shell.camera.height, tuple(head.items()),
               None if field is None else (field.tile.name, field.text),
               tuple((t.name, tuple(t.footprint), t.spec.source.params) for t in shell.tiles))
        if key != self.key:
            self.key, self.batch = key, pyglet.graphics.Batch()
            self.shapes = self._build(self.batch, ghosts, names, head, field)
        self.batch.draw()

    def _build(self, batch: pyglet.graphics.Batch, ghosts: list[api.Tile], names: dict[str, api.Tile],
               head: dict[str, str], field: Editing | None) -> list[object]:
        keep: list[object] = []  # shapes and labels live as long as their batch
        for ghost in ghosts:
            params = branches.ghost_params(ghost)
            vm = names.get(params.vm)
            by_tag = {branches.ghost_params(g).tag: g for g in ghosts if branches.ghost_params(g).vm == params.vm}
            parent = by_tag.get(params.parent)
            is_head = vm is not None and head.get(vm.name) == params.tag
            color = HEAD if is_head else LINE
            if parent is not None:
                keep += self._elbow(batch, self._right(parent), self._left(ghost), color, across=True)
            elif vm is not None:
                keep += self._elbow(batch, self._bottom(vm, ghost), self._top(ghost), color, across=False)
            keep += self._outline(batch, ghost, HEAD if is_head else OUTLINE)
            keep += self._time(batch, ghost, params.time)
        if field is not None and field.tile in names.values():
            keep += self._field(batch, field.tile, field.text)
        return keep

    # ------------------------------------------------------------- geometry
    def _screen(self, wx: float, wy: float) -> tuple[float, float]:
        sx, sy = self.shell.camera.world_to_screen(wx, wy)
        return sx, self.shell.camera.height - sy  # pyglet's y goes up

    def _right(self, tile: api.Tile) -> tuple[float, float]:
        r = tile.footprint
        return self._screen(r.x + r.w, r.y + r.h / 2)

    def _left(self, tile: api.Tile) -> tuple[float, float]:
        r = tile.footprint
        return self._screen(r.x, r.y + r.h / 2)

    def _top(self, tile: api.Tile) -> tuple[float, float]:
        r = tile.footprint
        return self._screen(r.x + r.w / 2, r.y)

    def _bottom(self, vm: api.Tile, ghost: api.Tile) -> tuple[float, float]:
        """Where the line leaves the VM: its bottom edge, above the ghost when it can be."""
        r, g = vm.footprint, ghost.footprint
        x = min(max(g.x + g.w / 2, r.x + 12), r.x + r.w - 12)
        return self._screen(x, r.y + r.h)

    def _elbow(self, batch: pyglet.graphics.Batch, a: tuple[float, float], b: tuple[float, float],
               color: tuple[int, int, int, int], across: bool) -> list[object]:
        """a -> b as three strokes: across (horizontal, vertical, horizontal) or down (vertical first)."""
        (ax, ay), (bx, by) = a, b
        if across:
            mx = (ax + bx) / 2
            points = [(ax, ay), (mx, ay), (mx, by), (bx, by)]
        else:
            my = (ay + by) / 2
            points = [(ax, ay), (ax, my), (bx, my), (bx, by)]
        return [pyglet.shapes.Line(x0, y0, x1, y1, thickness=LINE_PX, color=color, batch=batch,
                                   group=self.back)
                for (x0, y0), (x1, y1) in itertools.pairwise(points) if (x0, y0) != (x1, y1)]

    def _outline(self, batch: pyglet.graphics.Batch, tile: api.Tile,
                 color: tuple[int, int, int, int]) -> list[object]:
        r = tile.footprint
        x0, y1 = self._screen(r.x, r.y)
        x1, y0 = self._screen(r.x + r.w, r.y + r.h)
        return [pyglet.shapes.Box(x0 - 2, y0 - 2, x1 - x0 + 4, y1 - y0 + 4, thickness=LINE_PX, color=color,
                                  batch=batch, group=self.back)]

    def _time(self, batch: pyglet.graphics.Batch, tile: api.Tile, taken: datetime.datetime) -> list[object]:
        r = tile.footprint
        x0, y0 = self._screen(r.x, r.y + r.h)
        if r.w * self.shell.camera.zoom < MIN_LABEL_PX:
            return []
        when = f"{taken:%H:%M:%S}" if taken.date() == datetime.date.today() else f"{taken:%Y-%m-%d %H:%M}"
        return [pyglet.text.Label(when, font_name=FONT, font_size=9, color=DIM, x=round(x0), y=round(y0 - 6),
                                  anchor_x="left", anchor_y="top", batch=batch, group=self.front)]

    def _field(self, batch: pyglet.graphics.Batch, tile: api.Tile, text: str) -> list[object]:
        """The name being typed, over the ghost's title bar (with a caret)."""
        r = tile.footprint
        x0, y1 = self._screen(r.x, r.y)
        x1, y0 = self._screen(r.x + r.w, r.y + api.TITLE_BAR_HEIGHT)
        height = max(18.0, y1 - y0)
        label = pyglet.text.Label(text + "|", font_name=FONT, font_size=10, color=TEXT, x=round(x0 + 6),
                                  y=round(y1 - height / 2), anchor_x="left", anchor_y="center", batch=batch,
                                  group=self.front)
        width = max(x1 - x0, label.content_width + 12.0)  # the field grows with the name
        return [pyglet.shapes.Rectangle(x0, y1 - height, width, height, color=FIELD, batch=batch,
                                        group=self.back),
                pyglet.shapes.Box(x0, y1 - height, width, height, thickness=LINE_PX, color=HEAD, batch=batch,
                                  group=self.back),
                label]
