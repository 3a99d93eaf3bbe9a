"""Keyboard tables: pyglet key symbols -> QEMU key codes (qcodes) -> QEMU key numbers (qnums).

QEMU names keys with its ``QKeyCode`` enum ("a", "ret", "ctrl_r", "kp_enter"...) and
numbers them with "qnums": the XT scancode set 1 code of the key, with an 0xE0-prefixed
key written as ``0x80 | code`` (so Up, E0 48, is 0xC8).  The D-Bus display's
``Keyboard.Press``/``Release`` take qnums; QMP ``input-send-event`` takes either.

pyglet reports a key by its X11 keysym *after* the layout and Shift are applied (Shift+1
is ``key.EXCLAMATION``), so the symbols of a US keyboard's shifted characters map back to
the physical key that makes them.  That makes the table exact for a US layout and a good
guess for others; a key whose keysym pyglet does not name (AltGr's ISO_Level3_Shift,
Shift+Tab's ISO_Left_Tab, Japanese and media keys) arrives as ``key.user_key(keycode)``,
and on Linux/X11 that keycode is the evdev keycode + 8, which :func:`qcode_for_symbol`
decodes through :data:`LINUX_TO_QCODE`.

The numbers below were generated from QEMU's keycodemapdb (``data/keymaps.csv``, its
"AT set1 keycode" and "Linux Keycode" columns, by the rule of its ``keymap-gen``: an E0xx
scancode becomes 0x80|xx, Hanja/Hangeul 0xF1/0xF2 become 0x71/0x72) and are checked
against the QEMU binary by ``tests/test_keymap.py``.
"""

from __future__ import annotations

import re
import string
import sys

from pyglet.window import key

#: QEMU QKeyCode name -> qnum, for every QKeyCode but "unmapped" (in the enum's order).
QCODE_TO_QNUM: dict[str, int] = {
    "shift": 0x2a, "shift_r": 0x36, "alt": 0x38, "alt_r": 0xb8, "ctrl": 0x1d, "ctrl_r": 0x9d,
    "menu": 0x9e, "esc": 0x01, "1": 0x02, "2": 0x03, "3": 0x04, "4": 0x05, "5": 0x06, "6": 0x07,
    "7": 0x08, "8": 0x09, "9": 0x0a, "0": 0x0b, "minus": 0x0c, "equal": 0x0d, "backspace": 0x0e,
    "tab": 0x0f, "q": 0x10, "w": 0x11, "e": 0x12, "r": 0x13, "t": 0x14, "y": 0x15, "u": 0x16,
    "i": 0x17, "o": 0x18, "p": 0x19, "bracket_left": 0x1a, "bracket_right": 0x1b, "ret": 0x1c,
    "a": 0x1e, "s": 0x1f, "d": 0x20, "f": 0x21, "g": 0x22, "h": 0x23, "j": 0x24, "k": 0x25,
    "l": 0x26, "semicolon": 0x27, "apostrophe": 0x28, "grave_accent": 0x29, "backslash": 0x2b,
    "z": 0x2c, "x": 0x2d, "c": 0x2e, "v": 0x2f, "b": 0x30, "n": 0x31, "m": 0x32, "comma": 0x33,
    "dot": 0x34, "slash": 0x35, "asterisk": 0x37, "spc": 0x39, "caps_lock": 0x3a, "f1": 0x3b,
    "f2": 0x3c, "f3": 0x3d, "f4": 0x3e, "f5": 0x3f, "f6": 0x40, "f7": 0x41, "f8": 0x42,
    "f9": 0x43, "f10": 0x44, "num_lock": 0x45, "scroll_lock": 0x46, "kp_divide": 0xb5,
    "kp_multiply": 0x37, "kp_subtract": 0x4a, "kp_add": 0x4e, "kp_enter": 0x9c,
    "kp_decimal": 0x53, "sysrq": 0x54, "kp_0": 0x52, "kp_1": 0x4f, "kp_2": 0x50, "kp_3": 0x51,
    "kp_4": 0x4b, "kp_5": 0x4c, "kp_6": 0x4d, "kp_7": 0x47, "kp_8": 0x48, "kp_9": 0x49,
    "less": 0x56, "f11": 0x57, "f12": 0x58, "print": 0x54, "home": 0xc7, "pgup": 0xc9,
    "pgdn": 0xd1, "end": 0xcf, "left": 0xcb, "up": 0xc8, "down": 0xd0, "right": 0xcd,
    "insert": 0xd2, "delete": 0xd3, "stop": 0xe8, "again": 0x85, "props": 0x86, "undo": 0x87,
    "front": 0x8c, "copy": 0xf8, "open": 0x64, "paste": 0x65, "find": 0xc1, "cut": 0xbc,
    "lf": 0x5b, "help": 0xf5, "meta_l": 0xdb, "meta_r": 0xdc, "compose": 0xdd, "pause": 0xc6,
    "ro": 0x73, "hiragana": 0x77, "henkan": 0x79, "yen": 0x7d, "muhenkan": 0x7b,
    "katakanahiragana": 0x70, "kp_comma": 0x7e, "kp_equals": 0x59, "power": 0xde, "sleep": 0xdf,
    "wake": 0xe3, "audionext": 0x99, "audioprev": 0x90, "audiostop": 0xa4, "audioplay": 0xa2,
    "audiomute": 0xa0, "volumeup": 0xb0, "volumedown": 0xae, "mediaselect": 0xed, "mail": 0xec,
    "calculator": 0xa1, "computer": 0xeb, "ac_home": 0xb2, "ac_back": 0xea, "ac_forward": 0xe9,
    "ac_refresh": 0xe7, "ac_bookmarks": 0xe6, "lang1": 0x72, "lang2": 0x71, "f13": 0x5d,
    "f14": 0x5e, "f15": 0x5f, "f16": 0x55, "f17": 0x83, "f18": 0xf7, "f19": 0x84, "f20": 0x5a,
    "f21": 0x74, "f22": 0xf9, "f23": 0x6d, "f24": 0x6f,
}

