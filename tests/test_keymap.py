"""The keyboard tables of plugins/input/keymap.py, checked against pyglet and QEMU itself."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict

import pytest
from pyglet.window import key

from geometry_os.plugins.input import keymap
from geometry_os.plugins.input.keymap import (
    COMBOS,
    LINUX_TO_QCODE,
    PYGLET_TO_QCODE,
    QCODE_TO_QNUM,
    QNUM_ALIASES,
    US_CHARS,
    parse_combo,
    qcode_for_symbol,
    qnum_for_symbol,
    text_to_keys,
)

#: QKeyCode members that are no key at all.
NOT_KEYS = {"unmapped": "QEMU's placeholder for 'no key'"}

#: qcodes that no pyglet key constant reaches, and why.
NO_PYGLET_SYMBOL = {
    "asterisk": "QEMU's second name of the keypad '*' (qnum 0x37); NUM_MULTIPLY gives kp_multiply",
    "menu": "Linux KEY_MENU, not the PC menu key (that one is compose); pyglet has no symbol",
    "less": "the ISO key between left Shift and Z: its keysym '<' is Shift+comma on a US layout",
    "props": "Sun/multimedia key, no pyglet symbol",
    "front": "Sun key, no pyglet symbol",
    "copy": "Sun/multimedia key, no pyglet symbol",
    "open": "Sun/multimedia key, no pyglet symbol",
    "paste": "Sun/multimedia key, no pyglet symbol",
    "cut": "Sun/multimedia key, no pyglet symbol",
    "ro": "Japanese key, no pyglet symbol",
    "hiragana": "Japanese key, no pyglet symbol",
    "henkan": "Japanese key, no pyglet symbol",
    "yen": "Japanese key, no pyglet symbol",
    "muhenkan": "Japanese key, no pyglet symbol",
    "katakanahiragana": "Japanese key, no pyglet symbol",
    "lang1": "Korean Hangeul key, no pyglet symbol",
    "lang2": "Korean Hanja key, no pyglet symbol",
    "power": "ACPI key, no pyglet symbol",
    "sleep": "ACPI key, no pyglet symbol",
    "wake": "ACPI key, no pyglet symbol",
    "audionext": "media key, no pyglet symbol",
    "audioprev": "media key, no pyglet symbol",
    "audiostop": "media key, no pyglet symbol",
    "audioplay": "media key, no pyglet symbol",
    "audiomute": "media key, no pyglet symbol",
    "volumeup": "media key, no pyglet symbol",
    "volumedown": "media key, no pyglet symbol",
    "mediaselect": "media key, no pyglet symbol",
    "mail": "launcher key, no pyglet symbol",
    "calculator": "launcher key, no pyglet symbol",
    "computer": "launcher key, no pyglet symbol",
    "ac_home": "browser key, no pyglet symbol",
    "ac_back": "browser key, no pyglet symbol",
    "ac_forward": "browser key, no pyglet symbol",
    "ac_refresh": "browser key, no pyglet symbol",
    "ac_bookmarks": "browser key, no pyglet symbol",
}

#: pyglet key constants deliberately left out of PYGLET_TO_QCODE, and why.
UNMAPPED_PYGLET = {
    "BEGIN": "X11 Begin: no PC key (keypad 5 without NumLock is NUM_BEGIN)",
    "CLEAR": "X11 Clear: no PC key",
    "EXECUTE": "X11 Execute: no PC key",
    "SELECT": "X11 Select: no PC key and no QEMU key code",
    "NUM_SPACE": "X11 KP_Space: no PC key",
    "NUM_TAB": "X11 KP_Tab: no PC key",
    "NUM_F1": "X11 KP_F1 (DEC keypad PF1): no PC key",
    "NUM_F2": "X11 KP_F2: no PC key",
    "NUM_F3": "X11 KP_F3: no PC key",
    "NUM_F4": "X11 KP_F4: no PC key",
}


def pyglet_key_names() -> dict[str, int]:
    """pyglet's key constants (not modifier bits or text motions)."""
    return {name: value for name, value in vars(key).items()
            if re.fullmatch(r"[A-Z_][A-Z0-9_]*", name) and isinstance(value, int)
            and not name.startswith(("MOD_", "MOTION_"))}


