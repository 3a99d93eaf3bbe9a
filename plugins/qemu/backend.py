"""The QEMU backend's long-lived asyncio loop thread.

One daemon thread for the whole shell ("qemu-backend") runs the QMP clients,
process exit watchers and telemetry of every QEMU tile.  It is also the thread
that forks QEMU: ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the
child exits, not the process, so QEMU must be started from a thread that lives
exactly as long as the shell.  This one never stops (``run_forever`` on a daemon
thread), and dies with the process, which is when QEMU should die too.  The main
thread would also do, but forking there would block the render loop.

Frames do not go through this loop: each VM's display client has its own thread
(:mod:`.dbus_display`), so a busy VM cannot delay another's QMP or vice versa.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from geometry_os import api

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The backend loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = api.loop_thread("qemu-backend")
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Run ``coro`` on the backend loop; returns a thread-safe future."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def call_soon(fn: Callable[..., object], *args: object) -> None:
    loop().call_soon_threadsafe(fn, *args)


def consume(future: asyncio.Future[Any]) -> None:
    """Mark a future's outcome as seen (a done callback): asyncio logs exceptions nobody retrieved,
    and a future that may fail after everyone stopped waiting for it is no news."""
    if not future.cancelled():
        future.exception()
