"""A terminal on a VM's serial line, as a tile shows it: frames out, keys and the pointer in.

One :class:`TerminalView` per terminal tile (a docked console, or a ``display: none``
VM that *is* its console).  It subscribes to the :class:`~.serial.SerialLine` (bytes
are only queued there, on the backend loop), and a thread of its own parses them
(:class:`~.terminal.Terminal`, a time budget per round) and draws the rows that
changed (:class:`~.terminal_render.TerminalPainter`) into the tile's mailbox, at most
:data:`FPS` times a second.  So a flood from the guest costs a bounded share of one
thread and shows late or skipped, never as a stalled shell; the serial log has it all.

It is also the tile's ``keyboard`` (QEMU key numbers -> bytes, :mod:`.terminal_keys`)
and ``pointer`` (capabilities in docs/plugins.md): the wheel scrolls the history,
a left-button drag selects, and releasing the button copies the selection through
:attr:`TerminalView.copy_to` (the plugin sets it to the host clipboard).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence

from geometry_os.api import FrameMailbox, KeyEvent, Rect

from .serial import SerialLine
from .terminal import Terminal
from .terminal_keys import KeyEncoder
from .terminal_render import TerminalPainter

log = logging.getLogger(__name__)

FPS = 30  # drawings per second at most
PARSE_SHARE = 0.3  # of each frame's time spent parsing at most: the rest of the shell keeps the CPU
WHEEL_UP, WHEEL_DOWN = 3, 4  # QEMU's buttons (api.Pointer)
WHEEL_LINES = 3


class TerminalView:
    """A terminal of ``columns`` x ``rows`` on ``line``, drawn into ``mailbox``."""

    def __init__(self, name: str, line: SerialLine, mailbox: FrameMailbox, columns: int = 80,
                 rows: int = 24) -> None:
        self.name = name
        self.line = line
        self.mailbox = mailbox
        self.terminal = Terminal(columns, rows, name)
        self.painter = TerminalPainter(columns, rows)
        self.keys = KeyEncoder()
        self.copy_to: Callable[[str], None] | None = None  # where a selection goes (the host clipboard)
        self.frames = 0  # drawings published
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_connected: Callable[[bool], None] | None = None  # told (on its thread) when the line comes and goes
        self._connected: bool | None = None
        self._live = False  # bytes queued from now on are the guest's live output (queries get answers)
        self._pointer: tuple[int, int] = (0, 0)  # where the pointer is, in this framebuffer's pixels
        self._anchor: tuple[int, int] | None = None  # the cell a selection drag started on

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Subscribe and start drawing (the history the line kept is shown first)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self.terminal = Terminal(self.terminal.columns, self.terminal.rows, self.name)  # the history fills it anew
        self.painter.forget()
        self._live = False
        history = self.line.subscribe(self._received)
        self.terminal.queue(history)
        self._thread = threading.Thread(target=self._run, name=f"geos-terminal-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.line.unsubscribe(self._received)
        self._stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)

    def _received(self, data: bytes) -> None:  # backend loop: queue only
        self.terminal.queue(data)
        self._wake.set()

    def _run(self) -> None:
        period = 1.0 / FPS
        self._draw()  # the first picture at once, even of an empty screen
        while not self._stopping.is_set():
            self._wake.wait(period)
            self._wake.clear()
            started = time.monotonic()
            try:
                self._round(period)
            except Exception:  # a bug must not leave a dead console: log it, the next round goes on
                log.exception("%s: the terminal failed to draw", self.name)
            if self.terminal.pending:  # more to parse: come back after this frame's time
                self._wake.set()
                self._stopping.wait(max(0.0, period - (time.monotonic() - started)))

    def _round(self, period: float) -> None:
        if self.line.connected != self._connected and self.on_connected is not None:
            self._connected = self.line.connected
            self.on_connected(self._connected)
        self.terminal.feed(period * PARSE_SHARE)
        if not self.terminal.pending:
            self._answer()
        self._draw()

    def _answer(self) -> None:
        """Send the answers to what the guest asked (a cursor position report for busybox's line
        editing) — only for live output: the history a late terminal replays asked someone else."""
        answers = self.terminal.take_answers()
        if self._live and answers:
            self.line.write(answers)
        self._live = True

    def _draw(self) -> None:
        terminal = self.terminal
        with terminal.lock:
            rows = terminal.view()
            cursor = terminal.cursor
            spans = self._selected_spans()
        changed = self.painter.paint(rows, cursor, spans)
        if changed or self.frames == 0:
            height = self.painter.cell[1]
            top, bottom = (min(changed), max(changed) + 1) if changed else (0, terminal.rows)
            self.mailbox.publish(self.painter.pixels,
                                 Rect(0, top * height, self.painter.pixels.shape[1], (bottom - top) * height))
            self.frames += 1

    def _selected_spans(self) -> list[tuple[int, int]] | None:
        span = self.terminal.selection()
        if span is None:
            return None
        (r0, c0), (r1, c1) = span
        columns = self.terminal.columns
        return [(c0 if y == r0 else 0, c1 + 1 if y == r1 else columns) if r0 <= y <= r1 else (0, 0)
                for y in range(self.terminal.rows)]

    def redraw(self) -> None:
        """Something the drawing depends on changed outside the guest's output (scroll, selection)."""
        self._wake.set()

    # ------------------------------------------------------------- keyboard

    @property
    def keyboard_modifiers(self) -> int:
        return self.keys.leds

    def key_press(self, qnum: int) -> None:
        data = self.keys.press(qnum, self.terminal.application_cursor_keys)
        if data:
            if self.terminal.scroll:
                self.terminal.follow()
                self.redraw()
            self.line.write(data)

    def key_release(self, qnum: int) -> None:
        self.keys.release(qnum)

    def send_keys(self, events: Sequence[KeyEvent]) -> concurrent.futures.Future[None]:
        """Type ``events`` down the line at once (a serial line needs no pacing: QEMU queues it)."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        data = bytearray()
        for pressed, qnum in events:
            if pressed:
                data += self.keys.press(qnum, self.terminal.application_cursor_keys)
            else:
                self.keys.release(qnum)
        if data and not self.line.write(bytes(data)):
            future.set_exception(ConnectionError(f"{self.name}: the serial port is not connected"))
        else:
            future.set_result(None)
        return future

    # -------------------------------------------------------------- pointer

    @property
    def is_absolute(self) -> bool:
        return True

    def _cell(self, x: int, y: int) -> tuple[int, int]:
        width, height = self.painter.cell
        return (max(0, min(self.terminal.rows - 1, y // height)),
                max(0, min(self.terminal.columns - 1, x // width)))

    def mouse_set_abs(self, x: int, y: int) -> None:
        self._pointer = (x, y)
        if self._anchor is not None:
            self.terminal.select(self._anchor, self._cell(x, y))
            self.redraw()

    def mouse_rel(self, dx: int, dy: int) -> None:
        self.mouse_set_abs(self._pointer[0] + dx, self._pointer[1] + dy)

    def mouse_press(self, button: int) -> None:
        if button in (WHEEL_UP, WHEEL_DOWN):
            self.terminal.scroll_by(WHEEL_LINES if button == WHEEL_UP else -WHEEL_LINES)
            self.redraw()
        elif button == 0:
            self._anchor = self._cell(*self._pointer)
            self.terminal.select(self._anchor)
            self.redraw()

    def mouse_release(self, button: int) -> None:
        if button != 0 or self._anchor is None:
            return
        self._anchor = None
        span = self.terminal.selection()
        if span is None or span[0] == span[1]:  # a click, not a drag: no selection
            self.terminal.clear_selection()
            self.redraw()
            return
        text = self.terminal.selected_text()
        if text and self.copy_to is not None:
            self.copy_to(text)
            log.info("%s: copied %d characters to the clipboard", self.name, len(text))