# ------------------------------------------------------------------ against QEMU
@pytest.mark.qemu
def test_tables_match_the_qemu_binary() -> None:
    """Every QKeyCode of this QEMU has a qnum, and QEMU reads each qnum back as its qcode.

    One short run of a stopped-at-BIOS PC: query-qmp-schema gives the QKeyCode enum; an
    input-send-event of every qnum, traced, shows the qcode QEMU makes of each number.
    """
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    qnums = list(QCODE_TO_QNUM.items())
    events = [{"type": "key", "data": {"down": True, "key": {"type": "number", "data": n}}} for _, n in qnums]
    commands = [{"execute": "qmp_capabilities"}, {"execute": "query-qmp-schema"},
                {"execute": "input-send-event", "arguments": {"events": events}}, {"execute": "quit"}]
    run = subprocess.run(
        [qemu, "-M", "pc", "-accel", "tcg", "-m", "32", "-nodefaults", "-display", "none",
         "-qmp", "stdio", "-trace", "input_event_key_qcode"],
        input="".join(json.dumps(c) + "\n" for c in commands), capture_output=True, text=True, timeout=60, check=True)
    replies = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    returns = [r for r in replies if "return" in r or "error" in r]
    assert [("error" in r) for r in returns] == [False] * 4, returns

    schema = returns[1]["return"]
    enums = [[m["name"] for m in t["members"]] for t in schema
             if t["meta-type"] == "enum" and {"ret", "kp_enter", "ctrl_r"} <= {m["name"] for m in t["members"]}]
    assert len(enums) == 1, "expected one QKeyCode enum in the QMP schema"
    assert set(enums[0]) - set(NOT_KEYS) == set(QCODE_TO_QNUM)

    traced = re.findall(r"key qcode (\w+), down 1", run.stderr)
    if not traced:
        pytest.skip("this QEMU was built without the 'log' trace backend")
    assert traced == [QNUM_ALIASES.get(q, q) for q, _ in qnums]


# ------------------------------------------------------------------ against pyglet
def test_qcodes_without_a_pyglet_symbol_are_exactly_the_listed_ones() -> None:
    assert set(QCODE_TO_QNUM) - set(PYGLET_TO_QCODE.values()) == set(NO_PYGLET_SYMBOL)


def test_every_mapped_symbol_is_a_pyglet_key_and_every_key_is_mapped_or_listed() -> None:
    names = pyglet_key_names()
    assert set(PYGLET_TO_QCODE) <= set(names.values())
    unmapped = {name for name, value in names.items() if value not in PYGLET_TO_QCODE}
    assert unmapped == set(UNMAPPED_PYGLET)
    assert set(PYGLET_TO_QCODE.values()) <= set(QCODE_TO_QNUM)


def test_x11_user_keys_reach_every_key_through_evdev_keycodes(monkeypatch) -> None:
    assert set(LINUX_TO_QCODE.values()) == set(QCODE_TO_QNUM) - set(QNUM_ALIASES)
    monkeypatch.setattr(keymap, "USER_KEYS_ARE_X11_KEYCODES", True)
    # X11 keycodes of keysyms pyglet does not name: ISO_Left_Tab (Shift+Tab),
    # ISO_Level3_Shift (AltGr), Henkan, the ISO 102nd key under a layout where it is not '<'.
    assert [qcode_for_symbol(key.user_key(code)) for code in (23, 108, 100, 94)] == ["tab", "alt_r", "henkan", "less"]
    assert qnum_for_symbol(key.user_key(23)) == 0x0F
    assert qcode_for_symbol(key.user_key(8 + 0x2FF)) is None  # beyond the table
    monkeypatch.setattr(keymap, "USER_KEYS_ARE_X11_KEYCODES", False)
    assert qcode_for_symbol(key.user_key(23)) is None


