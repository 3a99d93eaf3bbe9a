"""A VM's serial port as the shell sees it: the guest's bytes out to terminals, typed bytes in.

QEMU's serial chardev is one end of a socketpair (``-chardev socket,fd=N``,
:mod:`.command`).  The socket is read on the backend loop the moment data arrives (a
guest is never held up by the shell); each chunk is written to the tile's serial log
at once, unbuffered, and then handed to the subscribers — terminals, which only
queue it (:mod:`.terminal_view`).  The line keeps reading whether or not a terminal
is open: QEMU then never waits for us.

A :class:`SerialLine` belongs to the tile, not to one run of QEMU: a restarted VM
attaches its new socket to the same line, and the line keeps the last
:data:`HISTORY_BYTES` so a console opened later starts with what the guest printed
before.  Lines are found by the tile's shell and id (:func:`line_for`), which is how
a docked console tile finds its VM.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

HISTORY_BYTES = 256 * 1024  # replayed to a terminal that subscribes late
READ_SIZE = 64 * 1024
LAST_LINE_BYTES = 4096  # of the history's end searched for the last line (a card shows it)
LAST_LINE_CHARS = 200
# CSI (colours, cursor moves), OSC (titles) and two-character escapes: none of it is text
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")

Subscriber = Callable[[bytes], None]

_lines: weakref.WeakValueDictionary[tuple[str, str], SerialLine] = weakref.WeakValueDictionary()
_lines_lock = threading.Lock()


def line_for(shell_dir: Path, tile: str) -> SerialLine:
    """The serial line of tile ``tile`` of the shell whose runtime directory is ``shell_dir``
    (made on first use, by the VM's source or by a console that starts before it)."""
    key = (str(shell_dir), tile)
    with _lines_lock:
        line = _lines.get(key)
        if line is None:
            line = _lines[key] = SerialLine(tile)
        return line


def last_line(data: bytes) -> str:
    """The last line of terminal output ``data`` that has text on it, as plain text: escape
    sequences and control characters removed; after a carriage return, what overwrote the line
    (its last part with text); at most :data:`LAST_LINE_CHARS`.  '' when there is none."""
    text = _ESCAPES.sub("", data.decode("utf-8", "replace"))
    for line in reversed(text.split("\n")):
        for part in reversed(line.split("\r")):
            plain = "".join(ch for ch in part if ch.isprintable()).strip()
            if plain:
                return plain[:LAST_LINE_CHARS]
    return ""


def forget_shell(shell_dir: Path) -> None:
    """The shell whose runtime directory is ``shell_dir`` is closing: its lines are no longer found
    (a later shell in the same process, whose directory has the same name, starts afresh)."""
    with _lines_lock:
        for key in [key for key in _lines if key[0] == str(shell_dir)]:
            del _lines[key]


class SerialLine:
    """Bytes from the guest to subscribers (with a replay of recent history), bytes to the guest.

    ``subscribe``/``unsubscribe``/``write`` may be called from any thread; reading and
    writing the socket happen on the loop given to :meth:`attach` (the backend loop).
    Subscribers are called on that loop and must only queue the data.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._history = bytearray()
        self._subscribers: list[Subscriber] = []
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outgoing = bytearray()
        self._log: BinaryIO | None = None  # the serial log, while a QEMU is attached
        self.received = 0  # bytes from the guest in total (all runs)
        self._last_line = (0, "")  # (received, its last line) when last asked

    # ------------------------------------------------------------ subscribers

    def subscribe(self, fn: Subscriber) -> bytes:
        """Start calling ``fn(chunk)`` for new bytes; returns the history before them.

        Under one lock with the reader, so no byte is missed or seen twice."""
        with self._lock:
            self._subscribers.append(fn)
            return bytes(self._history)

    def unsubscribe(self, fn: Subscriber) -> None:
        with self._lock:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

    @property
    def last_line(self) -> str:
        """The last line the guest printed with text on it (:func:`last_line`); the
        :class:`~geometry_os.api.SerialText` capability of the VM's tile."""
        with self._lock:
            if self._last_line[0] != self.received:
                self._last_line = (self.received, last_line(bytes(self._history[-LAST_LINE_BYTES:])))
            return self._last_line[1]

    @property
    def connected(self) -> bool:
        """A running QEMU's serial port is attached."""
        return self._sock is not None

    # ------------------------------------------------------------- the socket

    def attach(self, sock: socket.socket, log_path: Path) -> None:
        """Start reading QEMU's serial port on ``sock`` into ``log_path`` (made anew) and the subscribers
        (on the running loop; takes ownership of ``sock``).  OSError when the log cannot be written."""
        self.detach(self._sock)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb", buffering=0)  # closed by detach
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        self._sock, self._loop = sock, loop
        loop.add_reader(sock.fileno(), self._readable, sock)

    def detach(self, sock: socket.socket | None) -> None:
        """Stop reading ``sock`` (its QEMU is gone or going; a newer run's socket is left alone);
        bytes not yet sent to the guest are dropped.  On the loop it was attached on."""
        if sock is None or sock is not self._sock:
            return
        loop = self._loop
        self._sock = None
        self._outgoing.clear()
        if self._log is not None:
            self._log.close()
            self._log = None
        if loop is None:
            return
        loop.remove_reader(sock.fileno())
        loop.remove_writer(sock.fileno())
        sock.close()

    def _readable(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.info("%s: serial port closed (%s)", self.name, exc)
            data = b""
        if not data:
            self.detach(sock)
            return
        if self._log is not None:
            try:
                self._log.write(data)
            except OSError as exc:  # a full disk must not stop the console
                log.error("%s: writing the serial log failed (%s); it stops here", self.name, exc)
                self._log.close()
                self._log = None
        self.feed(data)

    def feed(self, data: bytes) -> None:
        """Record ``data`` from the guest and hand it to every subscriber."""
        with self._lock:
            self.received += len(data)
            self._history += data
            if len(self._history) > HISTORY_BYTES:
                del self._history[:len(self._history) - HISTORY_BYTES]
            subscribers = list(self._subscribers)
        for fn in subscribers:
            try:
                fn(data)
            except Exception:  # one broken terminal must not stop the line or the others
                log.exception("%s: a serial console failed on %d bytes", self.name, len(data))

    # ---------------------------------------------------------------- writing

    def write(self, data: bytes) -> bool:
        """Send ``data`` to the guest's serial port (any thread); False when no QEMU is attached.

        QEMU takes bytes as fast as the guest's UART drains them, so a long paste is
        queued here and sent as the socket accepts it, in order."""
        loop = self._loop
        if self._sock is None or loop is None or not data:
            return False
        try:
            loop.call_soon_threadsafe(self._send, bytes(data))
        except RuntimeError:  # the loop is closed: the process is exiting
            return False
        return True

    def _send(self, data: bytes) -> None:
        if self._sock is None:
            return
        self._outgoing += data
        self._flush()

    def _flush(self) -> None:
        sock, loop = self._sock, self._loop
        if sock is None or loop is None:
            return
        try:
            sent = sock.send(self._outgoing)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            log.info("%s: writing to the serial port failed (%s)", self.name, exc)
            self._outgoing.clear()
            return
        del self._outgoing[:sent]
        if self._outgoing:
            loop.add_writer(sock.fileno(), self._flush)
        else:
            loop.remove_writer(sock.fileno())
