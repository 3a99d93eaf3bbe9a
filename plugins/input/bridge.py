"""The input bridge: keyboard and mouse of the map go to the focused tile's VM.

Focus model (see docs/controls.md):

* a focused tile whose source takes input (``key_press``...) gets every key; map
  shortcuts never see them;
* pressing and releasing the release chord (default Ctrl+Alt) with no other key in
  between gives input back to the map — on *release*, so Ctrl+Alt+Del and
  Ctrl+Alt+F2 still reach the guest; clicking outside the tile does too;
* keys and buttons held when focus leaves are released in the VM (no stuck keys);
* the pointer is sent only over the guest image, in guest pixels through the camera
  (absolute when the guest drives a tablet, relative with a pointer grab otherwise).

Key repeat: pyglet reports a held key once (its auto-repeat only repeats ``on_text``),
and a repeated press of a key already down is dropped, so the guest repeats by itself.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from pyglet.window import key, mouse

from geometry_os.tiles import Tile
from geometry_os.plugins.input import keymap

log = logging.getLogger(__name__)

#: QEMU's InputButton numbers (D-Bus ``Mouse.Press``): see docs/controls.md.
BUTTONS = {mouse.LEFT: 0, mouse.MIDDLE: 1, mouse.RIGHT: 2, mouse.MOUSE4: 5, mouse.MOUSE5: 6}
WHEEL_UP, WHEEL_DOWN, WHEEL_LEFT, WHEEL_RIGHT = 3, 4, 7, 8

#: Host symbols of each chord part.
CHORD_KEYS = {
    "ctrl": {key.LCTRL, key.RCTRL},
    "alt": {key.LALT, key.RALT, key.LMETA, key.RMETA},  # X11 names Alt pressed after Shift "Meta"
    "shift": {key.LSHIFT, key.RSHIFT},
    "super": {key.LWINDOWS, key.RWINDOWS},
}

#: With the chord held, these keys send something the host would eat.
CHORD_SUBSTITUTES = {key.END: "delete"}  # Ctrl+Alt+End -> Ctrl+Alt+Del, as remote desktops do

#: Guest LED bit of ``Modifiers``, host modifier, host key and QEMU key of each lock.
LOCKS = ((4, key.MOD_CAPSLOCK, key.CAPSLOCK, "caps_lock"), (2, key.MOD_NUMLOCK, key.NUMLOCK, "num_lock"))

#: Seconds between the key events of typed text and combinations (QEMU's own
#: ``send-key`` holds keys for 100 ms; a PS/2 keyboard copes with a few ms).
KEY_INTERVAL = 0.012


def takes_input(tile: Tile | None) -> bool:
    return tile is not None and tile.source is not None and hasattr(tile.source, "key_press")


class InputBridge:
    """An input sink above the map's own (priority 100): feeds the focused VM."""

    def __init__(self, shell: Any, chord: tuple[str, ...] = ("ctrl", "alt"),
                 schedule: Callable[[Callable[[float], None], float], None] | None = None) -> None:
        import pyglet

        self.shell = shell
        self.chord = chord
        self._schedule = schedule or pyglet.clock.schedule_once
        self.tile: Tile | None = None  # the tile keys currently go to (None: the map)
        self._keys: dict[int, int] = {}  # qnum pressed in the VM -> host symbol that pressed it
        self._buttons: set[int] = set()  # QEMU buttons pressed in the VM
        self._down: set[int] = set()  # host symbols down while focused (for the chord)
        self._chord_armed = False
        self.grabbed = False

    # ----------------------------------------------------------------- focus
    def on_focus_changed(self, old: Tile | None, new: Tile | None) -> None:
        """The shell's focus moved: release what the old VM holds, follow the new one."""
        self.release_all()
        self._set_grab(False)
        self.tile = new if takes_input(new) else None
        self._down.clear()
        self._chord_armed = False

    def release_all(self) -> None:
        """Release every key and button we pressed in the VM that has them."""
        source = self.tile.source if self.tile is not None else None
        if source is not None:
            for qnum in self._keys:
                source.key_release(qnum)
            for button in self._buttons:
                source.mouse_release(button)
        self._keys.clear()
        self._buttons.clear()

    def leave(self) -> None:
        """Give input back to the map."""
        log.info("input: back to the map")
        self.shell.focus(None)

    def _set_grab(self, on: bool) -> None:
        if on != self.grabbed:
            self.grabbed = on
            if not self.shell.options.headless:
                self.shell.window.set_exclusive_mouse(on)

    def hint(self) -> str | None:
        """What the on-screen hint says while a VM has the input."""
        if self.tile is None:
            return None
        chord = "+".join(part.capitalize() for part in self.chord)
        what = "keyboard and pointer go" if self.grabbed else "keyboard goes"
        return f"{self.tile.title}: {what} to the VM - press and release {chord} to return to the map"

    # -------------------------------------------------------------- keyboard
    def _chord_part(self, symbol: int) -> bool:
        return any(symbol in CHORD_KEYS[part] for part in self.chord)

    def _chord_held(self) -> bool:
        return all(self._down & CHORD_KEYS[part] for part in self.chord)

    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        if self.tile is None:
            return False
        qnum = keymap.qnum_for_symbol(symbol)
        if symbol in self._down or (qnum is not None and qnum in self._keys):
            return True  # a repeat: the guest repeats by itself
        source = self.tile.source
        self._sync_locks(source, modifiers, symbol)
        self._down.add(symbol)
        if self._chord_part(symbol):
            self._chord_armed = self._chord_held()
        else:
            if self._chord_armed and symbol in CHORD_SUBSTITUTES:
                self._press(source, symbol, keymap.QCODE_TO_QNUM[CHORD_SUBSTITUTES[symbol]])
                self._chord_armed = False
                return True
            self._chord_armed = False
        if qnum is None:
            log.debug("input: no QEMU key for pyglet symbol %s", key.symbol_string(symbol))
            return True
        self._press(source, symbol, qnum)
        return True

    def _press(self, source: Any, symbol: int, qnum: int) -> None:
        self._keys[qnum] = symbol
        source.key_press(qnum)

    def on_key_release(self, symbol: int, modifiers: int) -> bool:
        if self.tile is None:
            return False
        # X11 may name the release differently from the press (Shift+1 pressed as
        # EXCLAMATION, released as 1 after Shift went up): match by symbol, then by key.
        qnum = next((q for q, s in self._keys.items() if s == symbol), keymap.qnum_for_symbol(symbol))
        self._down = {s for s in self._down
                      if s != symbol and (qnum is None or keymap.qnum_for_symbol(s) != qnum)}
        if qnum in self._keys:
            del self._keys[qnum]
            self.tile.source.key_release(qnum)
        if self._chord_armed and self._chord_part(symbol):
            self._chord_armed = False
            self.leave()
        return True

    def on_text(self, text: str) -> bool:
        return self.tile is not None  # keys went as scancodes; the guest makes the text

    def on_text_motion(self, motion: int) -> bool:
        return self.tile is not None

    def _sync_locks(self, source: Any, modifiers: int, symbol: int) -> None:
        """Make the guest's Caps/Num Lock match the host's before a key lands."""
        guest = source.keyboard_modifiers
        for bit, host_mod, lock_symbol, qcode in LOCKS:
            if symbol == lock_symbol:
                continue  # this press toggles it anyway
            if bool(guest & bit) != bool(modifiers & host_mod):
                qnum = keymap.QCODE_TO_QNUM[qcode]
                source.key_press(qnum)
                source.key_release(qnum)

    # ----------------------------------------------------------------- mouse
    def _guest_point(self, sx: float, sy: float) -> tuple[int, int] | None:
        if self.tile is None:
            return None
        # (sx, sy) names a window pixel; the guest pixel under its centre is the one meant
        return self.tile.guest_pixel(*self.shell.camera.screen_to_world(sx + 0.5, sy + 0.5))

    def on_mouse_press(self, sx: float, sy: float, button: int, modifiers: int) -> bool:
        if self.tile is None:
            return False
        source = self.tile.source
        point = self._guest_point(sx, sy)
        if point is None and not self.grabbed:
            return False  # outside the guest: the picker focuses another tile or the map
        if not source.is_absolute and not self.grabbed:
            self._set_grab(True)  # a relative guest pointer needs the host pointer
        elif source.is_absolute:
            source.mouse_set_abs(*point)
        qbutton = BUTTONS.get(button)
        if qbutton is not None:
            self._buttons.add(qbutton)
            source.mouse_press(qbutton)
        return True

    def on_mouse_release(self, sx: float, sy: float, button: int, modifiers: int) -> bool:
        qbutton = BUTTONS.get(button)
        if self.tile is None or qbutton not in self._buttons:
            return self.tile is not None and self.grabbed
        self._buttons.discard(qbutton)
        self.tile.source.mouse_release(qbutton)
        return True

    def on_mouse_motion(self, sx: float, sy: float, dx: float, dy: float) -> bool:
        if self.tile is None:
            return False
        source = self.tile.source
        if self.grabbed:
            scale = self._guest_pixels_per_screen_pixel()
            source.mouse_rel(round(dx * scale), round(dy * scale))
            return True
        point = self._guest_point(sx, sy)
        if point is None or not source.is_absolute:
            return False
        source.mouse_set_abs(*point)
        return True

    def on_mouse_drag(self, sx: float, sy: float, dx: float, dy: float, buttons: int, modifiers: int) -> bool:
        if self.tile is None or not (self._buttons or self.grabbed):
            return False  # a drag that started on the map pans the map
        return self.on_mouse_motion(sx, sy, dx, dy) or True

    def on_mouse_scroll(self, sx: float, sy: float, scroll_x: float, scroll_y: float) -> bool:
        if self.tile is None or (self._guest_point(sx, sy) is None and not self.grabbed):
            return False
        source = self.tile.source
        for amount, positive, negative in ((scroll_y, WHEEL_UP, WHEEL_DOWN), (scroll_x, WHEEL_RIGHT, WHEEL_LEFT)):
            button = positive if amount > 0 else negative
            for _ in range(min(10, round(abs(amount)))):
                source.mouse_press(button)
                source.mouse_release(button)
        return True

    def _guest_pixels_per_screen_pixel(self) -> float:
        tile = self.tile
        fw = tile.frame_size[0]
        on_screen = tile.image_rect.w * self.shell.camera.zoom
        return fw / on_screen if fw and on_screen > 0 else 1.0

    # ------------------------------------------------- automation: text, combos
    def send_sequence(self, tile: Tile, events: list[tuple[str, int]], done: Callable[[], None] | None = None) -> float:
        """Press/release ``events`` ((``"press"``|``"release"``, qnum)...) into ``tile``'s VM,
        paced by :data:`KEY_INTERVAL` on the main loop; returns the seconds it takes."""
        if not takes_input(tile):
            raise ValueError(f"tile {tile.name} does not take keyboard input")
        source = tile.source
        steps = list(events)

        def step(_dt: float = 0.0) -> None:
            if not steps:
                if done is not None:
                    done()
                return
            action, qnum = steps.pop(0)
            (source.key_press if action == "press" else source.key_release)(qnum)
            self._schedule(step, KEY_INTERVAL)

        step()
        return len(events) * KEY_INTERVAL


def bridge_of(shell: Any) -> InputBridge | None:
    """The shell's input bridge (None when the input plugin is blocked or disabled)."""
    return next((sink for _, sink in shell.sinks if isinstance(sink, InputBridge)), None)


def text_events(text: str) -> list[tuple[str, int]]:
    """Press/release events that type ``text`` on a US layout (ValueError if impossible)."""
    events: list[tuple[str, int]] = []
    for modifiers, qcode in keymap.text_to_keys(text):
        held = [keymap.QCODE_TO_QNUM[m] for m in modifiers]
        qnum = keymap.QCODE_TO_QNUM[qcode]
        events += [("press", m) for m in held] + [("press", qnum), ("release", qnum)]
        events += [("release", m) for m in reversed(held)]
    return events


def combo_events(combo: str) -> list[tuple[str, int]]:
    """Press every key of ``combo`` ("ctrl-alt-del") in order, release in reverse."""
    qnums = [keymap.QCODE_TO_QNUM[qcode] for qcode in keymap.parse_combo(combo)]
    return [("press", q) for q in qnums] + [("release", q) for q in reversed(qnums)]
