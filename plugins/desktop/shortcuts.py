"""Keyboard shortcuts as actions write them ("Ctrl+Shift+R", "Pause", "Print"), matched
against pyglet key presses, so every plugin's actions get working shortcuts."""

from __future__ import annotations

import functools

from pyglet.window import key

MODIFIERS = {"ctrl": key.MOD_CTRL, "shift": key.MOD_SHIFT, "alt": key.MOD_ALT, "super": key.MOD_WINDOWS}
#: Modifiers that make a shortcut different (lock keys and NumLock's keypad state do not).
SIGNIFICANT = key.MOD_CTRL | key.MOD_SHIFT | key.MOD_ALT | key.MOD_WINDOWS
#: Names people write that pyglet spells otherwise.
KEY_NAMES = {"del": "DELETE", "esc": "ESCAPE", "enter": "RETURN", "prtsc": "PRINT", "pgup": "PAGEUP",
             "pgdn": "PAGEDOWN", "space": "SPACE", "0": "_0", "1": "_1", "2": "_2", "3": "_3", "4": "_4",
             "5": "_5", "6": "_6", "7": "_7", "8": "_8", "9": "_9"}


@functools.lru_cache(maxsize=256)
def parse(shortcut: str) -> tuple[int, int] | None:
    """(pyglet key symbol, modifier mask) of ``shortcut``, or None when it names no key pyglet knows."""
    parts = [part.strip() for part in shortcut.split("+") if part.strip()]
    if not parts:
        return None
    mask = 0
    for part in parts[:-1]:
        modifier = MODIFIERS.get(part.lower())
        if modifier is None:
            return None
        mask |= modifier
    name = parts[-1]
    symbol = getattr(key, KEY_NAMES.get(name.lower(), name.upper()), None)
    return (symbol, mask) if isinstance(symbol, int) else None


def matches(shortcut: str, symbol: int, modifiers: int) -> bool:
    """Whether the key press (``symbol``, ``modifiers``) is ``shortcut``."""
    parsed = parse(shortcut)
    return parsed is not None and parsed == (symbol, modifiers & SIGNIFICANT)
