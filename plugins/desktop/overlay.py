"""What opens over the map: a tile's menu, the command palette, the image picker of "New VM",
and the question before a destructive action.  Models and their input; layer.py draws them.

An overlay is modal: while one is open its input sink (above the VM input bridge) takes
every key and click, so nothing reaches a VM or the map behind it.  Rows are
:data:`ROW_H` screen pixels high; each entry shows its shortcut on the right.
"""

from __future__ import annotations

import re
import textwrap
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from pyglet.window import key

from geometry_os import api

if TYPE_CHECKING:
    from geometry_os.plugins.desktop.desktop import Desktop

ROW_H = 24
MENU_W = 340  # the narrowest menu
CHAR_W = 8.5  # average advance of the overlays' 11 pt DejaVu Sans, screen pixels
FOLD_AT = 3  # this many entries that differ only in a trailing number fold into one
PALETTE_W = 520
PALETTE_ROWS = 14  # entries shown at once
QUESTION_W = 460


@attrs.define(frozen=True)
class Row:
    """One line of an overlay: ``style`` is title, query, item, selected, text or buttons."""

    text: str
    right: str = ""
    style: str = "item"


@attrs.define(frozen=True)
class Entry:
    label: str
    shortcut: str
    run: Callable[[], None]
    words: str = ""  # more text the palette matches (the action's name)


def action_entries(desktop: Desktop, tiles: Sequence[api.Tile], actions: Sequence[api.ActionType]) -> list[Entry]:
    def runner(action: api.ActionType) -> Callable[[], None]:
        return lambda: desktop.request(action, tiles)
    return [Entry(action.label, action.shortcut, runner(action), action.name) for action in actions]


