"""Renaming a ghost in place: its title bar becomes a text field until Enter (keep) or Escape
(cancel).  While it is open this sink (above the desktop's overlay) takes every key, so
nothing typed reaches a VM or the map's shortcuts."""

from __future__ import annotations

import weakref
from typing import Any

import attrs
from pyglet.window import key

from geometry_os import api


@attrs.define
class Editing:
    tile: api.Tile
    text: str


_EDITING: weakref.WeakKeyDictionary[Any, Editing] = weakref.WeakKeyDictionary()


def editing(shell: api.ShellView) -> Editing | None:
    return _EDITING.get(shell)


def begin_rename(shell: api.ShellView, tile: api.Tile) -> None:
    _EDITING[shell] = Editing(tile, tile.title)
    shell.redraw()


def finish(shell: api.ShellView, keep: bool) -> None:
    from geometry_os.plugins.snapshots.branches import rename

    field = _EDITING.pop(shell, None)
    if field is not None and keep and field.text.strip() and field.tile in shell.tiles:
        rename(field.tile, field.text)
    shell.redraw()


class RenameInput:
    """Keys into the open name field (main thread)."""

    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell

    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        field = editing(self.shell)
        if field is None:
            return False
        if symbol in (key.ENTER, key.RETURN, key.NUM_ENTER):
            finish(self.shell, keep=True)
        elif symbol == key.ESCAPE:
            finish(self.shell, keep=False)
        elif symbol == key.BACKSPACE:
            field.text = field.text[:-1]
        self.shell.redraw()
        return True

    def on_key_release(self, symbol: int, modifiers: int) -> bool:
        return editing(self.shell) is not None

    def on_text(self, text: str) -> bool:
        field = editing(self.shell)
        if field is None:
            return False
        if text.isprintable():
            field.text = (field.text + text)[:80]
            self.shell.redraw()
        return True

    def on_text_motion(self, motion: int) -> bool:
        return editing(self.shell) is not None

    def on_mouse_press(self, sx: float, sy: float, button: int, modifiers: int) -> bool:
        if editing(self.shell) is not None:
            finish(self.shell, keep=True)  # a click elsewhere keeps what was typed, like a file manager
        return False
