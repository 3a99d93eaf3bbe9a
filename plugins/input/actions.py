"""Keyboard actions for the tile menu and the palette: key combinations the host would eat,
the host clipboard typed as keystrokes, and broadcast typing into several VMs."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

from geometry_os import api
from geometry_os.plugins.input.bridge import combo_events, keyboard_of, text_events

KEYS = "2 keyboard"


def _keyboards(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return bool(tiles) and all(keyboard_of(tile) is not None and tile.ctx.state is not api.TileState.STOPPED
                               for tile in tiles)


def _send_to_all(tiles: Sequence[api.Tile], events: Sequence[api.KeyEvent]) -> concurrent.futures.Future[None]:
    """Queue ``events`` on every tile's keyboard; done when all were delivered (fails with the first error)."""
    sent = []
    for tile in tiles:
        keyboard = keyboard_of(tile)
        if keyboard is None:
            raise ValueError(f"tile {tile.name} does not take keyboard input")
        sent.append((tile.name, keyboard.send_keys(events)))
    done: concurrent.futures.Future[None] = concurrent.futures.Future()
    remaining = [len(sent)]

    def one(_: concurrent.futures.Future[None]) -> None:
        remaining[0] -= 1
        if remaining[0]:
            return
        failed = [(name, f.exception()) for name, f in sent if f.exception() is not None]
        if failed:
            done.set_exception(RuntimeError(f"{failed[0][0]}: {failed[0][1]}"))
        else:
            done.set_result(None)

    for _, future in sent:
        future.add_done_callback(one)
    return done


def _combo(combo: str) -> Callable[[api.ShellView, Sequence[api.Tile]], Any]:
    return lambda shell, tiles: _send_to_all(tiles, combo_events(combo))


def _paste(shell: api.ShellView, tiles: Sequence[api.Tile]) -> concurrent.futures.Future[None]:
    """The host clipboard typed into the VMs; refused whole (nothing sent) if any character
    cannot be typed on a US layout."""
    text = shell.clipboard_text()
    if not text:
        raise ValueError("the clipboard holds no text")
    return _send_to_all(tiles, text_events(text))  # ValueError names the first untypable character


def _broadcast(shell: api.ShellView, tiles: Sequence[api.Tile]) -> None:
    shell.broadcast_to(list(tiles))


def _several_keyboards(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return len(tiles) >= 2 and _keyboards(shell, tiles)


ACTIONS = [
    api.ActionType("keys.ctrl-alt-del", "Send Ctrl+Alt+Del", _combo("ctrl-alt-del"), _keyboards,
                   shortcut="Ctrl+Alt+End", group=KEYS),
    *(api.ActionType(f"keys.ctrl-alt-f{n}", f"Send Ctrl+Alt+F{n}", _combo(f"ctrl-alt-f{n}"), _keyboards, group=KEYS)
      for n in range(1, 13)),
    api.ActionType("keys.sysrq", "Send SysRq (Alt+SysRq)", _combo("sysrq"), _keyboards, group=KEYS),
    api.ActionType("keys.paste", "Paste clipboard as keystrokes", _paste, _keyboards, shortcut="Ctrl+Shift+V",
                   group=KEYS),
    api.ActionType("keys.broadcast", "Broadcast typing to the selected VMs", _broadcast, _several_keyboards,
                   shortcut="Ctrl+Shift+B", group=KEYS),
]
