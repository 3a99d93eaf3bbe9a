"""One QEMU OS process: spawn it safely, keep its stderr, notice its exit.

* Spawned from the backend thread (:mod:`.backend`), which lives as long as the
  shell: ``PR_SET_PDEATHSIG`` is tied to the forking *thread*.
* ``PR_SET_PDEATHSIG = SIGKILL`` without Python code between fork and exec:
  util-linux ``setpriv --pdeathsig KILL`` sets it and execs QEMU (same pid).
  setpriv is required (Debian always has util-linux): the alternative, a
  ``preexec_fn``, runs Python in the child of a threaded process, which can
  deadlock.
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
import logging
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import IO

from . import registry
from .monitor import Monitor, MonitorError

log = logging.getLogger(__name__)

STDERR_LINES = 50
STDERR_GRACE = 1.0  # seconds QEMU's last stderr lines may trail its exit
QUIT_TIMEOUT = 3.0  # QMP quit until QEMU is gone
KILL_TIMEOUT = 2.0  # SIGKILL until the exit is seen


class SpawnError(Exception):
    """QEMU could not be started; the message is one line for the tile."""


def pdeathsig_prefix() -> list[str]:
    """The argv prefix that execs the command with PR_SET_PDEATHSIG = SIGKILL."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SpawnError("setpriv not found (apt-get install util-linux): "
                         "without it QEMU would outlive a killed shell")
    return [setpriv, "--pdeathsig", "KILL", "--"]


class QemuProcess:
    """A running QEMU child process; made by :meth:`spawn` on the backend loop."""

    def __init__(self, name: str, argv: list[str], proc: subprocess.Popen[bytes],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.argv = argv
        self.proc = proc
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self.exited: asyncio.Future[int] = loop.create_future()  # result: the return code
        self._loop = loop
        self._stderr_done = asyncio.Event()
        self._pidfd: int | None = None
        self._watcher: asyncio.Task[None] | None = None  # referenced: the loop keeps tasks weakly

    @classmethod
    def spawn(cls, name: str, argv: list[str], *, cwd: Path, pass_fds: tuple[int, ...] = ()) -> QemuProcess:
        """Start QEMU.  Must run on the backend loop's thread (see module doc).

        Raises :class:`SpawnError` when QEMU cannot be executed.
        """
        loop = asyncio.get_running_loop()
        try:
            proc = subprocess.Popen(
                pdeathsig_prefix() + argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, pass_fds=pass_fds, cwd=cwd, process_group=0, close_fds=True)
        except OSError as exc:
            raise SpawnError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        registry.register(proc.pid, name)
        log.info("%s: QEMU started, pid %d", name, proc.pid)
        process = cls(name, list(argv), proc, loop)
        process._watch()
        return process

    def _watch(self) -> None:
        stderr = self.proc.stderr
        assert stderr is not None  # stderr=PIPE
        threading.Thread(target=self._read_stderr, args=(stderr,), daemon=True,
                         name=f"qemu-stderr-{self.name}").start()
        try:
            self._pidfd = os.pidfd_open(self.proc.pid)
            self._loop.add_reader(self._pidfd, self._on_pidfd)
        except OSError:  # no pidfd (old kernel): poll instead
            self._watcher = self._loop.create_task(self._poll_exit())

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read_stderr(self, stderr: IO[bytes]) -> None:
        try:
            for raw in iter(stderr.readline, b""):
                line = raw.decode(errors="replace").rstrip()
                if line:
                    self.stderr_tail.append(line)
                    log.info("qemu[%s]: %s", self.name, line)
        except (OSError, ValueError):
            pass
        finally:
            try:
                stderr.close()
            except OSError:
                pass
            try:
                self._loop.call_soon_threadsafe(self._stderr_done.set)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _on_pidfd(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._watcher = self._loop.create_task(self._finish())

    async def _poll_exit(self) -> None:
        while self.proc.poll() is None:
            await asyncio.sleep(0.1)
        await self._finish()

    async def _finish(self) -> None:
        code = self.proc.wait()
        registry.unregister(self.proc.pid)
        try:  # the last stderr lines explain the exit; they follow within ms
            await asyncio.wait_for(self._stderr_done.wait(), STDERR_GRACE)
        except TimeoutError:
            pass
        log.info("%s: QEMU pid %d exited: %s", self.name, self.proc.pid, self.exit_reason())
        if not self.exited.done():
            self.exited.set_result(code)

    async def wait(self, timeout: float | None = None) -> int | None:
        """The return code once QEMU exited, or None after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.exited), timeout)
        except TimeoutError:
            return None

    async def stop(self, monitor: Monitor | None, *, powerdown_timeout: float | None) -> None:
        """End QEMU, bounded: with ``powerdown_timeout`` the ACPI power button first (a guest
        with writable disks shuts down cleanly within it), then QMP ``quit``, then SIGKILL."""
        if not self.alive:
            return
        if powerdown_timeout is not None and monitor is not None and monitor.connected:
            try:
                await monitor.execute("system_powerdown")
            except MonitorError as exc:
                log.info("%s: %s", self.name, exc)
            await self.wait(powerdown_timeout)
        if self.alive and monitor is not None and monitor.connected:
            try:
                await monitor.execute("quit", timeout=QUIT_TIMEOUT)
            except MonitorError:
                pass
            await self.wait(QUIT_TIMEOUT)
        if self.alive:
            log.warning("%s: QEMU did not quit, killing it", self.name)
            self.kill()
        await self.wait(KILL_TIMEOUT)

    def kill(self) -> None:
        """SIGKILL QEMU's process group."""
        if self.proc.returncode is not None:
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