#: qcodes that share their qnum with another qcode: sent as qnums they are that key.
#: (The PC keypad "*" has two names in QEMU; SysRq is Alt+Print on a PC keyboard.)
QNUM_ALIASES: dict[str, str] = {"asterisk": "kp_multiply", "sysrq": "print"}

#: Linux evdev keycode -> qcode (aliases resolved as in :data:`QNUM_ALIASES`).
LINUX_TO_QCODE: dict[int, str] = {
    1: "esc", 2: "1", 3: "2", 4: "3", 5: "4", 6: "5", 7: "6", 8: "7", 9: "8", 10: "9", 11: "0",
    12: "minus", 13: "equal", 14: "backspace", 15: "tab", 16: "q", 17: "w", 18: "e", 19: "r",
    20: "t", 21: "y", 22: "u", 23: "i", 24: "o", 25: "p", 26: "bracket_left",
    27: "bracket_right", 28: "ret", 29: "ctrl", 30: "a", 31: "s", 32: "d", 33: "f", 34: "g",
    35: "h", 36: "j", 37: "k", 38: "l", 39: "semicolon", 40: "apostrophe", 41: "grave_accent",
    42: "shift", 43: "backslash", 44: "z", 45: "x", 46: "c", 47: "v", 48: "b", 49: "n", 50: "m",
    51: "comma", 52: "dot", 53: "slash", 54: "shift_r", 55: "kp_multiply", 56: "alt", 57: "spc",
    58: "caps_lock", 59: "f1", 60: "f2", 61: "f3", 62: "f4", 63: "f5", 64: "f6", 65: "f7",
    66: "f8", 67: "f9", 68: "f10", 69: "num_lock", 70: "scroll_lock", 71: "kp_7", 72: "kp_8",
    73: "kp_9", 74: "kp_subtract", 75: "kp_4", 76: "kp_5", 77: "kp_6", 78: "kp_add", 79: "kp_1",
    80: "kp_2", 81: "kp_3", 82: "kp_0", 83: "kp_decimal", 86: "less", 87: "f11", 88: "f12",
    89: "ro", 91: "hiragana", 92: "henkan", 93: "katakanahiragana", 94: "muhenkan",
    96: "kp_enter", 97: "ctrl_r", 98: "kp_divide", 99: "print", 100: "alt_r", 101: "lf",
    102: "home", 103: "up", 104: "pgup", 105: "left", 106: "right", 107: "end", 108: "down",
    109: "pgdn", 110: "insert", 111: "delete", 113: "audiomute", 114: "volumedown",
    115: "volumeup", 116: "power", 117: "kp_equals", 119: "pause", 121: "kp_comma",
    122: "lang1", 123: "lang2", 124: "yen", 125: "meta_l", 126: "meta_r", 127: "compose",
    128: "stop", 129: "again", 130: "props", 131: "undo", 132: "front", 133: "copy",
    134: "open", 135: "paste", 136: "find", 137: "cut", 138: "help", 139: "menu",
    140: "calculator", 142: "sleep", 143: "wake", 155: "mail", 156: "ac_bookmarks",
    157: "computer", 158: "ac_back", 159: "ac_forward", 163: "audionext", 164: "audioplay",
    165: "audioprev", 166: "audiostop", 172: "ac_home", 173: "ac_refresh", 183: "f13",
    184: "f14", 185: "f15", 186: "f16", 187: "f17", 188: "f18", 189: "f19", 190: "f20",
    191: "f21", 192: "f22", 193: "f23", 194: "f24", 226: "mediaselect",
}

