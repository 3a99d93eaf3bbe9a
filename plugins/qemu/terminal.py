"""A terminal emulator's state: pyte's VT100/xterm screen, scrollback, a selection.

Bytes from the guest are parsed by pyte (``ByteStream`` -> ``HistoryScreen``); what
this module adds is what a tile needs around it:

* **bounded work**: :meth:`Terminal.feed` parses at most a time budget's worth and
  leaves the rest queued, and a backlog beyond :data:`MAX_BACKLOG` is cut to its
  newest :data:`KEEP_AFTER_SKIP` bytes with a note on the screen ("output skipped: the serial log has it"),
  so a flood costs the shell a fixed share of one thread and never memory or a
  stall.  pyte parses about 100 KB/s on this machine (docs/qemu.md).  The serial
  log has every byte (:mod:`.serial`).
* **never raises on input**: pyte raises on some malformed sequences (``ESC [ 5 J``
  is an UnboundLocalError in 0.8.2).  Every screen call the parser makes goes
  through :class:`_Guarded`, which drops that one sequence, counts it and logs the
  first few; the parser's state and the bytes after it are kept.  Where the parser
  itself fails (``ESC [ ²`` : a Unicode digit ``int()`` refuses) it is made anew and
  the rest of that chunk (at most :data:`CHUNK` bytes) is lost.
* **answers**: what the guest asks the terminal (cursor position, device
  attributes) is collected in :attr:`Terminal.answers` for the caller to send back.
* **scrollback**: :attr:`scroll` lines back into pyte's history (0: live).
* **selection**: a span of cells from an anchor to a point, in view coordinates,
  and its text for the clipboard.

All methods take the terminal's lock (queueing only the backlog's): the worker thread feeds and draws, the main
thread scrolls, selects and reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pyte
from pyte.screens import Char

log = logging.getLogger(__name__)

MAX_BACKLOG = 1024 * 1024  # bytes queued for parsing; beyond that the oldest are skipped ...
KEEP_AFTER_SKIP = 64 * 1024  # ... down to this many newest bytes (a screenful and some history, parsed in ~1 s)
CHUNK = 1024  # bytes parsed between checks of the time budget (a few ms of pyte on garbage)
SCROLLBACK = 2000  # lines kept above the screen
DECCKM = 1 << 5  # private mode 1, as pyte numbers private modes (pyte.modes has no name for it)
MAX_ANSWERS = 4096  # bytes of answers kept for the caller (a flood of queries must not grow it)

Row = Sequence[Char]


class _Screen(pyte.HistoryScreen):
    """pyte's screen, keeping what it would write back to the guest instead of dropping it."""

    def __init__(self, columns: int, rows: int) -> None:
        super().__init__(columns, rows, history=SCROLLBACK, ratio=0.5)
        self.answers = bytearray()

    def write_process_input(self, data: str) -> None:
        if len(self.answers) < MAX_ANSWERS:
            self.answers += data.encode()


class _Guarded:
    """The screen as pyte's parser sees it: every method it looks up is wrapped so that an
    exception drops that one control sequence instead of killing the parser."""

    def __init__(self, screen: _Screen, failed: Callable[[str, Exception], None]) -> None:
        self._screen = screen
        self._failed = failed

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._screen, name)
        if not callable(method):
            return method

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as exc:  # pyte has no error channel: any exception is one bad sequence
                self._failed(name, exc)
                return None

        return guarded


