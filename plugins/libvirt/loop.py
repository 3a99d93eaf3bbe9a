"""The threads libvirt work runs on: one asyncio loop, a pool for blocking calls, libvirt's event loop.

* ``libvirt`` (one asyncio loop for the whole shell): connection state machines,
  reconnect back-off, domain events turned into tile states, SSH tunnels, the
  screenshot displays.  It never blocks: every libvirt call goes through
  :func:`blocking` to the
* ``libvirt-call`` pool: libvirt's API is synchronous (an RPC per call), and a
  remote host that stops answering holds a call until the keepalive gives up, so
  calls run there and a hung host delays only the tiles of that host;
* ``libvirt-events``: libvirt's default event loop (``virEventRunDefaultImpl``),
  needed for domain events, keepalive and close callbacks.  It is libvirt's own
  implementation rather than libvirtaio because libvirt registers handles from the
  thread that opens a connection (a pool thread here), and libvirtaio's asyncio
  calls are not thread-safe; the default implementation is.  Its callbacks run on
  that thread and only hand work over to the asyncio loop.

All three start on first use and live as long as the process (daemon threads).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from geometry_os import api

log = logging.getLogger(__name__)

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_events_started = False

POOL_THREADS = 16


def missing() -> str | None:
    """Why libvirt work cannot run here (libvirt-python is not installed), or None."""
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return ("libvirt-python is not installed: pip install libvirt-python (it builds from source: "
                "apt install libvirt-dev gcc pkg-config python3-dev)")
    return None


def _start_events() -> None:
    """Register libvirt's default event implementation and run it forever (once per process)."""
    global _events_started
    if _events_started:
        return
    import libvirt

    # libvirt prints every error to stderr unless told otherwise; ours become one-line tile states.
    libvirt.registerErrorHandler(lambda context, error: None, None)
    libvirt.virEventRegisterDefaultImpl()

    def run() -> None:
        while True:
            if libvirt.virEventRunDefaultImpl() < 0:  # only on an internal error; keep serving
                log.warning("libvirt event loop iteration failed")

    threading.Thread(target=run, name="libvirt-events", daemon=True).start()
    _events_started = True


def loop() -> asyncio.AbstractEventLoop:
    """The libvirt asyncio loop (starting it, libvirt's event loop and the call pool on first use)."""
    global _loop, _pool
    with _lock:
        if _loop is None:
            _start_events()
            _pool = concurrent.futures.ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="libvirt-call")
            _loop = api.loop_thread("libvirt")
        return _loop


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking (libvirt) call on the call pool and await it, from the libvirt loop."""
    loop()
    assert _pool is not None
    return await asyncio.get_running_loop().run_in_executor(_pool, fn, *args)


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Run ``coro`` on the libvirt loop from any thread; the future is thread-safe."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def call_soon(fn: Callable[..., object], *args: object) -> None:
    """Run ``fn(*args)`` on the libvirt loop (from any thread, libvirt's event thread included)."""
    loop().call_soon_threadsafe(fn, *args)
