"""The input bridge: keyboard and mouse of the map go to the focused tile's VM.

Focus model (see docs/controls.md):

* a focused tile whose source has a keyboard (its ``capabilities.keyboard``) gets every
  key; map shortcuts never see them;
* pressing and releasing the release chord (default Ctrl+Alt) with no other key in
  between gives input back to the map — on *release*, so Ctrl+Alt+Del and
  Ctrl+Alt+F2 still reach the guest; clicking outside the tile does too;
* keys and buttons held when focus leaves are released in the VM (no stuck keys);
* the pointer is sent only over the guest image, in guest pixels through the camera
  (absolute when the guest drives a tablet, relative with a pointer grab otherwise);
* broadcast typing (``shell.broadcast``, several tiles): every key goes to each of their
  keyboards; the pointer still goes to the focused one; the release chord ends it.

Key repeat: pyglet reports a held key once (its auto-repeat only repeats ``on_text``),
and a repeated press of a key already down is dropped, so the guest repeats by itself.
"""

from __future__ import annotations

import logging

from pyglet.window import key, mouse

from geometry_os import api
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


def keyboard_of(tile: api.Tile | None) -> api.Keyboard | None:
    return tile.source.capabilities.keyboard if tile is not None and tile.source is not None else None


def pointer_of(tile: api.Tile | None) -> api.Pointer | None:
    return tile.source.capabilities.pointer if tile is not None and tile.source is not None else None