#: X11 (Xorg's evdev/libinput drivers, Xwayland) numbers a key by its evdev keycode + 8.
X11_KEYCODE_OFFSET = 8

#: Whether pyglet's ``user_key`` symbols carry X11 keycodes (its window is Xlib on Linux).
USER_KEYS_ARE_X11_KEYCODES = sys.platform.startswith("linux")

# A US layout: the unshifted and shifted character of each punctuation key.
_US_PUNCTUATION = {
    "grave_accent": "`~", "minus": "-_", "equal": "=+", "bracket_left": "[{", "bracket_right": "]}",
    "backslash": "\\|", "semicolon": ";:", "apostrophe": "'\"", "comma": ",<", "dot": ".>",
    "slash": "/?", "spc": " ",
}
_US_SHIFTED_DIGITS = ")!@#$%^&*("  # Shift+0 .. Shift+9

#: Character -> (modifier qcodes, qcode) that types it on a US layout.
US_CHARS: dict[str, tuple[tuple[str, ...], str]] = {
    **{c: ((), c) for c in string.ascii_lowercase + string.digits},
    **{c.upper(): (("shift",), c) for c in string.ascii_lowercase},
    **{c: (("shift",), str(d)) for d, c in enumerate(_US_SHIFTED_DIGITS)},
    **{chars[0]: ((), q) for q, chars in _US_PUNCTUATION.items()},
    **{chars[1]: (("shift",), q) for q, chars in _US_PUNCTUATION.items() if len(chars) > 1},
    "\t": ((), "tab"),
    "\n": ((), "ret"),
}

