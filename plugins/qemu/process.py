"""One QEMU OS process: spawn it safely, keep its stderr, notice its exit.

* Spawned from the backend thread (:mod:`.backend`), which lives as long as the
  shell: ``PR_SET_PDEATHSIG`` is tied to the forking *thread*.
* ``PR_SET_PDEATHSIG = SIGKILL`` without Python code between fork and exec:
  util-linux ``setpriv --pdeathsig KILL`` sets it and execs QEMU (same pid).
  Without setpriv, a ctypes ``prctl`` in ``preexec_fn`` does it (documented as
  unsafe with threads, hence only the fallback).
* Its own process group (``process_group=0``) so the terminal's Ctrl+C does not
  reach QEMU before we stop it properly, and :func:`registry.kill_all` can kill
  the group.
* stderr goes to a reader thread that keeps the last lines (the failure reason
  shown on the tile) and logs them.
* Exit is noticed through a pidfd on the backend loop, within milliseconds.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

from . import registry

log = logging.getLogger(__name__)

STDERR_LINES = 50
_PR_SET_PDEATHSIG = 1

_libc = None


def _set_pdeathsig() -> None:  # runs in the child between fork and exec (fallback only)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _pdeathsig_wrapper() -> tuple[list[str], object]:
    """(argv prefix, preexec_fn) that give the child PR_SET_PDEATHSIG=SIGKILL."""
    global _libc
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--"], None
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return [], _set_pdeathsig


class QemuProcess:
    """A QEMU child process; create and :meth:`spawn` it on the backend loop."""

    def __init__(self, name: str, argv: list[str], *, cwd: Path, pass_fds: tuple[int, ...] = ()):
        self.name = name
        self.argv = list(argv)
        self.cwd = Path(cwd)
        self.pass_fds = tuple(pass_fds)
        self.proc: subprocess.Popen | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self.exited: asyncio.Future | None = None  # result: the return code
        self._stderr_done = asyncio.Event()
        self._pidfd: int | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self) -> None:
        """Start QEMU.  Must run on the backend loop's thread (see module doc)."""
        loop = asyncio.get_running_loop()
        prefix, preexec = _pdeathsig_wrapper()
        self.proc = subprocess.Popen(
            prefix + self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, pass_fds=self.pass_fds, cwd=self.cwd,
            process_group=0, preexec_fn=preexec, close_fds=True)
        registry.register(self.proc.pid, self.name)
        log.info("%s: QEMU started, pid %d", self.name, self.proc.pid)
        self.exited = loop.create_future()
        threading.Thread(target=self._read_stderr, args=(loop,), daemon=True,
                         name=f"qemu-stderr-{self.name}").start()
        try:
            self._pidfd = os.pidfd_open(self.proc.pid)
            loop.add_reader(self._pidfd, self._on_pidfd)
        except OSError:  # no pidfd (old kernel): poll instead
            loop.create_task(self._poll_exit())

    def _read_stderr(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            for raw in iter(self.proc.stderr.readline, b""):
                line = raw.decode(errors="replace").rstrip()
                if line:
                    self.stderr_tail.append(line)
                    log.info("qemu[%s]: %s", self.name, line)
        except (OSError, ValueError):
            pass
        finally:
            try:
                self.proc.stderr.close()
            except OSError:
                pass
            try:
                loop.call_soon_threadsafe(self._stderr_done.set)
            except RuntimeError:
                pass

    def _on_pidfd(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        loop.create_task(self._finish())

    async def _poll_exit(self) -> None:
        while self.proc.poll() is None:
            await asyncio.sleep(0.1)
        await self._finish()

    async def _finish(self) -> None:
        code = self.proc.wait()
        registry.unregister(self.proc.pid)
        try:  # the last stderr lines explain the exit; they follow within ms
            await asyncio.wait_for(self._stderr_done.wait(), 1.0)
        except asyncio.TimeoutError:
            pass
        log.info("%s: QEMU pid %d exited: %s", self.name, self.proc.pid, self.exit_reason())
        if not self.exited.done():
            self.exited.set_result(code)

    async def wait(self, timeout: float | None = None) -> int | None:
        """The return code once QEMU exited, or None after ``timeout`` seconds."""
        if self.exited is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(self.exited), timeout)
        except asyncio.TimeoutError:
            return None

    def kill(self) -> None:
        """SIGKILL QEMU's process group."""
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def last_error_line(self) -> str:
        """QEMU's last meaningful stderr line ("" when none)."""
        for line in reversed(self.stderr_tail):
            if "terminating on signal" in line:
                continue
            return line
        return ""

    def exit_reason(self) -> str:
        """One line: how QEMU ended, with its last stderr line when it said something."""
        code = self.returncode
        if code is None:
            return "QEMU is running"
        if code < 0:
            try:
                what = f"QEMU was killed by {signal.Signals(-code).name}"
            except ValueError:
                what = f"QEMU was killed by signal {-code}"
        else:
            what = f"QEMU exited with status {code}"
        last = self.last_error_line()
        return f"{last} ({what})" if last else what
