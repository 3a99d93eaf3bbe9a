"""The real window under Xvfb: it opens, takes real X key and mouse events, and closes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.xvfb

SCENE = """
window: {title: geos-xvfb-test, width: 800, height: 600}
camera: {x: 400, y: 300, zoom: 1, fit: false}
tiles:
  - {id: card, title: Card, position: [0, 0], size: [640, 480], source: {type: pattern, rate: 30}}
"""


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


def test_window_receives_key_and_mouse_events_and_closes_cleanly(xvfb_display, tmp_path):
    scene = tmp_path / "xvfb.yaml"
    scene.write_text(SCENE)
    env = {**os.environ, "DISPLAY": xvfb_display}
    process = subprocess.Popen([sys.executable, "-m", "engine", "-v", "run", str(scene)], cwd=ROOT, env=env,
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    log = LogWatcher(process)
    try:
        window = xdotool(xvfb_display, "search", "--sync", "--name", "geos-xvfb-test")
        log.wait_for("tile card: booting -> running")
        xdotool(xvfb_display, "windowfocus", "--sync", window)
        xdotool(xvfb_display, "mousemove", "--window", window, "100", "100", "click", "1")
        log.wait_for("focus: card")
        xdotool(xvfb_display, "mousemove", "--window", window, "720", "560", "click", "1")
        log.wait_for("focus: map")
        mark = log.mark()
        xdotool(xvfb_display, "key", "--window", window, "1")  # fly to tile 1 focuses it
        log.wait_for("focus: card", since=mark)
        xdotool(xvfb_display, "key", "--window", window, "ctrl+q")
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    log.wait_for("tile card: running -> stopped", timeout=5)
    assert not any("Traceback" in line for line in log.lines)