#: pyglet key symbol -> qcode.  Printable keysyms equal their character's code point
#: (``key.EXCLAMATION == ord("!")``); pyglet lower-cases letters itself.
PYGLET_TO_QCODE: dict[int, str] = {
    **{ord(c): q for c, (_, q) in US_CHARS.items() if c.isprintable() and not c.isupper()},
    # Editing and navigation.
    key.ESCAPE: "esc", key.BACKSPACE: "backspace", key.TAB: "tab", key.RETURN: "ret",
    key.LINEFEED: "lf", key.INSERT: "insert", key.DELETE: "delete", key.HOME: "home",
    key.END: "end", key.PAGEUP: "pgup", key.PAGEDOWN: "pgdn", key.LEFT: "left", key.UP: "up",
    key.RIGHT: "right", key.DOWN: "down",
    # Print Screen, and SysRq, which X11 reports for Alt+Print: the same key (qnum 0x54).
    key.PRINT: "print", key.SYSREQ: "sysrq",
    # Pause, and Break, which X11 reports for Ctrl+Pause.
    key.PAUSE: "pause", key.BREAK: "pause",
    key.SCROLLLOCK: "scroll_lock", key.CAPSLOCK: "caps_lock", key.NUMLOCK: "num_lock",
    # The PC "application" key left of right Ctrl is Menu to X11 and Windows, but its
    # scancode (E0 5D) is what QEMU and Linux call compose; qcode "menu" is another key.
    key.MENU: "compose",
    # Function keys (pyglet's key.FUNCTION has F21's value).
    **{getattr(key, f"F{n}"): f"f{n}" for n in range(1, 25)},
    # Keypad with NumLock on, then the keysyms of the same keys with NumLock off.
    **{getattr(key, f"NUM_{n}"): f"kp_{n}" for n in range(10)},
    key.NUM_ADD: "kp_add", key.NUM_SUBTRACT: "kp_subtract", key.NUM_MULTIPLY: "kp_multiply",
    key.NUM_DIVIDE: "kp_divide", key.NUM_DECIMAL: "kp_decimal", key.NUM_ENTER: "kp_enter",
    key.NUM_EQUAL: "kp_equals", key.NUM_SEPARATOR: "kp_comma",
    key.NUM_INSERT: "kp_0", key.NUM_END: "kp_1", key.NUM_DOWN: "kp_2", key.NUM_PAGE_DOWN: "kp_3",
    key.NUM_LEFT: "kp_4", key.NUM_BEGIN: "kp_5", key.NUM_RIGHT: "kp_6", key.NUM_HOME: "kp_7",
    key.NUM_UP: "kp_8", key.NUM_PAGE_UP: "kp_9", key.NUM_DELETE: "kp_decimal",
    # Modifiers.  X11 reports Shift+Alt as Meta (xkb's pc symbols), so Meta is the Alt key;
    # the Windows key is Super (LWINDOWS), macOS's Command and Option are Windows and Alt.
    key.LSHIFT: "shift", key.RSHIFT: "shift_r", key.LCTRL: "ctrl", key.RCTRL: "ctrl_r",
    key.LALT: "alt", key.RALT: "alt_r", key.LMETA: "alt", key.RMETA: "alt_r",
    key.LWINDOWS: "meta_l", key.RWINDOWS: "meta_r", key.LCOMMAND: "meta_l", key.RCOMMAND: "meta_r",
    key.LOPTION: "alt", key.ROPTION: "alt_r",
    key.MODESWITCH: "alt_r",  # AltGr where xkb makes it Mode_switch
    # Sun/X11 editing keys that PC keyboards with extra keys have.
    key.UNDO: "undo", key.REDO: "again", key.FIND: "find", key.HELP: "help", key.CANCEL: "stop",
}


def qcode_for_symbol(symbol: int) -> str | None:
    """The QEMU key code of a pyglet key symbol, or None if it has none."""
    qcode = PYGLET_TO_QCODE.get(symbol)
    if qcode is None and USER_KEYS_ARE_X11_KEYCODES and symbol >> 32:
        qcode = LINUX_TO_QCODE.get((symbol >> 32) - X11_KEYCODE_OFFSET)
    return qcode


def qnum_for_symbol(symbol: int) -> int | None:
    """The QEMU key number of a pyglet key symbol, or None if it has none."""
    qcode = qcode_for_symbol(symbol)
    return None if qcode is None else QCODE_TO_QNUM[qcode]


