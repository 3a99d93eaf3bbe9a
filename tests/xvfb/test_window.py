"""The real window under Xvfb: it opens, takes real X key and mouse events, and closes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.xvfb.helpers import LogWatcher, find_window, xdotool

pytestmark = pytest.mark.xvfb

SCENE = """
window: {title: geos-xvfb-test, width: 800, height: 600}
camera: {x: 400, y: 300, zoom: 1, fit: false}
tiles:
  - {id: card, title: Card, position: [0, 0], size: [640, 480], source: {type: pattern, rate: 30}}
"""


def test_window_receives_key_and_mouse_events_and_closes_cleanly(xvfb_display, tmp_path):
    scene = tmp_path / "xvfb.yaml"
    scene.write_text(SCENE)
    env = {**os.environ, "DISPLAY": xvfb_display}
    process = subprocess.Popen([sys.executable, "-m", "geometry_os", "-v", "run", str(scene)], cwd=ROOT, env=env,
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    log = LogWatcher(process)
    try:
        window = find_window(xvfb_display, "geos-xvfb-test", process, log)
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
