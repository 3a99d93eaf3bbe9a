"""The desktop's input sink on the map: arranging tiles with the mouse and the keyboard,
selecting them, shortcuts of every plugin's actions, the palette key and dropped files.

Priority 75: below the VM input bridge (a focused VM keeps its keys and the clicks on its
image), above the tile picker (which still focuses a tile whose title bar is pressed, and
flies to it on a double click) and the camera controls.
"""

from __future__ import annotations

import logging
from pathlib import Path

import attrs
from pyglet.window import key, mouse

from geometry_os import api
from geometry_os.plugins.desktop import arrange
from geometry_os.plugins.desktop.desktop import desktop_of
from geometry_os.plugins.desktop.overlay import Menu, Palette
from geometry_os.plugins.desktop.shortcuts import SIGNIFICANT, matches

log = logging.getLogger(__name__)

EDGE_PX = 6.0  # how far outside a tile's edge (screen pixels) a press grabs the edge; half as far inside
DRAG_THRESHOLD_PX = 3.0  # a press that moves less than this is a click
ARROWS = {key.LEFT: (-1, 0), key.RIGHT: (1, 0), key.UP: (0, -1), key.DOWN: (0, 1)}
PALETTE_KEYS = ((key.F1, 0), (key.P, key.MOD_CTRL | key.MOD_SHIFT))


@attrs.define
class Drag:
    kind: str  # "move", "resize" or "band"
    start: tuple[float, float]  # screen point of the press
    tiles: list[api.Tile] = attrs.field(factory=list)
    rects: list[arrange.Rect] = attrs.field(factory=list)  # their image areas when the drag began
    edges: str = ""  # the edges a resize drags
    adding: bool = False  # a band with Shift adds to the selection
    moved: bool = False


def rect_of(tile: api.Tile) -> arrange.Rect:
    r = tile.rect
    return r.x, r.y, r.w, r.h


