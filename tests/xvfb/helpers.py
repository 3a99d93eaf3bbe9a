"""Helpers for tests that drive a real ``geos run`` under Xvfb."""

from __future__ import annotations

import os
import subprocess
import threading
import time


class LogWatcher:
    """Collects a process's stderr lines on a thread; ``wait_for`` polls them."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        for line in process.stderr:
            self.lines.append(line.rstrip("\n"))

    def mark(self) -> int:
        """A position in the log; ``wait_for(..., since=mark)`` looks only at later lines."""
        return len(self.lines)

    def wait_for(self, text: str, timeout: float = 20, since: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines[since:]):
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line with {text!r} in {timeout} s; got: {self.lines[-10:]}")
            time.sleep(0.05)


def xdotool(display: str, *args: str) -> str:
    return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, check=True,
                          capture_output=True, text=True, timeout=30).stdout.strip()


def find_window(display: str, title: str, process: subprocess.Popen[str], log: LogWatcher,
                timeout: float = 30) -> str:
    """The X window id of ``process``'s window named ``title``, once it is mapped.

    Polls rather than ``xdotool search --sync``, which exits with an X error when a
    window of an earlier test goes away during the search, and never notices a
    ``geos`` that died.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", title],
                               env={**os.environ, "DISPLAY": display}, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.split():
            return found.stdout.split()[0]
        if process.poll() is not None:
            raise AssertionError(f"geos exited with status {process.returncode}: {log.lines[-10:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no window {title!r} after {timeout} s; log: {log.lines[-10:]}")
        time.sleep(0.1)
