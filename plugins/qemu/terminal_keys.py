"""QEMU key numbers to the bytes a terminal sends down a serial line.

The input bridge, ``geos type`` and the paste action speak QEMU key numbers (XT set-1
scancodes, ``0x80|code`` for E0 keys: see docs/plugins.md) to every keyboard.  A
serial console has no scancodes, so :class:`KeyEncoder` plays the terminal's part:
it keeps the state of Shift, Ctrl, Alt and Caps Lock from presses and releases and
turns each press into what xterm sends on a US layout: text, ``\\r`` for Enter,
``\\x7f`` for Backspace, ``ESC [ A`` for Up (``ESC O A`` while the guest set
application cursor keys), Ctrl+letter as its control code, Alt as an ESC prefix.
"""

from __future__ import annotations

#: Printable keys of a US layout: qnum -> (plain, shifted).
_ROWS = (
    (0x02, "1234567890-=", "!@#$%^&*()_+"),
    (0x10, "qwertyuiop[]", "QWERTYUIOP{}"),
    (0x1E, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
    (0x2B, "\\zxcvbnm,./", "|ZXCVBNM<>?"),
)
PRINTABLE: dict[int, tuple[str, str]] = {
    first + i: (plain[i], shifted[i]) for first, plain, shifted in _ROWS for i in range(len(plain))
}
PRINTABLE[0x39] = (" ", " ")
PRINTABLE[0x56] = ("<", ">")  # the ISO key left of Z, as a US-international layout has it

#: Keys that send a fixed sequence whatever the modifiers.
SPECIAL: dict[int, bytes] = {
    0x1C: b"\r", 0x9C: b"\r",  # Enter, keypad Enter
    0x0E: b"\x7f",  # Backspace (what Linux's stty erase expects)
    0x0F: b"\t", 0x01: b"\x1b",
    0xC7: b"\x1b[H", 0xCF: b"\x1b[F", 0xC9: b"\x1b[5~", 0xD1: b"\x1b[6~",  # Home End PgUp PgDn
    0xD2: b"\x1b[2~", 0xD3: b"\x1b[3~",  # Insert Delete
    0x3B: b"\x1bOP", 0x3C: b"\x1bOQ", 0x3D: b"\x1bOR", 0x3E: b"\x1bOS",  # F1-F4
    0x3F: b"\x1b[15~", 0x40: b"\x1b[17~", 0x41: b"\x1b[18~", 0x42: b"\x1b[19~",  # F5-F8
    0x43: b"\x1b[20~", 0x44: b"\x1b[21~", 0x57: b"\x1b[23~", 0x58: b"\x1b[24~",  # F9-F12
    0xB5: b"/", 0x37: b"*", 0x4A: b"-", 0x4E: b"+",  # keypad operators
}
#: Cursor keys: qnum -> the final letter of ESC [ x / ESC O x.
ARROWS = {0xC8: "A", 0xD0: "B", 0xCD: "C", 0xCB: "D"}
#: Keypad digits and point (Num Lock assumed on: a serial terminal has no other use for them).
KEYPAD = {0x52: "0", 0x4F: "1", 0x50: "2", 0x51: "3", 0x4B: "4", 0x4C: "5", 0x4D: "6", 0x47: "7",
          0x48: "8", 0x49: "9", 0x53: "."}

SHIFT, CTRL, ALT = frozenset({0x2A, 0x36}), frozenset({0x1D, 0x9D}), frozenset({0x38, 0xB8})
CAPS_LOCK = 0x3A
CAPS_LED = 4  # Keyboard.keyboard_modifiers' bit for Caps Lock


def control(char: str) -> bytes | None:
    """Ctrl + ``char`` as a terminal sends it (Ctrl+C -> 0x03, Ctrl+[ -> ESC, Ctrl+Space -> NUL)."""
    if char == " " or char == "@" or char == "2":
        return b"\x00"
    if char.isalpha() and char.isascii():
        return bytes([ord(char.upper()) & 0x1F])
    codes = {"[": 0x1B, "\\": 0x1C, "]": 0x1D, "^": 0x1E, "6": 0x1E, "_": 0x1F, "-": 0x1F, "/": 0x1F,
             "?": 0x7F, "8": 0x7F}
    return bytes([codes[char]]) if char in codes else None


class KeyEncoder:
    """Presses and releases in, bytes out; keeps the modifier state between calls."""

    def __init__(self) -> None:
        self._held: set[int] = set()
        self.caps_lock = False

    @property
    def leds(self) -> int:
        """The lock LEDs this keyboard would show (only Caps Lock is kept)."""
        return CAPS_LED if self.caps_lock else 0

    def release(self, qnum: int) -> None:
        self._held.discard(qnum)

    def release_all(self) -> None:
        self._held.clear()

    def press(self, qnum: int, application_cursor: bool = False) -> bytes:
        """The bytes a press of ``qnum`` sends now (b"" for modifiers and keys that send nothing)."""
        if qnum in SHIFT or qnum in CTRL or qnum in ALT:
            self._held.add(qnum)
            return b""
        if qnum == CAPS_LOCK:
            self.caps_lock = not self.caps_lock
            return b""
        shift, ctrl, alt = (bool(self._held & group) for group in (SHIFT, CTRL, ALT))
        data = self._key(qnum, shift, ctrl, application_cursor)
        return b"\x1b" + data if alt and data else data

    def _key(self, qnum: int, shift: bool, ctrl: bool, application_cursor: bool) -> bytes:
        if qnum in ARROWS:
            if shift or ctrl:  # xterm: ESC [ 1 ; modifier x
                return f"\x1b[1;{1 + shift + 4 * ctrl}{ARROWS[qnum]}".encode()
            return f"\x1b{'O' if application_cursor else '['}{ARROWS[qnum]}".encode()
        if qnum == 0x0F and shift:
            return b"\x1b[Z"  # Shift+Tab
        if qnum in SPECIAL:
            return SPECIAL[qnum]
        if qnum in KEYPAD:
            return KEYPAD[qnum].encode()
        if qnum not in PRINTABLE:
            return b""
        plain, shifted = PRINTABLE[qnum]
        upper = shift != (self.caps_lock and plain.isalpha())
        char = shifted if upper else plain
        if ctrl:
            return control(char) or b""
        return char.encode()
