"""The serial console's terminal without QEMU: keys to bytes, the pyte screen, drawing, flood limits.

The serial line is a real :class:`SerialLine` fed by the test (``line.feed``, what its
socket reader does with QEMU's bytes); the QEMU end is tested in
tests/qemu/test_serial_console.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geometry_os.api import FrameMailbox, wait_until
from geometry_os.plugins.input.bridge import combo_events, text_events
from geometry_os.plugins.qemu import terminal_render
from geometry_os.plugins.qemu.serial import SerialLine
from geometry_os.plugins.qemu.terminal import KEEP_AFTER_SKIP, Terminal
from geometry_os.plugins.qemu.terminal_keys import KeyEncoder
from geometry_os.plugins.qemu.terminal_view import FPS, TerminalView

UP, LEFT = 0xC8, 0xCB


def encode(events) -> bytes:
    keys = KeyEncoder()
    return b"".join(keys.press(q) if pressed else (keys.release(q) or b"") for pressed, q in events)


def text_of(terminal: Terminal, row: int) -> str:
    return "".join(ch.data for ch in terminal.view()[row]).rstrip()


# ------------------------------------------------------------------- keys
def test_typed_text_becomes_the_same_bytes():
    text = "echo 'Hello, World!' | tr a-z A-Z > /tmp/x_1; ls -la ~/\"q\" && [ 1 -lt 2 ]\t{}<>?@#$%^&*()+=`\\"
    assert encode(text_events(text)) == text.encode()


def test_enter_backspace_arrows_and_modifiers():
    assert encode(text_events("\n")) == b"\r"
    assert encode([(True, 0x0E), (False, 0x0E)]) == b"\x7f"
    assert encode(combo_events("ctrl-c")) == b"\x03"
    assert encode(combo_events("ctrl-d")) == b"\x04"
    assert encode(combo_events("alt-b")) == b"\x1bb"
    assert encode(combo_events("up")) == b"\x1b[A"
    assert encode(combo_events("ctrl-left")) == b"\x1b[1;5D"
    assert encode(combo_events("shift-tab")) == b"\x1b[Z"
    assert KeyEncoder().press(UP, application_cursor=True) == b"\x1bOA"


def test_caps_lock_toggles_letters_only():
    keys = KeyEncoder()
    keys.press(0x3A)
    assert keys.leds == 4
    assert keys.press(0x1E) == b"A" and keys.press(0x02) == b"1"
    keys.press(0x2A)  # Shift with Caps Lock: lower case again
    assert keys.press(0x1E) == b"a"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 0x1FF)), max_size=60), st.booleans())
def test_fuzz_any_key_numbers_give_bytes(events, application_cursor):
    keys = KeyEncoder()
    for pressed, qnum in events:
        if pressed:
            assert isinstance(keys.press(qnum, application_cursor), bytes)
        else:
            keys.release(qnum)


def test_the_qemu_plugin_registers_its_actions(host):
    names = {action.name for action in host.registry.actions}  # the register_actions hook
    assert {"vm.serial-console.show", "vm.serial-console.hide", "vm.sound.mute", "vm.sound.unmute",
            "vm.sound.louder", "vm.sound.quieter", "vm.clipboard.send", "vm.clipboard.type"} <= names


# --------------------------------------------------------------- terminal
def test_text_colours_and_cursor():
    terminal = Terminal(40, 5)
    terminal.queue(b"plain \x1b[31mred\x1b[0m\r\nsecond")
    terminal.feed(1.0)
    assert text_of(terminal, 0) == "plain red"
    assert terminal.view()[0][6].fg == "red"
    assert terminal.cursor == (1, 6)


def test_scrollback_shows_lines_that_left_the_screen():
    terminal = Terminal(20, 4)
    terminal.queue(b"".join(b"line %d\r\n" % n for n in range(30)))
    terminal.feed(1.0)
    assert text_of(terminal, 0) == "line 27"
    terminal.scroll_by(10)
    assert text_of(terminal, 0) == "line 17"
    assert terminal.cursor is None  # the cursor is below the view
    terminal.scroll_by(10_000)  # clamped to the history
    assert text_of(terminal, 0) == "line 0"
    terminal.follow()
    assert text_of(terminal, 0) == "line 27"


def test_selection_text_spans_rows_without_trailing_blanks():
    terminal = Terminal(20, 4)
    terminal.queue(b"first line\r\nsecond line\r\nthird")
    terminal.feed(1.0)
    terminal.select((0, 6), (1, 5))
    assert terminal.selected_text() == "line\nsecond"
    terminal.select((2, 4), (0, 0))  # dragged backwards: the same span in reading order
    assert terminal.selected_text() == "first line\nsecond line\nthird"


def test_a_unicode_digit_in_a_parameter_resets_the_parser_only():
    terminal = Terminal(40, 5)
    terminal.queue("x\x1b[²A".encode())  # pyte 0.8.2's parser raises ValueError in int("²")
    terminal.feed(1.0)
    terminal.queue(b"after")
    terminal.feed(1.0)
    assert terminal.errors == 1
    assert "after" in text_of(terminal, 0)


def test_queries_are_answered_and_a_bad_sequence_is_dropped_alone():
    terminal = Terminal(40, 5)
    terminal.queue(b"ab\x1b[6n\x1b[5Jcd")  # ESC [ 5 J raises inside pyte 0.8.2
    terminal.feed(1.0)
    assert terminal.take_answers() == b"\x1b[1;3R"
    assert terminal.errors == 1
    assert text_of(terminal, 0) == "abcd"


def test_a_flood_is_cut_to_the_newest_bytes_with_a_note():
    terminal = Terminal(80, 24)
    for _ in range(17):  # the 17th chunk overflows the backlog: it is cut to its newest part
        terminal.queue(b"x" * 65536)
    assert terminal.pending <= KEEP_AFTER_SKIP + 200
    assert terminal.skipped == 17 * 65536 - KEEP_AFTER_SKIP
    terminal.queue(b"\r\nthe end\r\n")
    started = time.monotonic()
    parsed = terminal.feed(0.05)
    assert time.monotonic() - started < 0.5  # a budget, not the whole backlog
    assert 0 < parsed < terminal.pending + parsed
    while terminal.pending:
        terminal.feed(1.0)
    screen = "\n".join(text_of(terminal, row) for row in range(24))
    history = "".join(ch.data for line in terminal.screen.history.top for ch in line.values())
    assert "the end" in screen
    assert "bytes of output skipped; the serial log has them" in history + screen


ESCAPE_HEAVY = st.lists(st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\x1b[", b"\x1b]", b"\x1bP", b"\x9b", b"\x1b(", b"\x1b#", b";", b"?", b"\x07", b"\x1b\\",
                     "²".encode(), "٣".encode(), "\u2168".encode()]),  # digits int() refuses or reads
    st.integers(0, 10**12).map(lambda n: str(n).encode()),
    st.sampled_from([bytes([c]) for c in b"@ABCDEFGHJKLMPSTXZ`abcdefghlmnqrsu"]),
), max_size=200).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(ESCAPE_HEAVY)
def test_fuzz_any_bytes_never_raise_and_keep_the_screen_shape(data):
    terminal = Terminal(30, 6)
    terminal.queue(data)
    started = time.monotonic()
    terminal.feed(0.05)
    assert time.monotonic() - started < 1.0
    while terminal.pending:
        terminal.feed(1.0)
    rows = terminal.view()
    assert len(rows) == 6 and all(len(row) == 30 for row in rows)
    terminal.scroll_by(3)
    terminal.select((0, 0), (5, 29))
    terminal.selected_text()
    painter = terminal_render.TerminalPainter(30, 6)
    painter.paint(terminal.view(), terminal.cursor, None)


# ----------------------------------------------------------------- drawing
def test_painter_draws_glyphs_in_their_colours():
    terminal = Terminal(10, 2)
    terminal.queue(b"\x1b[31mX\x1b[0m \x1b[7mY")
    terminal.feed(1.0)
    painter = terminal_render.TerminalPainter(10, 2)
    assert painter.paint(terminal.view(), None, None) == [0, 1]
    width, height = painter.cell
    x_cell = painter.pixels[:height, :width, :3]
    red_bgr = np.array(terminal_render.PALETTE_16[1][::-1])
    assert (np.abs(x_cell.astype(int) - red_bgr).sum(axis=2) < 30).sum() > 10  # the X in red
    assert not painter.pixels[:height, width:2 * width, :3].any()  # the blank is black
    y_cell = painter.pixels[:height, 2 * width:3 * width, :3]
    assert (y_cell == terminal_render.DEFAULT_FG[::-1]).all(axis=2).sum() > width * height // 2  # reversed
    assert painter.paint(terminal.view(), None, None) == []  # nothing changed, nothing drawn


# -------------------------------------------------------------------- view
@pytest.fixture
def view():
    line = SerialLine("test")
    mailbox = FrameMailbox()
    view = TerminalView("test", line, mailbox, 40, 5)
    yield view
    view.stop()


def shown_text(view: TerminalView) -> str:
    return "\n".join(text_of(view.terminal, row) for row in range(view.terminal.rows))


def test_view_replays_history_and_draws_new_output(view):
    view.line.feed(b"before the console opened\r\n")
    view.start()
    wait_until(lambda: "before the console opened" in shown_text(view), 5, what="history")
    drawn = view.mailbox.published
    view.line.feed(b"live output\r\n")
    wait_until(lambda: "live output" in shown_text(view) and view.mailbox.published > drawn, 5, what="a new frame")
    pixels = view.mailbox.peek_pixels()
    assert pixels.shape == (5 * view.painter.cell[1], 40 * view.painter.cell[0], 4)


def test_view_draws_a_flood_at_its_frame_rate(view):
    view.start()
    started = time.monotonic()
    for n in range(300):
        view.line.feed(b"\x1b[2J\x1b[H\x1b[1;31mflood %d\x1b[0m\r\n" % n * 20)
    wait_until(lambda: not view.terminal.pending, 30, what="the flood parsed")
    elapsed = time.monotonic() - started
    assert view.frames <= FPS * elapsed + 5


def test_selection_by_pointer_is_copied(view):
    copied: list[str] = []
    view.copy_to = copied.append
    view.line.feed(b"hello serial world\r\n")
    view.start()
    wait_until(lambda: "hello" in shown_text(view), 5, what="text")
    width, height = view.painter.cell
    view.mouse_set_abs(6 * width + 2, height // 2)
    view.mouse_press(0)
    view.mouse_set_abs(11 * width + 2, height // 2)
    view.mouse_release(0)
    assert copied == ["serial"]
    view.mouse_press(0)  # a click without a drag copies nothing and clears the selection
    view.mouse_release(0)
    assert copied == ["serial"] and view.terminal.selection() is None


def test_wheel_scrolls_and_typing_returns_to_the_live_screen(view):
    view.line.feed(b"".join(b"row %d\r\n" % n for n in range(20)))
    view.start()
    wait_until(lambda: "row 19" in shown_text(view), 5, what="text")
    view.mouse_press(3)
    view.mouse_release(3)
    assert view.terminal.scroll == 3
    view.key_press(0x1E)  # no QEMU attached: nothing is sent, but the view follows the live screen
    assert view.terminal.scroll == 0
    assert view.send_keys(text_events("a")).exception() is not None  # and says the line is not connected
