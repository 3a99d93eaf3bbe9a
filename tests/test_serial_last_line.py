"""The last line a guest printed on its serial port (plugins/qemu/serial.py), as a tile's card
shows it: plain text out of terminal bytes, and fuzzed (never raises, never returns control
characters or more than the limit)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from geometry_os.plugins.qemu.serial import LAST_LINE_BYTES, LAST_LINE_CHARS, SerialLine, last_line


def test_escapes_and_control_characters_are_not_text():
    assert last_line(b"boot\r\n\x1b[1;32mtiny#\x1b[0m \r\n") == "tiny#"
    assert last_line(b"\x1b]0;a window title\x07U=12.34\r\n\r\n  \r\n") == "U=12.34"
    assert last_line(b"progress 10%\rprogress 99%") == "progress 99%"  # what overwrote the line
    assert last_line(b"caf\xc3\xa9 \xff\x07bell") == "caf\u00e9 \ufffdbell"
    assert last_line(b"") == last_line(b"\r\n\x1b[2J\x1b[H") == ""
    assert last_line(b"x" * 1000) == "x" * LAST_LINE_CHARS


def test_a_lines_last_line_follows_what_the_guest_prints():
    line = SerialLine("vm")
    assert line.last_line == ""
    line.feed(b"Linux version 6.1\r\nhello ")
    assert line.last_line == "hello"
    line.feed(b"world\r\n")
    assert line.last_line == "hello world"
    line.feed(b"\r\n" + b"y" * LAST_LINE_BYTES)  # only the history's end is searched
    assert line.last_line == "y" * LAST_LINE_CHARS


@given(st.binary(max_size=2048))
def test_fuzzed_terminal_bytes_give_plain_text(data):
    text = last_line(data)
    assert len(text) <= LAST_LINE_CHARS
    assert text == text.strip() and all(ch.isprintable() for ch in text)
    assert "\x1b" not in text