def text_to_keys(text: str) -> list[tuple[tuple[str, ...], str]]:
    """The (modifier qcodes, qcode) of each character of ``text`` typed on a US layout.

    Tab and newline are the Tab and Return keys; any other character that a US keyboard
    has no key for raises ValueError naming it and its position (the first is 1).
    """
    keys = []
    for position, char in enumerate(text, start=1):
        if char not in US_CHARS:
            raise ValueError(f"cannot type {char!r} (U+{ord(char):04X}) at position {position}: "
                             "only printable ASCII, tab and newline can be typed (US layout)")
        keys.append(US_CHARS[char])
    return keys


#: Combinations the host's own desktop would eat, by name: ``geos keys TILE NAME``.
COMBOS: dict[str, list[str]] = {
    "ctrl-alt-del": ["ctrl", "alt", "delete"],
    "ctrl-alt-backspace": ["ctrl", "alt", "backspace"],
    **{f"ctrl-alt-f{n}": ["ctrl", "alt", f"f{n}"] for n in range(1, 13)},
    "alt-tab": ["alt", "tab"],
    "alt-shift-tab": ["alt", "shift", "tab"],
    "alt-f2": ["alt", "f2"],
    "alt-f4": ["alt", "f4"],
    "ctrl-esc": ["ctrl", "esc"],
    "super": ["meta_l"],
    # A PC keyboard's SysRq is Alt+Print; Linux's magic SysRq adds a letter: alt-sysrq-s.
    "sysrq": ["alt", "sysrq"],
}

#: Friendlier names for keys in combinations.
KEY_ALIASES: dict[str, str] = {
    "control": "ctrl", "lctrl": "ctrl", "rctrl": "ctrl_r",
    "lalt": "alt", "ralt": "alt_r", "altgr": "alt_r",
    "lshift": "shift", "rshift": "shift_r",
    "super": "meta_l", "win": "meta_l", "meta": "meta_l", "cmd": "meta_l", "rsuper": "meta_r",
    "del": "delete", "escape": "esc", "enter": "ret", "return": "ret", "space": "spc",
    "ins": "insert", "pageup": "pgup", "pagedown": "pgdn", "break": "pause",
    "prtsc": "print", "printscreen": "print", "apps": "compose",
    "capslock": "caps_lock", "numlock": "num_lock", "scrolllock": "scroll_lock",
}


def _allowed() -> str:
    """What :func:`parse_combo` accepts, in one line (runs of numbered keys collapsed)."""
    runs = {"a-z": list(string.ascii_lowercase), "0-9": list(string.digits),
            "f1-f24": [f"f{n}" for n in range(1, 25)], "kp_0-kp_9": [f"kp_{n}" for n in range(10)]}
    in_runs = {q for members in runs.values() for q in members}
    combos = [c for c in COMBOS if not re.fullmatch(r"ctrl-alt-f\d+", c)] + ["ctrl-alt-f1..f12"]
    return (f"use a combination name ({', '.join(combos)}) or keys joined by '-': "
            f"{', '.join(KEY_ALIASES)} or QEMU key codes "
            f"({', '.join([*runs, *(q for q in QCODE_TO_QNUM if q not in in_runs)])})")


def parse_combo(text: str) -> list[str]:
    """The qcodes of a key combination, in pressing order.

    ``text`` is a name from :data:`COMBOS` or keys joined by '-' (or '+'), each a QEMU key
    code or a :data:`KEY_ALIASES` name, case-insensitive: "ctrl-alt-f2", "alt-sysrq-s".
    """
    name = text.strip().lower()
    if name in COMBOS:
        return list(COMBOS[name])
    qcodes: list[str] = []
    for part in re.split(r"[-+]", name):
        qcode = KEY_ALIASES.get(part, part)
        if qcode not in QCODE_TO_QNUM:
            what = f"unknown key {part!r}" if part else "an empty key name"
            raise ValueError(f"{what} in combination {text!r}; {_allowed()}")
        if qcode in qcodes:
            raise ValueError(f"key {part!r} appears twice in combination {text!r}")
        qcodes.append(qcode)
    return qcodes