class ListOverlay:
    """Entries to choose from with the mouse or Up/Down/Enter; Escape or a click outside closes it."""

    header_rows = 1  # rows above the entries (the title)

    def __init__(self, desktop: Desktop, title: str, entries: list[Entry]) -> None:
        self.desktop = desktop
        self.title = title
        self.entries = entries
        self.selected = 0
        self.origin = (0.0, 0.0)  # top-left corner, screen pixels

    # ----------------------------------------------------------------- model
    def shown(self) -> list[Entry]:
        return self.entries

    def rows(self) -> list[Row]:
        shown = self.shown()
        rows = [Row(self.title, style="title")]
        if not shown:
            rows.append(Row(self.empty_text(), style="text"))
        for index, entry in enumerate(shown):
            rows.append(Row(entry.label, entry.shortcut, "selected" if index == self.selected else "item"))
        return rows

    def empty_text(self) -> str:
        return "nothing to do here"

    @property
    def width(self) -> float:
        """Wide enough for its longest row (text, a gap, the shortcut), at least MENU_W."""
        longest = max((len(row.text) + len(row.right) for row in self.rows()), default=0)
        return max(float(MENU_W), longest * CHAR_W + 48.0)

    def panel(self, width: float, height: float) -> tuple[float, float, float, float]:
        """Where it is drawn: x, y (top-left, screen pixels), w, h; kept inside the window."""
        w, h = float(self.width), float(ROW_H * len(self.rows()) + 8)
        x = min(max(0.0, self.origin[0]), max(0.0, width - w))
        y = min(max(0.0, self.origin[1]), max(0.0, height - h))
        return x, y, w, h

    def row_at(self, sx: float, sy: float) -> int | None:
        """The entry under a screen point, or None (the title row is not an entry)."""
        x, y, w, h = self.panel(self.desktop.shell.camera.width, self.desktop.shell.camera.height)
        if not (x <= sx < x + w and y <= sy < y + h):
            return None
        index = int((sy - y - 4) // ROW_H) - self.header_rows
        return index if 0 <= index < len(self.shown()) else None

    def inside(self, sx: float, sy: float) -> bool:
        x, y, w, h = self.panel(self.desktop.shell.camera.width, self.desktop.shell.camera.height)
        return x <= sx < x + w and y <= sy < y + h

    # ----------------------------------------------------------------- input
    def close(self) -> None:
        if self.desktop.overlay is self:
            self.desktop.overlay = None
        self.desktop.shell.redraw()

    def choose(self, index: int) -> None:
        shown = self.shown()
        if 0 <= index < len(shown):
            self.close()
            shown[index].run()

    def on_key(self, symbol: int, modifiers: int) -> None:
        count = len(self.shown())
        if symbol == key.ESCAPE:
            self.close()
        elif symbol in (key.RETURN, key.NUM_ENTER):
            self.choose(self.selected)
        elif symbol == key.DOWN and count:
            self.selected = (self.selected + 1) % count
        elif symbol == key.UP and count:
            self.selected = (self.selected - 1) % count
        self.desktop.shell.redraw()

    def on_text(self, text: str) -> None:
        """Typed characters (the palette filters by them)."""

    def on_click(self, sx: float, sy: float) -> None:
        index = self.row_at(sx, sy)
        if index is not None:
            self.choose(index)
        elif not self.inside(sx, sy):
            self.close()

    def on_hover(self, sx: float, sy: float) -> None:
        index = self.row_at(sx, sy)
        if index is not None and index != self.selected:
            self.selected = index
            self.desktop.shell.redraw()


class Menu(ListOverlay):
    """A tile's menu: the actions that apply to it (or to the selection it is part of).  A run
    of entries that differ only in a trailing number (Send Ctrl+Alt+F1 .. F12) is one entry
    that opens them."""

    def __init__(self, desktop: Desktop, tiles: Sequence[api.Tile], at: tuple[float, float]) -> None:
        title = tiles[0].title if len(tiles) == 1 else f"{len(tiles)} tiles"
        super().__init__(desktop, title, self._folded(action_entries(desktop, tiles, desktop.tile_actions(tiles))))
        self.origin = at

    def _folded(self, entries: list[Entry]) -> list[Entry]:
        folded: list[Entry] = []
        index = 0
        while index < len(entries):
            prefix = re.sub(r"\d+$", "", entries[index].label)
            run = 1
            while index + run < len(entries) and prefix != entries[index].label and \
                    re.fullmatch(re.escape(prefix) + r"\d+", entries[index + run].label):
                run += 1
            if run >= FOLD_AT:
                group = entries[index:index + run]
                label = f"{group[0].label}..{group[-1].label[len(prefix):]}"
                folded.append(Entry(f"{label} >", "", self._opener(label, group)))
                index += run
            else:
                folded.append(entries[index])
                index += 1
        return folded

    def _opener(self, title: str, entries: list[Entry]) -> Callable[[], None]:
        def open_sub_menu() -> None:
            sub = ListOverlay(self.desktop, title, entries)
            sub.origin = self.origin
            self.desktop.overlay = sub
            self.desktop.shell.redraw()
        return open_sub_menu


class Palette(ListOverlay):
    """Every action that applies now, filtered by what is typed (each word a part of the name)."""

    width = PALETTE_W
    header_rows = 2  # the title and the query line

    def __init__(self, desktop: Desktop, title: str = "", entries: list[Entry] | None = None) -> None:
        tiles = desktop.selection
        if entries is None:
            entries = action_entries(desktop, tiles, desktop.applicable(tiles))
            title = title or (f"Actions for {', '.join(t.title for t in tiles)}" if tiles else "Actions")
        super().__init__(desktop, title, entries)
        self.query = ""

    def shown(self) -> list[Entry]:
        words = self.query.lower().split()
        found = [entry for entry in self.entries
                 if all(word in f"{entry.label} {entry.words}".lower() for word in words)]
        found.sort(key=lambda entry: not entry.label.lower().startswith(self.query.lower()))
        return found[:PALETTE_ROWS]

    def rows(self) -> list[Row]:
        rows = super().rows()
        return [rows[0], Row(f"> {self.query}_", "type to search", "query"), *rows[1:]]

    def panel(self, width: float, height: float) -> tuple[float, float, float, float]:
        w, h = float(self.width), float(ROW_H * len(self.rows()) + 8)
        return max(0.0, (width - w) / 2), min(80.0, max(0.0, height - h)), w, h

    def on_key(self, symbol: int, modifiers: int) -> None:
        if symbol == key.BACKSPACE:
            self.query = self.query[:-1]
            self.selected = 0
            self.desktop.shell.redraw()
            return
        super().on_key(symbol, modifiers)

    def on_text(self, text: str) -> None:
        printable = "".join(c for c in text if c.isprintable())
        if printable:
            self.query += printable
            self.selected = 0
            self.desktop.shell.redraw()


class ImagePicker(Palette):
    """"New VM": the named images (``geos image list``); one that is not installed is pulled first."""

    def __init__(self, desktop: Desktop) -> None:
        super().__init__(desktop, "New VM: pick an image", [])
        self.loading = True
        threading.Thread(target=self._load, name="geos-image-list", daemon=True).start()

    def _load(self) -> None:
        from geometry_os.plugins.desktop import media

        try:
            images = media.list_images()
        except (OSError, ValueError) as exc:
            error = str(exc)
            self.desktop.shell.call_soon(lambda: self._loaded([], error))
            return
        self.desktop.shell.call_soon(lambda: self._loaded(images, ""))

    def _loaded(self, images: list[Any], error: str) -> None:
        from geometry_os.plugins.desktop import media

        self.loading = False
        self.error = error
        def picker(image: Any) -> Callable[[], None]:
            return lambda: media.new_vm_from_image(self.desktop, image.name, image.installed)

        self.entries = [Entry(image.name, f"installed, {image.size}" if image.installed else
                              "not installed: pulled first", picker(image)) for image in images]
        self.desktop.shell.redraw()

    def empty_text(self) -> str:
        return "reading 'geos image list'..." if self.loading else getattr(self, "error", "") or "no images"


class Question:
    """A yes/no question before a destructive action: Enter or Y does it, Escape or N does not."""

    def __init__(self, text: str, yes: Callable[[], None]) -> None:
        self.text = text
        self.yes = yes

    def rows(self) -> list[Row]:
        lines = textwrap.wrap(self.text, 56)
        return [*(Row(line, style="text") for line in lines), Row("Yes (Enter)", "No (Esc)", "buttons")]

    def panel(self, width: float, height: float) -> tuple[float, float, float, float]:
        w, h = float(QUESTION_W), float(ROW_H * len(self.rows()) + 24)
        return max(0.0, (width - w) / 2), max(0.0, (height - h) / 2), w, h

    def answer(self, desktop: Desktop, yes: bool) -> None:
        desktop.overlay = None
        desktop.shell.redraw()
        if yes:
            self.yes()

    def on_key(self, desktop: Desktop, symbol: int) -> None:
        if symbol in (key.RETURN, key.NUM_ENTER, key.Y):
            self.answer(desktop, True)
        elif symbol in (key.ESCAPE, key.N):
            self.answer(desktop, False)

    def on_click(self, desktop: Desktop, sx: float, sy: float) -> None:
        x, y, w, h = self.panel(desktop.shell.camera.width, desktop.shell.camera.height)
        if not (x <= sx < x + w and y + h - ROW_H - 20 <= sy < y + h):
            return  # only the buttons' row answers
        self.answer(desktop, sx < x + w / 2)


class OverlayInput:
    """The overlay's input sink (priority 150, above the VM input bridge): while an overlay is
    open it takes every event; otherwise it lets them all through."""

    def __init__(self, shell: api.ShellView) -> None:
        from geometry_os.plugins.desktop.desktop import desktop_of

        self.desktop = desktop_of(shell)

    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        overlay = self.desktop.overlay
        if overlay is None:
            return False
        if isinstance(overlay, Question):
            overlay.on_key(self.desktop, symbol)
        else:
            overlay.on_key(symbol, modifiers)
        return True

    def on_key_release(self, symbol: int, modifiers: int) -> bool:
        return self.desktop.overlay is not None

    def on_text(self, text: str) -> bool:
        overlay = self.desktop.overlay
        if overlay is None:
            return False
        if isinstance(overlay, ListOverlay):
            overlay.on_text(text)
        return True

    def on_text_motion(self, motion: int) -> bool:
        return self.desktop.overlay is not None

    def on_mouse_press(self, sx: float, sy: float, button: int, modifiers: int) -> bool:
        overlay = self.desktop.overlay
        if overlay is None:
            return False
        if isinstance(overlay, Question):
            overlay.on_click(self.desktop, sx, sy)
        else:
            overlay.on_click(sx, sy)
        return True

    def on_mouse_motion(self, sx: float, sy: float, dx: float, dy: float) -> bool:
        overlay = self.desktop.overlay
        if isinstance(overlay, ListOverlay):
            overlay.on_hover(sx, sy)
        return overlay is not None

    def on_mouse_release(self, sx: float, sy: float, button: int, modifiers: int) -> bool:
        return self.desktop.overlay is not None

    def on_mouse_drag(self, sx: float, sy: float, dx: float, dy: float, buttons: int, modifiers: int) -> bool:
        return self.desktop.overlay is not None

    def on_mouse_scroll(self, sx: float, sy: float, scroll_x: float, scroll_y: float) -> bool:
        return self.desktop.overlay is not None
