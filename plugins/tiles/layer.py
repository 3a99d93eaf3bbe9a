"""Draws every visible tile: frame, title bar, state badge, focus highlight, guest image.

The engine keeps each tile's texture current (engine/frame_path.py); this layer only
draws it.  Per frame: one batch of flat rectangles, one vertex upload for all images, then one
small draw per tile (each tile has its own texture), then the labels in one batch.
Text is placed in screen space so it stays crisp, and dropped when too small to read.
"""

from __future__ import annotations

from typing import Any

import pyglet
from pyglet import gl

from geometry_os import api
from geometry_os.api import TITLE_BAR_HEIGHT as TITLE_H
from geometry_os.api import Tile, TileState
from geometry_os.render.geometry import QuadBatch
from geometry_os.render.shaders import load_source
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
        folder = shell.shaders_dir
        self.chain = shell.tile_chain
        self.program = self.chain.program(shell, "tile", lambda: (
            load_source(folder / "tile.vert"),
            load_source(folder / "tile.frag", include_dirs=[folder], virtual={"tile_effects": self.chain.generated()})))
        self.rects = SolidRects(shell)
        self.images = QuadBatch([(0, 2), (1, 2)])
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
        drawable = [t for t in tiles if t.texture is not None and t.texture.width and not t.too_large]
        if not drawable:
            return
        self.images.clear()
        for tile in drawable:
            r = tile.image_rect
            self.images.add(r.x, r.y, r.x + r.w, r.y + r.h, uv=(0.0, 0.0, 1.0, 1.0))
        self.images.upload()
        self.chain.refresh(self.program)  # the scene's effect list or a left-out effect was edited
        program = self.program.program
        program.use()
        camera = self.shell.camera
        program["u_matrix"] = camera.matrix()
        _set(program, "u_frame", 0)
        _set(program, "u_time", self.shell.time)
        _set(program, "u_zoom", camera.zoom)
        _set(program, "u_resolution", (float(camera.width), float(camera.height)))
        self.chain.set_uniforms(program)
        gl.glActiveTexture(gl.GL_TEXTURE0)
        for index, tile in enumerate(drawable):
            r = tile.image_rect
            _set(program, "u_frame_size", (float(tile.frame_size[0]), float(tile.frame_size[1])))
            _set(program, "u_tile_size", (r.w * camera.zoom, r.h * camera.zoom))
            _set(program, "u_focus", 1.0 if tile is self.shell.focused else 0.0)
            _set(program, "u_state", STATE_INDEX[tile.ctx.state])
            _set(program, "u_cpu_load", tile.cpu_load)
            _set(program, "u_update_rate", tile.update_rate)
            for effect in self.chain.active:
                if effect.kind.per_tile is not None:
                    for name, value in effect.kind.per_tile(effect.params, tile, self.shell).items():
                        _set(program, name, value)
            gl.glBindTexture(gl.GL_TEXTURE_2D, tile.texture.id)
            self.images.draw(index * 6, 6)
        program.stop()

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
        self.images.delete()


def _set(program: Any, name: str, value: Any) -> None:
    """Set a uniform if the program uses it (the compiler drops unused ones)."""
    if name in program.uniforms:
        program[name] = value
