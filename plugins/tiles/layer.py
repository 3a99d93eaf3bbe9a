"""Draws every visible tile: frame, title bar, state badge, focus highlight, guest image.

The engine keeps each tile's texture current (engine/frame_path.py); this layer only
draws it, through the scene's tile-stage effects (:class:`~geometry_os.render.runner.ChainRunner`:
with only single-pass effects that is one draw per tile).  Per frame: one batch of flat
rectangles, the images, then the labels in one batch.  A tile outside the frame's
scissor box (zoom-aware streaming redraws only around what changed) is not drawn at
all, so its effects' passes do not run.  Text is placed in screen space so it stays
crisp, and dropped when too small to read.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import pyglet
from pyglet import gl

from geometry_os import api
from geometry_os.api import TITLE_BAR_HEIGHT as TITLE_H
from geometry_os.api import Tile, TileState
from geometry_os.render.runner import ChainRunner, Texture, quad_matrix
from geometry_os.render.solid import SolidRects

BORDER = 3.0  # focus frame, world units
MIN_TEXT_PX = 7.0  # below this (screen pixels) text is not drawn
FONT_SIZES = (6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 24, 28, 32, 40, 48, 64)

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
        self.rects = SolidRects(shell)
        self.text_batch = pyglet.graphics.Batch()
        self.labels: dict[str, TileLabels] = {}

    # ------------------------------------------------------------------ draw
    def visible_tiles(self) -> list[Tile]:
        view = self.shell.camera.visible_world()
        return [t for t in self.shell.tiles if t.footprint.intersects(view)]

    def draw(self) -> None:
        camera = self.shell.camera
        tiles = self.visible_tiles()
        self.rects.clear()
        for tile in tiles:
            self._add_frame(tile)
        self.rects.draw(camera.matrix())
        self._draw_images(tiles)
        self._place_labels(tiles)
        self.text_batch.draw()

    def _add_frame(self, tile: Tile) -> None:
        r = tile.rect
        focused = tile is self.shell.focused
        if focused:
            self.rects.outline(r.x, r.y - TITLE_H, r.x + r.w, r.y + r.h, BORDER, FOCUS)
        if tile.texture is not None and tile.texture.width and not tile.too_large:
            # Only the margins the guest image leaves: shading the body under an opaque
            # image costs a software renderer as much as the image itself.
            i = tile.image_rect
            for x0, y0, x1, y1 in ((r.x, r.y, i.x, r.y + r.h), (i.x + i.w, r.y, r.x + r.w, r.y + r.h),
                                   (i.x, r.y, i.x + i.w, i.y), (i.x, i.y + i.h, i.x + i.w, r.y + r.h)):
                if x1 > x0 and y1 > y0:
                    self.rects.add(x0, y0, x1, y1, BODY)
        else:
            self.rects.add(r.x, r.y, r.x + r.w, r.y + r.h, BODY)
        self.rects.add(r.x, r.y - TITLE_H, r.x + r.w, r.y, TITLE_BAR_FOCUSED if focused else TITLE_BAR)
        badge_w = min(r.w * 0.3, 92.0)
        inset = 5.0
        self.rects.add(r.x + r.w - badge_w - inset, r.y - TITLE_H + inset, r.x + r.w - inset, r.y - inset,
                       STATE_COLORS[tile.ctx.state])

    def _draw_images(self, tiles: list[Tile]) -> None:
        runner = self.runner
        runner.begin(self.shell)  # the scene's effect list, a parameter or an effect's file may have changed
        camera = self.shell.camera
        matrix = camera.matrix()
        region = _scissor_box()
        common = {"u_time": self.shell.time, "u_zoom": camera.zoom,
                  "u_resolution": (float(camera.width), float(camera.height))}
        for tile in tiles:
            texture = tile.texture
            if texture is None or not texture.width or tile.too_large:
                continue
            r = tile.image_rect
            sx, sy, sw, sh = camera.rect_to_screen(r)
            if region is not None and not _overlaps(region, (sx, camera.height - sy - sh, sw, sh)):
                continue  # not redrawn this frame: its passes need not run
            uniforms = {**common, "u_frame_size": (float(texture.width), float(texture.height)),
                        "u_tile_size": (sw, sh), "u_focus": 1.0 if tile is self.shell.focused else 0.0,
                        "u_state": STATE_INDEX[tile.ctx.state], "u_cpu_load": tile.cpu_load,
                        "u_update_rate": tile.update_rate}
            runner.draw(tile.name, Texture(texture.id, texture.width, texture.height),
                        quad_matrix(matrix, r.x, r.y, r.w, r.h), (sw, sh), self.shell.target, uniforms,
                        self.shell.frame_dt, per_tile=functools.partial(self._per_tile, tile=tile))
        runner.end()

    def _per_tile(self, effect: Any, *, tile: Tile) -> dict[str, Any]:
        result: dict[str, Any] = effect.kind.per_tile(effect.params, tile, self.shell)
        return result

    def _place_labels(self, tiles: list[Tile]) -> None:
        camera = self.shell.camera
        visible = {t.name for t in tiles}
        for name in list(self.labels):
            if name not in visible:
                self.labels.pop(name).delete()
        bar_px = TITLE_H * camera.zoom
        size = font_size_for(bar_px)
        for tile in tiles:
            labels = self.labels.get(tile.name)
            if labels is None:
                labels = self.labels[tile.name] = TileLabels(self.text_batch)
            sx, sy, sw, _ = camera.rect_to_screen(tile.rect)
            flip = camera.height  # pyglet labels use y-up window coordinates
            layout: dict[str, Any] = {}
            if size is not None:
                pad = 8 * camera.zoom
                y = flip - (sy - bar_px / 2)
                layout["title"] = (tile.title, sx + pad, y, size)
                layout["badge"] = (tile.ctx.state.value, sx + sw - pad, y, max(FONT_SIZES[0], size - 2))
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
        self.runner.delete()


def _scissor_box() -> tuple[int, int, int, int] | None:
    """The frame's scissor box (x, y up, w, h), or None when the whole frame is drawn."""
    if not gl.glIsEnabled(gl.GL_SCISSOR_TEST):
        return None
    box = (gl.GLint * 4)()
    gl.glGetIntegerv(gl.GL_SCISSOR_BOX, ctypes.cast(box, ctypes.POINTER(gl.GLint)))
    return box[0], box[1], box[2], box[3]


def _overlaps(box: tuple[int, int, int, int], rect: tuple[float, float, float, float]) -> bool:
    """Whether a box and a rectangle (both x, y, w, h in GL window pixels) share any area."""
    return rect[0] < box[0] + box[2] and box[0] < rect[0] + rect[2] and rect[1] < box[1] + box[3] \
        and box[1] < rect[1] + rect[3]