class ArrangeInput:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.desktop = desktop_of(shell)
        self.drag: Drag | None = None

    # ---------------------------------------------------------- hit testing
    def hit(self, sx: float, sy: float) -> tuple[str, api.Tile, str] | None:
        """What is under a screen point: ("resize", tile, edges), ("title", tile, "") or
        ("body", tile, ""), topmost tile first."""
        camera = self.shell.camera
        wx, wy = camera.screen_to_world(sx, sy)
        out, inside = EDGE_PX / camera.zoom, EDGE_PX / 2 / camera.zoom
        for tile in reversed(list(self.shell.tiles)):
            x, y, w, h = tile.footprint
            if not (x - out <= wx <= x + w + out and y - out <= wy <= y + h + out):
                continue
            edges = ""
            edges += "l" if x - out <= wx <= x + inside else "r" if x + w - inside <= wx <= x + w + out else ""
            edges += "t" if wy < y else "b" if y + h - inside <= wy <= y + h + out else ""
            if edges:
                return "resize", tile, edges
            return ("title" if wy < tile.rect.y else "body"), tile, ""
        return None

    # ---------------------------------------------------------------- mouse
    def on_mouse_press(self, sx: float, sy: float, button: int, modifiers: int) -> bool:
        found = self.hit(sx, sy)
        desktop = self.desktop
        shift = bool(modifiers & key.MOD_SHIFT)
        if button == mouse.RIGHT:
            if found is None or found[0] != "title":
                return False  # the right button pans the map
            tile = found[1]
            selection = desktop.selection
            tiles = selection if tile in selection and len(selection) > 1 else [tile]
            desktop.overlay = Menu(desktop, tiles, (sx, sy))
            self.shell.redraw()
            return True
        if button != mouse.LEFT:
            return False
        if found is None:
            if not shift:
                desktop.select([])
            self.drag = Drag("band", (sx, sy), adding=shift)
            return False  # the picker gives the keyboard to the map
        kind, tile, edges = found
        if shift and kind != "resize":
            desktop.toggle(tile)
            return True
        if tile not in desktop.selection:
            desktop.select([tile])
        if kind == "resize":
            self._begin(Drag("resize", (sx, sy), [tile], [rect_of(tile)], edges))
            return True
        if kind == "title":
            tiles = desktop.selection
            self._begin(Drag("move", (sx, sy), tiles, [rect_of(t) for t in tiles]))
        return False  # the picker focuses the tile (a double click flies to it)

    def _begin(self, drag: Drag) -> None:
        self.drag = drag
        camera = self.shell.camera
        camera.set(camera.x, camera.y, camera.zoom)  # stop a flight: the camera holds still while dragging

    def on_mouse_drag(self, sx: float, sy: float, dx: float, dy: float, buttons: int, modifiers: int) -> bool:
        drag = self.drag
        if drag is None or not buttons & mouse.LEFT:
            return False
        if not drag.moved and abs(sx - drag.start[0]) + abs(sy - drag.start[1]) < DRAG_THRESHOLD_PX:
            return True
        drag.moved = True
        zoom = self.shell.camera.zoom
        wdx, wdy = (sx - drag.start[0]) / zoom, (sy - drag.start[1]) / zoom
        snap = not modifiers & key.MOD_CTRL  # Ctrl held: no snapping
        others = [rect_of(t) for t in self.shell.tiles if t not in drag.tiles]
        if drag.kind == "move":
            ox, oy = arrange.moved(drag.rects, wdx, wdy, others, zoom, snap)
            for tile, (x, y, w, h) in zip(drag.tiles, drag.rects, strict=True):
                self.shell.place_tile(tile, (x + ox, y + oy), (w, h))
        elif drag.kind == "resize":
            tile = drag.tiles[0]
            fw, fh = tile.frame_size
            x, y, w, h = arrange.resized(drag.rects[0], drag.edges, wdx, wdy, fw / fh if fw and fh else None,
                                         others, zoom, snap)
            self.shell.place_tile(tile, (x, y), (w, h))
        else:
            self.desktop.band = (*drag.start, sx, sy)
            self.shell.redraw()
        return True

    def on_mouse_release(self, sx: float, sy: float, button: int, modifiers: int) -> bool:
        drag, self.drag = self.drag, None
        if drag is None or button != mouse.LEFT:
            return False
        if drag.kind == "band":
            self.desktop.band = None
            if drag.moved:
                self._select_band(drag, sx, sy)
        elif drag.moved:
            for tile in drag.tiles:
                (x, y), (w, h) = tile.spec.position, tile.spec.size
                log.info("tile %s placed at %g,%g size %gx%g", tile.name, x, y, w, h)
        self.shell.redraw()
        return drag.moved

    def _select_band(self, drag: Drag, sx: float, sy: float) -> None:
        camera = self.shell.camera
        (x0, y0), (x1, y1) = camera.screen_to_world(*drag.start), camera.screen_to_world(sx, sy)
        band = api.WorldRect(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
        caught = [tile for tile in self.shell.tiles if tile.footprint.intersects(band)]
        previous = self.desktop.selection if drag.adding else []
        self.desktop.select([*previous, *(t for t in caught if t not in previous)])

    def on_mouse_scroll(self, sx: float, sy: float, scroll_x: float, scroll_y: float) -> bool:
        return self.drag is not None and self.drag.kind != "band"  # no zooming while a tile is dragged

    # ------------------------------------------------------------- keyboard
    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        desktop, mods = self.desktop, modifiers & SIGNIFICANT
        if (symbol, mods) in PALETTE_KEYS:
            desktop.overlay = Palette(desktop)
            self.shell.redraw()
            return True
        selection = desktop.selection
        if symbol == key.ESCAPE and selection:
            desktop.select([])
            return True
        if symbol in ARROWS and selection and mods in (key.MOD_SHIFT, key.MOD_SHIFT | key.MOD_CTRL):
            step = arrange.grid_step(self.shell.camera.zoom) * 2
            ux, uy = ARROWS[symbol]
            for tile in selection:
                x, y, w, h = rect_of(tile)
                if mods == key.MOD_SHIFT:
                    self.shell.place_tile(tile, (x + ux * step, y + uy * step), (w, h))
                else:
                    x, y, w, h = arrange.keyboard_resize((x, y, w, h), ux * step, uy * step)
                    self.shell.place_tile(tile, (x, y), (w, h))
            return True
        for action in self.shell.actions:
            if action.shortcut and matches(action.shortcut, symbol, modifiers) and \
                    action in desktop.applicable(selection):
                desktop.request(action, selection)
                return True
        return False

    # ----------------------------------------------------------------- files
    def on_file_drop(self, sx: float, sy: float, paths: list[str]) -> bool:
        """Files dropped on the map: a new VM for each, the first where it was dropped."""
        from geometry_os.plugins.desktop.media import add_file

        wx, wy = self.shell.camera.screen_to_world(sx, sy)
        for index, path in enumerate(paths):
            offset = index * 2 * api.TITLE_BAR_HEIGHT
            try:
                add_file(self.desktop, Path(path), (wx + offset, wy + offset))
            except ValueError as exc:
                self.desktop.say(str(exc), error=True)
        return True