class Terminal:
    """One terminal screen of ``columns`` x ``rows`` with scrollback."""

    def __init__(self, columns: int = 80, rows: int = 24, name: str = "terminal") -> None:
        self.name = name
        self.columns, self.rows = columns, rows
        self.lock = threading.RLock()
        self.screen = _Screen(columns, rows)
        self.stream = pyte.ByteStream(_Guarded(self.screen, self._failed))
        self._backlog = bytearray()
        # The backlog has its own lock: queueing (on the serial line's reader) never waits for a parse,
        # or QEMU would find the socket full and log a byte twice (it logs writes that failed too).
        self._inbox = threading.Lock()
        self.skipped = 0  # bytes never parsed because a flood outran the parser
        self.errors = 0  # control sequences pyte failed on (each dropped)
        self.parsed = 0  # bytes parsed in total
        self.version = 0  # bumped by every change a drawing depends on
        self.scroll = 0  # lines scrolled back into the history (0: live)
        self._anchor: tuple[int, int] | None = None  # selection start, (row, col) in the view
        self._point: tuple[int, int] | None = None

    # ------------------------------------------------------------------ input

    def queue(self, data: bytes) -> None:
        """Queue bytes from the guest (any thread; cheap).  A backlog past MAX_BACKLOG
        loses all but its newest bytes: the screen could not show them in time anyway."""
        with self._inbox:
            self._backlog += data
            if len(self._backlog) > MAX_BACKLOG:
                excess = len(self._backlog) - KEEP_AFTER_SKIP
                del self._backlog[:excess]
                self.skipped += excess
                self._note_skipped(excess)

    @property
    def pending(self) -> int:
        """Bytes queued and not parsed yet."""
        return len(self._backlog)

    def feed(self, budget: float = 0.02) -> int:
        """Parse queued bytes for at most ``budget`` seconds; returns how many were parsed."""
        deadline = time.monotonic() + budget
        done = 0
        while True:
            with self._inbox:
                if not self._backlog:
                    break
                chunk = bytes(self._backlog[:CHUNK])
                del self._backlog[:CHUNK]
            with self.lock:
                self._parse(chunk)
            done += len(chunk)
            if time.monotonic() >= deadline:
                break
            time.sleep(0)  # let the main thread have the GIL between chunks: drawing the map comes first
        return done

    def _parse(self, chunk: bytes) -> None:
        try:
            self.stream.feed(chunk)
        except Exception as exc:  # pyte's parser itself failed (0.8.2: a CSI parameter "digit" like "²")
            self._failed("parser", exc)
            self.stream = pyte.ByteStream(_Guarded(self.screen, self._failed))  # the rest of this chunk is lost
        self.parsed += len(chunk)
        self.version += 1

    def _failed(self, event: str, exc: Exception) -> None:
        self.errors += 1
        if self.errors <= 3:
            log.warning("%s: a control sequence from the guest was dropped (%s: %s: %s)", self.name,
                        event, type(exc).__name__, exc)

    def take_answers(self) -> bytes:
        """What the guest's queries asked the terminal to send back since the last call."""
        with self.lock:
            answers = bytes(self.screen.answers)
            self.screen.answers.clear()
            return answers

    def _note_skipped(self, count: int) -> None:
        if self.skipped == count:  # the first time in this terminal's life: say so in the log too
            log.warning("%s: the guest writes faster than the console can draw; skipping output "
                        "(the serial log has every byte)", self.name)
        note = f"\r\n\x1b[0;7m[geos: {count} bytes of output skipped; the serial log has them]\x1b[0m\r\n"
        self._backlog[:0] = note.encode()

    # ------------------------------------------------------------------ view

    def view(self) -> list[Row]:
        """The rows to draw: the live screen, or history and screen when scrolled back."""
        with self.lock:
            screen = self.screen
            live = [screen.buffer[y] for y in range(self.rows)]
            if self.scroll == 0:
                rows: list[Any] = live
            else:
                history = list(screen.history.top)
                back = min(self.scroll, len(history))
                rows = history[len(history) - back:] + live[:self.rows - back]
            default = screen.default_char
            return [[row[x] if x in row else default for x in range(self.columns)] for row in rows]

    @property
    def cursor(self) -> tuple[int, int] | None:
        """(row, col) of the cursor in the view, or None when hidden or scrolled away."""
        with self.lock:
            c = self.screen.cursor
            row = c.y + self.scroll
            if c.hidden or row >= self.rows:
                return None
            return row, min(c.x, self.columns - 1)

    @property
    def application_cursor_keys(self) -> bool:
        """DECCKM: arrow keys send ESC O A instead of ESC [ A (full-screen programs set it)."""
        with self.lock:
            return DECCKM in self.screen.mode

    def scroll_by(self, lines: int) -> None:
        """Scroll back (positive) or forward (negative) through the history."""
        with self.lock:
            limit = len(self.screen.history.top)
            scroll = max(0, min(limit, self.scroll + lines))
            if scroll != self.scroll:
                self.scroll = scroll
                self.version += 1

    def follow(self) -> None:
        """Back to the live screen (typing does this)."""
        self.scroll_by(-self.scroll)

    # ------------------------------------------------------------- selection

    def select(self, anchor: tuple[int, int], point: tuple[int, int] | None = None) -> None:
        """Select from ``anchor`` to ``point`` (view (row, col)); ``point`` None: start at ``anchor``."""
        with self.lock:
            self._anchor, self._point = anchor, point or anchor
            self.version += 1

    def clear_selection(self) -> None:
        with self.lock:
            if self._anchor is not None:
                self._anchor = self._point = None
                self.version += 1

    def selection(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The selected span, start before end in reading order, or None."""
        with self.lock:
            if self._anchor is None or self._point is None:
                return None
            a, b = sorted((self._anchor, self._point))
            return a, b

    def selected(self, row: int, col: int) -> bool:
        span = self.selection()
        return span is not None and span[0] <= (row, col) <= span[1]

    def selected_text(self) -> str:
        """The selected cells as text: trailing blanks dropped, rows joined by newlines."""
        span = self.selection()
        if span is None:
            return ""
        (r0, c0), (r1, c1) = span
        rows = self.view()
        lines = []
        for r in range(r0, r1 + 1):
            start = c0 if r == r0 else 0
            end = c1 if r == r1 else self.columns - 1
            lines.append("".join(ch.data for ch in rows[r][start:end + 1]).rstrip())
        return "\n".join(lines)