def test_shifted_keysyms_land_on_the_physical_key() -> None:
    assert qcode_for_symbol(key.EXCLAMATION) == "1"
    assert qcode_for_symbol(key.COLON) == "semicolon"
    assert qcode_for_symbol(key.ASCIITILDE) == "grave_accent"
    assert qcode_for_symbol(key.BAR) == "backslash"
    assert qcode_for_symbol(key.PARENRIGHT) == "0"
    assert qcode_for_symbol(key.UNDERSCORE) == qcode_for_symbol(key.MINUS) == "minus"
    assert qcode_for_symbol(key.QUESTION) == "slash"


def test_special_keys() -> None:
    assert qnum_for_symbol(key.RETURN) == 0x1C
    assert qnum_for_symbol(key.NUM_ENTER) == 0x9C
    assert qnum_for_symbol(key.RCTRL) == 0x9D
    assert qnum_for_symbol(key.UP) == 0xC8
    assert qnum_for_symbol(key.PAUSE) == qnum_for_symbol(key.BREAK) == 0xC6
    assert qnum_for_symbol(key.PRINT) == qnum_for_symbol(key.SYSREQ) == 0x54
    assert qcode_for_symbol(key.MENU) == "compose" and qnum_for_symbol(key.MENU) == 0xDD
    assert qcode_for_symbol(key.MODESWITCH) == "alt_r"
    assert qnum_for_symbol(key.LWINDOWS) == 0xDB and qnum_for_symbol(key.RWINDOWS) == 0xDC
    assert qnum_for_symbol(key.SELECT) is None  # no PC key


# ------------------------------------------------------------------ the tables themselves
def test_qnums_are_distinct_except_documented_aliases() -> None:
    by_qnum: dict[int, set[str]] = defaultdict(set)
    for qcode, qnum in QCODE_TO_QNUM.items():
        assert 0 < qnum <= 0xFF, qcode
        by_qnum[qnum].add(qcode)
    shared = [qcodes for qcodes in by_qnum.values() if len(qcodes) > 1]
    assert sorted(map(sorted, shared)) == sorted(sorted(pair) for pair in QNUM_ALIASES.items())


def test_round_trip_qcode_qnum_qcode() -> None:
    from_qnum = {qnum: qcode for qcode, qnum in QCODE_TO_QNUM.items() if qcode not in QNUM_ALIASES}
    for qcode, qnum in QCODE_TO_QNUM.items():
        assert from_qnum[qnum] == QNUM_ALIASES.get(qcode, qcode)


def test_left_and_right_modifiers_are_distinct() -> None:
    pairs = [(key.LSHIFT, key.RSHIFT), (key.LCTRL, key.RCTRL), (key.LALT, key.RALT),
             (key.LWINDOWS, key.RWINDOWS), (key.LMETA, key.RMETA), (key.LCOMMAND, key.RCOMMAND),
             (key.LOPTION, key.ROPTION)]
    for left, right in pairs:
        assert qnum_for_symbol(left) != qnum_for_symbol(right), key.symbol_string(left)
    assert [qnum_for_symbol(s) for s in (key.LSHIFT, key.RSHIFT, key.LCTRL, key.RCTRL, key.LALT, key.RALT)] == [
        0x2A, 0x36, 0x1D, 0x9D, 0x38, 0xB8]


def test_function_keys_f1_to_f24() -> None:
    qnums = [qnum_for_symbol(getattr(key, f"F{n}")) for n in range(1, 25)]
    assert qnums == [QCODE_TO_QNUM[f"f{n}"] for n in range(1, 25)]
    assert len(set(qnums)) == 24
    assert qnums[:12] == [*range(0x3B, 0x45), 0x57, 0x58]
    assert qnums[12:] == [0x5D, 0x5E, 0x5F, 0x55, 0x83, 0xF7, 0x84, 0x5A, 0x74, 0xF9, 0x6D, 0x6F]


