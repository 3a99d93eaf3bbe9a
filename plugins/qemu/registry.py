"""Every QEMU process this shell started, and killing them all on the way out.

Exit paths and what covers them:

* normal exit and Ctrl+C (KeyboardInterrupt unwinds to a normal exit):
  :func:`kill_all` runs from ``atexit``;
* SIGTERM / SIGHUP: :func:`install_signal_handlers` (installed by the plugin's
  ``scene_loaded`` hook, on the main thread) kills the QEMUs, then re-delivers the
  signal with its previous disposition;
* SIGKILL of the shell, or a crash: nothing in Python runs, so every QEMU is
  started with ``PR_SET_PDEATHSIG = SIGKILL`` (see :mod:`.process`).

:func:`kill_all` must work inside a signal handler, so it takes no locks: the
registry is a dict read with ``list(...)`` (atomic under the GIL), and the kill
is ``os.killpg`` of each QEMU's own process group.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)

_live: dict[int, str] = {}  # pid -> tile name; each QEMU leads its own process group
_handlers_installed = False


def register(pid: int, name: str) -> None:
    _live[pid] = name


def unregister(pid: int) -> None:
    _live.pop(pid, None)


def live() -> dict[int, str]:
    """A snapshot of the registered QEMU processes (pid -> tile name)."""
    return dict(_live)


def kill_all() -> int:
    """SIGKILL every registered QEMU (signal-safe, no locks); returns how many."""
    count = 0
    for pid in list(_live):
        try:
            os.killpg(pid, signal.SIGKILL)
            count += 1
        except ProcessLookupError:
            pass
        except PermissionError:
            try:
                os.kill(pid, signal.SIGKILL)
                count += 1
            except OSError:
                pass
        _live.pop(pid, None)
    return count


def _atexit() -> None:
    count = kill_all()
    if count:
        log.info("killed %d QEMU process(es) at exit", count)


atexit.register(_atexit)


def install_signal_handlers() -> bool:
    """Kill all QEMUs on SIGTERM/SIGHUP, then let the signal do what it did before.

    Only on the main thread (Python's rule), once, and only for signals still at
    their default disposition, so a shell's own handlers are never replaced.
    """
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return False
    _handlers_installed = True
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_DFL:
            continue

        def handler(num: int, frame: FrameType | None, _signum: signal.Signals = signum) -> None:
            kill_all()
            signal.signal(_signum, signal.SIG_DFL)
            os.kill(os.getpid(), _signum)

        signal.signal(signum, handler)
    return True
