"""``resize: follow``: ask the guest for a screen mode the size of its tile on screen.

The map reports the tile's size in screen pixels every frame it draws
(:mod:`.channels`); :class:`FollowSize` waits until that size has held still for
:data:`DEBOUNCE` seconds (a drag or a zoom is many sizes) and then asks QEMU once,
through ``Console.SetUIInfo`` (:meth:`~.dbus_display.DisplayClient.set_ui_info`).
Every request is a mode set in the guest, so nothing is asked while the size
changes, for a size the guest already has, or for a tile off screen.

Who follows: QEMU passes the request to display devices that take one (virtio-gpu:
``display: virtio``) and refuses for the others ("SetUIInfo is not supported"),
after which this tile never asks again.  The guest follows when its virtio-gpu KMS
driver is loaded (Linux ``virtio_gpu``: the console resizes at once; a desktop
session's compositor does the same); without one nothing changes.  The new mode
arrives as a new frame size, like any guest mode change.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable

from . import backend
from .dbus_display import DisplayClient, Unsupported

log = logging.getLogger(__name__)

DEBOUNCE = 0.4  # seconds the size must hold still before the guest is asked
RETRY = 5.0  # seconds before asking again for a size the guest did not take (it was booting)
MIN_SIZE = (320, 200)
MAX_SIZE = (4096, 2160)


def mode_for(width: float, height: float) -> tuple[int, int]:
    """The mode to ask for a tile of ``width`` x ``height`` screen pixels: clamped, width a multiple of 8
    (what guests' framebuffers like)."""
    w = max(MIN_SIZE[0], min(MAX_SIZE[0], int(width))) // 8 * 8
    h = max(MIN_SIZE[1], min(MAX_SIZE[1], int(height)))
    return w, h


class FollowSize:
    """Debounced SetUIInfo requests for one VM (``display()`` returns its current display client)."""

    def __init__(self, name: str, display: Callable[[], DisplayClient | None]) -> None:
        self.name = name
        self._display = display
        self.supported = True  # False once QEMU refused: this display device takes no mode
        self.wanted: tuple[int, int] | None = None
        self.asked: tuple[int, int] | None = None
        self.requests = 0  # SetUIInfo calls made
        self._changed_at = 0.0
        self._asked_at = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def tile_size(self, width: float, height: float, visible: bool) -> None:
        """The tile is ``width`` x ``height`` screen pixels now (main thread, every frame drawn)."""
        if not self.supported or not visible:
            return
        mode = mode_for(width, height)
        now = time.monotonic()
        if mode != self.wanted:
            self.wanted, self._changed_at = mode, now
            backend.call_soon(self._schedule)
        elif self._behind() and now - self._asked_at > RETRY:
            self._asked_at = now
            backend.call_soon(self._schedule)

    def _behind(self) -> bool:
        display = self._display()
        return display is not None and display.connected and display.console_size != self.wanted

    def _schedule(self) -> None:  # backend loop
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(DEBOUNCE, self._ask)

    def _ask(self) -> None:  # backend loop
        self._timer = None
        wanted, display = self.wanted, self._display()
        if wanted is None or display is None or not display.connected or not self.supported:
            return
        if time.monotonic() - self._changed_at < DEBOUNCE:  # changed again meanwhile: wait on
            self._schedule()
            return
        if display.console_size == wanted:
            return
        self.asked, self._asked_at = wanted, time.monotonic()
        self.requests += 1
        log.info("%s: asking the guest for %dx%d (the tile's size on screen)", self.name, *wanted)
        display.set_ui_info(*wanted).add_done_callback(self._answered)

    def _answered(self, future: concurrent.futures.Future[None]) -> None:
        exc = future.exception()
        if exc is None:
            return
        if isinstance(exc, Unsupported):
            self.supported = False
            log.info("%s: its display device takes no mode from the host; resize: follow does nothing", self.name)
        else:
            log.warning("%s: %s", self.name, exc)