def test_keypad_with_and_without_numlock() -> None:
    numlock_off = [key.NUM_INSERT, key.NUM_END, key.NUM_DOWN, key.NUM_PAGE_DOWN, key.NUM_LEFT,
                   key.NUM_BEGIN, key.NUM_RIGHT, key.NUM_HOME, key.NUM_UP, key.NUM_PAGE_UP]
    for digit, symbol in enumerate(numlock_off):
        assert qnum_for_symbol(getattr(key, f"NUM_{digit}")) == qnum_for_symbol(symbol) == QCODE_TO_QNUM[f"kp_{digit}"]
        assert qnum_for_symbol(getattr(key, f"_{digit}")) != QCODE_TO_QNUM[f"kp_{digit}"]
    assert qnum_for_symbol(key.NUM_DECIMAL) == qnum_for_symbol(key.NUM_DELETE) == 0x53
    assert qnum_for_symbol(key.NUM_DIVIDE) == 0xB5 and qnum_for_symbol(key.SLASH) == 0x35
    assert qnum_for_symbol(key.NUMLOCK) == 0x45


# ------------------------------------------------------------------ text
def test_text_to_keys() -> None:
    shift = ("shift",)
    assert text_to_keys("Hello, World!\t|~") == [
        (shift, "h"), ((), "e"), ((), "l"), ((), "l"), ((), "o"), ((), "comma"), ((), "spc"),
        (shift, "w"), ((), "o"), ((), "r"), ((), "l"), ((), "d"), (shift, "1"), ((), "tab"),
        (shift, "backslash"), (shift, "grave_accent"),
    ]
    assert text_to_keys("a\n") == [((), "a"), ((), "ret")]
    assert text_to_keys("") == []


def test_every_printable_ascii_character_can_be_typed_and_matches_its_keysym() -> None:
    for char in map(chr, range(0x20, 0x7F)):
        [(modifiers, qcode)] = text_to_keys(char)
        assert modifiers == (("shift",) if char.isupper() or char in '~!@#$%^&*()_+{}|:"<>?' else ())
        assert qcode_for_symbol(ord(char.lower())) == qcode, char
    assert len(US_CHARS) == 0x7F - 0x20 + 2


@pytest.mark.parametrize(("text", "char", "position"), [("ab€", "'€'", 3), ("x\ry", "'\\r'", 2), ("é", "'é'", 1)])
def test_text_with_a_character_a_us_keyboard_lacks(text: str, char: str, position: int) -> None:
    pattern = rf"cannot type {re.escape(char)} \(U\+[0-9A-F]{{4}}\) at position {position}:"
    with pytest.raises(ValueError, match=pattern):
        text_to_keys(text)


# ------------------------------------------------------------------ combinations
def test_combos() -> None:
    assert parse_combo("ctrl-alt-del") == ["ctrl", "alt", "delete"]
    assert {f"ctrl-alt-f{n}" for n in range(1, 13)} <= set(COMBOS)
    assert parse_combo("ctrl-alt-f12") == ["ctrl", "alt", "f12"]
    assert parse_combo("sysrq") == ["alt", "sysrq"]
    for name, qcodes in COMBOS.items():
        assert parse_combo(name) == qcodes
        assert set(qcodes) <= set(QCODE_TO_QNUM)
        assert parse_combo("-".join(qcodes)) == qcodes  # every name is also spelled out


def test_combos_from_keys_and_aliases() -> None:
    assert parse_combo("alt-sysrq-s") == ["alt", "sysrq", "s"]
    assert parse_combo(" Ctrl+AltGr+Del ") == ["ctrl", "alt_r", "delete"]
    assert parse_combo("shift-kp_enter") == ["shift", "kp_enter"]
    assert parse_combo("super-l") == ["meta_l", "l"]
    assert parse_combo("esc") == ["esc"]


@pytest.mark.parametrize(("text", "message"), [
    ("ctrl-foo", "unknown key 'foo' in combination 'ctrl-foo'"),
    ("ctrl--alt", "an empty key name in combination 'ctrl--alt'"),
    ("", "an empty key name in combination ''"),
    ("ctrl-control-x", "key 'control' appears twice in combination 'ctrl-control-x'"),
])
def test_combo_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        parse_combo(text)
    if "unknown" in message or "empty" in message:
        text = str(error.value)
        assert "\n" not in text
        for allowed in ("ctrl-alt-del", "ctrl-alt-f1..f12", "altgr", "f1-f24", "kp_enter", "ret"):
            assert allowed in text
