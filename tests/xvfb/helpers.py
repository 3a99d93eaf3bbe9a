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
