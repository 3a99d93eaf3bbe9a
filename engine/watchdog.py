"""Plugins that hang: interrupt a hook that runs for too long.

Hooks run on the main thread, so a plugin stuck in a loop or a long sleep in one
would freeze the whole map.  While the main
thread is inside a plugin call, a watchdog thread watches the clock; past the limit
it sends the main thread a signal (``SIGUSR2``), and the handler - which Python runs
on the main thread between two bytecodes, and which also cuts a ``time.sleep`` or a
``select`` short - raises :class:`PluginHang` inside the plugin's code.  The caller
treats it like any other exception of that plugin: logged with its name, counted,
and the plugin disabled after repeated failures.

A plugin blocked inside a C call that does not return on a signal cannot be
interrupted this way; the watchdog then logs which plugin holds the main thread.
Only the main thread is watched, and only when the watchdog could install its
handler (the main thread of a process that did not use ``SIGUSR2`` already).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

HANG_SECONDS = 5.0  # hooks are notifications: anything near this is a bug, even on a busy host
_SIGNAL = signal.SIGUSR2


class PluginHang(Exception):
    """A plugin call did not return in time."""


class Watchdog:
    """Use the process's one watchdog, :func:`watchdog` (one signal handler per process)."""

    def __init__(self, seconds: float = HANG_SECONDS, install: bool = True) -> None:
        self.seconds = seconds
        self._current: tuple[str, str, float] | None = None  # (plugin, where, deadline) of the running call
        self._reported: tuple[str, str, float] | None = None
        self._enabled = install and self._install()
        if self._enabled:
            threading.Thread(target=self._watch, name="geos-watchdog", daemon=True).start()

    def _install(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        if signal.getsignal(_SIGNAL) not in (signal.SIG_DFL, None):
            return False
        signal.signal(_SIGNAL, self._on_signal)
        return True

    def call(self, plugin: str, where: str, function: Callable[[], Any]) -> Any:
        """Run ``function`` (a call into ``plugin``'s ``where``) under the watch."""
        if not self._enabled or threading.current_thread() is not threading.main_thread() \
                or self._current is not None:  # not watchable, or nested: the outer call is watched
            return function()
        self._current = (plugin, where, time.monotonic() + self.seconds)
        try:
            return function()
        finally:
            self._current = None

    def _on_signal(self, signum: int, frame: Any) -> None:
        current = self._current
        if current is not None and time.monotonic() >= current[2]:
            self._current = None  # raise once per call
            raise PluginHang(f"{current[1]} did not return within {self.seconds:.0f} s")

    def _watch(self) -> None:
        main = threading.main_thread()
        while main.is_alive():
            time.sleep(self.seconds / 8)
            current = self._current
            if current is not None and time.monotonic() >= current[2] and current is not self._reported:
                self._reported = current
                log.warning("plugin %s: %s still running after %.0f s: interrupting it",
                            current[0], current[1], self.seconds)
                if main.ident is not None:
                    signal.pthread_kill(main.ident, _SIGNAL)


_instance: Watchdog | None = None
_instance_lock = threading.Lock()
_UNWATCHED = Watchdog(install=False)  # for calls off the main thread, which are never watched


def watchdog() -> Watchdog:
    """The process's watchdog, made (and its handler installed) on the main thread's first use."""
    global _instance
    if _instance is not None:
        return _instance
    if threading.current_thread() is not threading.main_thread():
        return _UNWATCHED
    with _instance_lock:
        if _instance is None:
            _instance = Watchdog()
        return _instance
