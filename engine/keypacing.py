"""The one key-pacing mechanism: key events go to a guest in order, a few milliseconds apart.

Why pace at all: a PS/2 keyboard holds 16 bytes, and a burst (Shift+key is four events
in under a millisecond from X, a typed line is hundreds) overflows it while a TCG guest
is busy; QEMU then drops keys.  QEMU's own VNC server paces the same way
(``key-delay-ms``, 10 ms).  Live typing and automation (``geos type``, pasting as
keystrokes) share one queue per guest, so they can never interleave out of order.

A :class:`KeyPacer` runs on the asyncio loop of the code that talks to the guest (a
display client's thread, a backend loop); :meth:`KeyPacer.press`,
:meth:`KeyPacer.release` and :meth:`KeyPacer.send` may be called from any thread.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
from collections.abc import Callable, Sequence

from geometry_os.capabilities import KeyEvent

log = logging.getLogger(__name__)

#: Seconds between two key events reaching a guest.
KEY_INTERVAL = 0.010


class KeyPacer:
    """A queue of key events for one guest, sent ``interval`` seconds apart by ``send``.

    ``send(pressed, qnum)`` runs on ``loop`` and must not block; an exception from it
    fails the batch it belongs to (and is logged for live keys).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Callable[[bool, int], None],
                 interval: float = KEY_INTERVAL) -> None:
        self._loop = loop
        self._send = send
        self.interval = interval
        # (pressed, qnum, the batch's future when this is its last event)
        self._queue: collections.deque[tuple[bool, int, concurrent.futures.Future[None] | None]] = \
            collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def press(self, qnum: int) -> None:
        self._enqueue([(True, qnum)], None)

    def release(self, qnum: int) -> None:
        self._enqueue([(False, qnum)], None)

    def send(self, events: Sequence[KeyEvent]) -> concurrent.futures.Future[None]:
        """Queue ``events``; the future is done when the last one was sent."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        if not events:
            future.set_result(None)
            return future
        self._enqueue(list(events), future)
        return future

    def pending(self) -> int:
        """Events still queued (for tests and statistics)."""
        return len(self._queue)

    def close(self, reason: str = "the guest's keyboard went away") -> None:
        """Drop what is queued; batches waiting on it fail with ``reason``.  Loop thread only."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queue:
            _, _, done = self._queue.popleft()
            if done is not None and not done.done():
                done.set_exception(ConnectionError(reason))

    def _enqueue(self, events: list[KeyEvent], done: concurrent.futures.Future[None] | None) -> None:
        try:
            self._loop.call_soon_threadsafe(self._append, events, done)
        except RuntimeError:  # the loop is closed: the guest is gone
            if done is not None:
                done.set_exception(ConnectionError("the guest's keyboard is closed"))

    def _append(self, events: list[KeyEvent], done: concurrent.futures.Future[None] | None) -> None:
        if self._closed:
            if done is not None:
                done.set_exception(ConnectionError("the guest's keyboard is closed"))
            return
        last = len(events) - 1
        for index, (pressed, qnum) in enumerate(events):
            self._queue.append((pressed, int(qnum) & 0xFFFFFFFF, done if index == last else None))
        if self._timer is None:
            self._next()

    def _next(self) -> None:
        self._timer = None
        if not self._queue:
            return
        pressed, qnum, done = self._queue.popleft()
        try:
            self._send(pressed, qnum)
        except Exception as exc:  # a closed connection: fail the batch, keep the queue going
            log.debug("key %s %#x not sent: %s", "press" if pressed else "release", qnum, exc)
            if done is not None and not done.done():
                done.set_exception(exc)
                done = None
        if done is not None and not done.done():
            done.set_result(None)
        self._timer = self._loop.call_later(self.interval, self._next)
