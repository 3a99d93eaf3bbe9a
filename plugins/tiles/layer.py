"""Draws every visible tile: frame, title bar, state badge, focus highlight, guest image.

The engine keeps each tile's texture current (engine/frame_path.py); this layer only
draws it, through the scene's tile-stage effects.  Per frame: one batch of flat
rectangles kept across frames (plugins/tiles/table.py: only a changed tile's are
rewritten), the images, then the labels in one batch.  With no effect or only fused
single-pass ones the images are one program and a buffer of per-tile rows
(:class:`~geometry_os.render.tile_batch.TileBatch`: per tile only a texture bind and a
draw); other chains run tile by tile (:class:`~geometry_os.render.runner.ChainRunner`).  A tile outside the frame's
scissor box (zoom-aware streaming redraws only around what changed) is not drawn at
all, so its effects' passes do not run.  Text is placed in screen space so it stays
crisp, and dropped when too small to read.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import numpy as np
import pyglet
from pyglet import gl

from geometry_os import api
from geometry_os.api import TITLE_BAR_HEIGHT as TITLE_H
from geometry_os.api import Tile, TileState
from geometry_os.plugins.tiles.table import FOCUS as FOCUS  # the colours, for tests reading pixels
from geometry_os.plugins.tiles.table import STATE_INDEX, TileTable
from geometry_os.plugins.tiles.table import TITLE_BAR as TITLE_BAR
from geometry_os.plugins.tiles.table import TITLE_BAR_FOCUSED as TITLE_BAR_FOCUSED
from geometry_os.render.runner import ChainRunner, Texture, quad_matrix
from geometry_os.render.solid import SolidRects
from geometry_os.render.tile_batch import TileBatch

MIN_TEXT_PX = 7.0  # below this (screen pixels) text is not drawn
FONT_SIZES = (6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 24, 28, 32, 40, 48, 64)


def font_size_for(pixels: float) -> int | None:
    """The largest standard font size whose glyphs fit ``pixels`` of height (None: too small)."""
    if pixels < MIN_TEXT_PX:
        return None
    points = pixels * 0.55 * 72 / 96
    fitting = [size for size in FONT_SIZES if size <= points]
    return fitting[-1] if fitting else FONT_SIZES[0]


class TileLabels:
    """The text of one tile: its title, its state badge and a message (failure reason)."""

    def __init__(self, batch: pyglet.graphics.Batch) -> None:
        self.title = pyglet.text.Label("", color=(230, 235, 240, 255), font_name="DejaVu Sans", batch=batch,
                                       anchor_y="center")
        self.badge = pyglet.text.Label("", color=(255, 255, 255, 255), anchor_x="right", font_name="DejaVu Sans",
                                       batch=batch, anchor_y="center")
        self.message = pyglet.text.Label("", color=(255, 220, 220, 255), multiline=True, width=100,
                                         font_name="DejaVu Sans", batch=batch, anchor_y="top")
        self.key: tuple[Any, ...] = ()

    def place(self, key: tuple[Any, ...], layout: dict[str, Any]) -> None:
        if key == self.key:
            return
        self.key = key
        for name in ("title", "badge", "message"):
            label: pyglet.text.Label = getattr(self, name)
            spec = layout.get(name)
            label.visible = spec is not None
            if spec is None:
                continue
            text, x, y, size = spec[:4]
            if name == "message":
                label.width = max(10, int(spec[4]))
            if label.text != text:
                label.text = text
            if label.font_size != size:
                label.font_size = size
            label.position = (x, y, 0)

    def delete(self) -> None:
        for label in (self.title, self.badge, self.message):
            label.delete()


class TilesLayer:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.runner = ChainRunner(shell.tile_chain)
        self.runner.begin(shell)  # builds the effects now: one that cannot be built is reported at start
        self.runner.end()
        self.batch = TileBatch(self.runner)
        self.rects = SolidRects(shell)
        self.table = TileTable(self.rects, self.batch.rows)
        self.text_batch = pyglet.graphics.Batch()
        self.labels: dict[str, TileLabels] = {}

    # ------------------------------------------------------------------ draw
    def draw(self) -> None:
        camera = self.shell.camera
        table = self.table
        table.sync(self.shell.tiles, self.shell.focused)
        # every tile's frame, off screen ones too: the GPU drops those for less than a Python test costs
        self.rects.draw(camera.matrix())
        visible = table.visible(camera.visible_world())
        self._draw_images(visible)
        self._place_labels(visible)
        self.text_batch.draw()

    def _draw_images(self, visible: np.ndarray) -> None:
        runner = self.runner
        runner.begin(self.shell)  # the scene's effect list, a parameter or an effect's file may have changed
        table = self.table
        region = _scissor_box()
        drawn = visible & (table.textures != 0)
        if region is not None:
            drawn &= table.in_box(self.shell.camera, region)  # not redrawn this frame: its passes need not run
        slots = np.flatnonzero(drawn)
        camera = self.shell.camera
        common = {"u_time": self.shell.time, "u_zoom": camera.zoom,
                  "u_resolution": (float(camera.width), float(camera.height))}
        if self.batch.ready():
            self.batch.draw(slots.tolist(), table.textures[slots].tolist(), self.shell.target,
                            {**common, "u_camera": camera.matrix()})
        else:
            self._draw_one_by_one([table.tiles[slot] for slot in slots], common)
        runner.end()

    def _draw_one_by_one(self, tiles: list[Tile], common: dict[str, Any]) -> None:
        """The chain's passes tile by tile (multi-pass effects, feedback, per-tile uniforms)."""
        camera = self.shell.camera
        matrix = camera.matrix()
        for tile in tiles:
            texture = tile.texture
            r = tile.image_rect
            _, _, sw, sh = camera.rect_to_screen(r)
            uniforms = {**common, "u_frame_size": (float(texture.width), float(texture.height)),
                        "u_tile_size": (sw, sh), "u_focus": 1.0 if tile is self.shell.focused else 0.0,
                        "u_state": STATE_INDEX[tile.ctx.state], "u_cpu_load": tile.cpu_load,
                        "u_update_rate": tile.update_rate}
            self.runner.draw(tile.name, Texture(texture.id, texture.width, texture.height),
                             quad_matrix(matrix, r.x, r.y, r.w, r.h), (sw, sh), self.shell.target, uniforms,
                             self.shell.frame_dt, per_tile=functools.partial(self._per_tile, tile=tile))

    def _per_tile(self, effect: Any, *, tile: Tile) -> dict[str, Any]:
        result: dict[str, Any] = effect.kind.per_tile(effect.params, tile, self.shell)
        return result

    def _place_labels(self, visible: np.ndarray) -> None:
        camera = self.shell.camera
        bar_px = TITLE_H * camera.zoom
        size = font_size_for(bar_px)
        if size is None:  # too small to read: no text at all, and no loop over the tiles for it
            for old in self.labels.values():
                old.delete()
            self.labels.clear()
            return
        tiles = [self.table.tiles[slot] for slot in np.flatnonzero(visible)]
        shown = {t.name for t in tiles}
        for gone in [n for n in self.labels if n not in shown]:
            self.labels.pop(gone).delete()
        for tile in tiles:
            labels = self.labels.get(tile.name)
            if labels is None:
                labels = self.labels[tile.name] = TileLabels(self.text_batch)
            sx, sy, sw, _ = camera.rect_to_screen(tile.rect)
            flip = camera.height  # pyglet labels use y-up window coordinates
            pad = 8 * camera.zoom
            y = flip - (sy - bar_px / 2)
            badge = tile.ctx.badge or tile.ctx.state.value
            layout: dict[str, Any] = {"title": (tile.title, sx + pad, y, size),
                                      "badge": (badge, sx + sw - pad, y, max(FONT_SIZES[0], size - 2))}
            message = self._message(tile)
            if message:
                layout["message"] = (message, sx + pad, flip - sy - pad, size, sw - 2 * pad)
            labels.place((camera.version, size, tile.title, tile.ctx.state, tile.ctx.reason, tile.too_large), layout)

    @staticmethod
    def _message(tile: Tile) -> str:
        if tile.ctx.state is TileState.FAILED:
            return tile.ctx.reason or "failed"
        if tile.too_large:
            w, h = tile.frame_size
            return f"guest screen {w}x{h} is larger than this GPU's texture limit"
        if tile.texture is None and tile.ctx.state is TileState.BOOTING:
            return "starting..."
        return ""

    def delete(self) -> None:
        for labels in self.labels.values():
            labels.delete()
        self.batch.delete()
        self.runner.delete()


def _scissor_box() -> tuple[int, int, int, int] | None:
    """The frame's scissor box (x, y up, w, h), or None when the whole frame is drawn."""
    if not gl.glIsEnabled(gl.GL_SCISSOR_TEST):
        return None
    box = (gl.GLint * 4)()
    gl.glGetIntegerv(gl.GL_SCISSOR_BOX, ctypes.cast(box, ctypes.POINTER(gl.GLint)))
    return box[0], box[1], box[2], box[3]