class InputBridge:
    """An input sink above the map's own (priority 100): feeds the focused VM."""

    def __init__(self, shell: api.ShellView, chord: tuple[str, ...] = ("ctrl", "alt")) -> None:
        self.shell = shell
        self.chord = chord
        self.tile: api.Tile | None = None  # the tile keys currently go to (None: the map)
        self.keyboard: api.Keyboard | None = None  # its keyboard and pointer (None: it has none)
        self.pointer: api.Pointer | None = None
        self._keys: dict[int, int] = {}  # qnum pressed in the VM -> host symbol that pressed it
        self._buttons: set[int] = set()  # QEMU buttons pressed in the VM
        self._down: set[int] = set()  # host symbols down while focused (for the chord)
        self._chord_armed = False
        self.grabbed = False

    # ----------------------------------------------------------------- focus
    def on_focus_changed(self, old: api.Tile | None, new: api.Tile | None) -> None:
        """The shell's focus moved: release what the old VM holds, follow the new one."""
        self.release_all()
        self._set_grab(False)
        self.keyboard = keyboard_of(new)
        self.tile = new if self.keyboard is not None else None
        self.pointer = pointer_of(self.tile)
        self._down.clear()
        self._chord_armed = False

    def tile_gone(self, name: str) -> None:
        """Tile ``name`` stopped or failed: if it has the keyboard, the map takes it back; a
        broadcast goes on into the others."""
        group = list(self.shell.broadcast)
        if any(tile.name == name for tile in group):
            rest = [tile for tile in group if tile.name != name]
            log.info("input: %s stopped; typing goes on into %s", name, ", ".join(t.name for t in rest) or "none")
            self.shell.broadcast_to(rest)
            return
        if self.tile is not None and self.tile.name == name:
            log.info("input: %s stopped; back to the map", name)
            self.shell.focus(None)

    def keyboards(self) -> list[api.Keyboard]:
        """Where keys go: every broadcast tile's keyboard, else the focused tile's."""
        group = [keyboard for tile in self.shell.broadcast if (keyboard := keyboard_of(tile)) is not None]
        return group or ([self.keyboard] if self.keyboard is not None else [])

    def release_all(self) -> None:
        """Release every key and button we pressed in the VMs that have them."""
        for keyboard in self.keyboards():
            for qnum in self._keys:
                keyboard.key_release(qnum)
        if self.pointer is not None:
            for button in self._buttons:
                self.pointer.mouse_release(button)
        self._keys.clear()
        self._buttons.clear()

    def leave(self) -> None:
        """Give input back to the map."""
        log.info("input: back to the map")
        self.shell.focus(None)

    def _set_grab(self, on: bool) -> None:
        if on != self.grabbed:
            self.grabbed = on
            self.shell.set_pointer_grab(on)

    def hint(self) -> str | None:
        """What the on-screen hint says while a VM has the input."""
        if self.tile is None:
            return None
        chord = "+".join(part.capitalize() for part in self.chord)
        group = self.shell.broadcast
        if group:
            return (f"typing into {len(group)} VMs at once ({', '.join(t.title for t in group)}) - "
                    f"press and release {chord} to stop")
        what = "keyboard and pointer go" if self.grabbed else "keyboard goes"
        return f"{self.tile.title}: {what} to the VM - press and release {chord} to return to the map"

    # -------------------------------------------------------------- keyboard
    def _chord_part(self, symbol: int) -> bool:
        return any(symbol in CHORD_KEYS[part] for part in self.chord)

    def _chord_held(self) -> bool:
        return all(self._down & CHORD_KEYS[part] for part in self.chord)

    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        if self.keyboard is None:
            return False
        qnum = keymap.qnum_for_symbol(symbol)
        if symbol in self._down or (qnum is not None and qnum in self._keys):
            return True  # a repeat: the guest repeats by itself
        for each in self.keyboards():
            self._sync_locks(each, modifiers, symbol)
        self._down.add(symbol)
        if self._chord_part(symbol):
            self._chord_armed = self._chord_held()
        else:
            if self._chord_armed and symbol in CHORD_SUBSTITUTES:
                self._press(symbol, keymap.QCODE_TO_QNUM[CHORD_SUBSTITUTES[symbol]])
                self._chord_armed = False
                return True
            self._chord_armed = False
        if qnum is None:
            log.debug("input: no QEMU key for pyglet symbol %s", key.symbol_string(symbol))
            return True
        self._press(symbol, qnum)
        return True

    def _press(self, symbol: int, qnum: int) -> None:
        self._keys[qnum] = symbol
        for keyboard in self.keyboards():
            keyboard.key_press(qnum)

    def on_key_release(self, symbol: int, modifiers: int) -> bool:
        if self.keyboard is None:
            return False
        # X11 may name the release differently from the press (Shift+1 pressed as
        # EXCLAMATION, released as 1 after Shift went up): match by symbol, then by key.
        qnum = next((q for q, s in self._keys.items() if s == symbol), keymap.qnum_for_symbol(symbol))
        self._down = {s for s in self._down
                      if s != symbol and (qnum is None or keymap.qnum_for_symbol(s) != qnum)}
        if qnum is not None and qnum in self._keys:
            del self._keys[qnum]
            for each in self.keyboards():
                each.key_release(qnum)
        if self._chord_armed and self._chord_part(symbol):
            self._chord_armed = False
            self.leave()
        return True

    def on_text(self, text: str) -> bool:
        return self.keyboard is not None  # keys went as scancodes; the guest makes the text

    def on_text_motion(self, motion: int) -> bool:
        return self.keyboard is not None

    def _sync_locks(self, keyboard: api.Keyboard, modifiers: int, symbol: int) -> None:
        """Make the guest's Caps/Num Lock match the host's before a key lands."""
        guest = keyboard.keyboard_modifiers
        for bit, host_mod, lock_symbol, qcode in LOCKS:
            if symbol == lock_symbol:
                continue  # this press toggles it anyway
            if bool(guest & bit) != bool(modifiers & host_mod):
                qnum = keymap.QCODE_TO_QNUM[qcode]
                keyboard.key_press(qnum)
                keyboard.key_release(qnum)

    # ----------------------------------------------------------------- mouse
    def _guest_point(self, sx: float, sy: float) -> tuple[int, int] | None:
        if self.tile is None:
            return None
        # (sx, sy) names a window pixel; the guest pixel under its centre is the one meant
        return self.tile.guest_pixel(*self.shell.camera.screen_to_world(sx + 0.5, sy + 0.5))

    def on_mouse_press(self, sx: float, sy: float, button: int, modifiers: int) -> bool:
        if self.tile is None:
            return False
        pointer = self.pointer
        point = self._guest_point(sx, sy)
        if point is None and not self.grabbed:
            return False  # outside the guest: the picker focuses another tile or the map
        if pointer is None:
            return True  # a keyboard-only tile: the click stays with it
        if not pointer.is_absolute and not self.grabbed:
            self._set_grab(True)  # a relative guest pointer needs the host pointer
        elif pointer.is_absolute and point is not None:
            pointer.mouse_set_abs(*point)
        qbutton = BUTTONS.get(button)
        if qbutton is not None:
            self._buttons.add(qbutton)
            pointer.mouse_press(qbutton)
        return True

    def on_mouse_release(self, sx: float, sy: float, button: int, modifiers: int) -> bool:
        qbutton = BUTTONS.get(button)
        if self.tile is None or self.pointer is None or qbutton is None or qbutton not in self._buttons:
            return self.tile is not None and self.grabbed
        self._buttons.discard(qbutton)
        self.pointer.mouse_release(qbutton)
        return True

    def on_mouse_motion(self, sx: float, sy: float, dx: float, dy: float) -> bool:
        pointer = self.pointer
        if self.tile is None or pointer is None:
            return False
        if self.grabbed:
            scale = self._guest_pixels_per_screen_pixel(self.tile)
            pointer.mouse_rel(round(dx * scale), round(dy * scale))
            return True
        point = self._guest_point(sx, sy)
        if point is None or not pointer.is_absolute:
            return False
        pointer.mouse_set_abs(*point)
        return True

    def on_mouse_drag(self, sx: float, sy: float, dx: float, dy: float, buttons: int, modifiers: int) -> bool:
        if self.tile is None or not (self._buttons or self.grabbed):
            return False  # a drag that started on the map pans the map
        return self.on_mouse_motion(sx, sy, dx, dy) or True

    def on_mouse_scroll(self, sx: float, sy: float, scroll_x: float, scroll_y: float) -> bool:
        pointer = self.pointer
        if self.tile is None or pointer is None or (self._guest_point(sx, sy) is None and not self.grabbed):
            return False
        for amount, positive, negative in ((scroll_y, WHEEL_UP, WHEEL_DOWN), (scroll_x, WHEEL_RIGHT, WHEEL_LEFT)):
            button = positive if amount > 0 else negative
            for _ in range(min(10, round(abs(amount)))):
                pointer.mouse_press(button)
                pointer.mouse_release(button)
        return True

    def _guest_pixels_per_screen_pixel(self, tile: api.Tile) -> float:
        fw = tile.frame_size[0]
        on_screen = tile.image_rect.w * self.shell.camera.zoom
        return fw / on_screen if fw and on_screen > 0 else 1.0


def text_events(text: str) -> list[api.KeyEvent]:
    """Key events (pressed, qnum) that type ``text`` on a US layout (ValueError if impossible)."""
    events: list[api.KeyEvent] = []
    for modifiers, qcode in keymap.text_to_keys(text):
        held = [keymap.QCODE_TO_QNUM[m] for m in modifiers]
        qnum = keymap.QCODE_TO_QNUM[qcode]
        events += [(True, m) for m in held] + [(True, qnum), (False, qnum)]
        events += [(False, m) for m in reversed(held)]
    return events


def combo_events(combo: str) -> list[api.KeyEvent]:
    """Press every key of ``combo`` ("ctrl-alt-del") in order, release in reverse."""
    qnums = [keymap.QCODE_TO_QNUM[qcode] for qcode in keymap.parse_combo(combo)]
    return [(True, q) for q in qnums] + [(False, q) for q in reversed(qnums)]
