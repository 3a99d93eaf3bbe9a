"""Saving the shipped default scene, as a new user would: ``geos run`` with no scene, Ctrl+S.

The shipped file is never written: the scene goes under the user's config directory, the
window title says where, and the next ``geos run`` with no scene opens it with the layout
it saved.  Real X events under Xvfb, the default scene's two real VMs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from geometry_os.api import control_request, wait_until
from geometry_os.resources import default_scene
from tests.conftest import ROOT
from tests.xvfb.helpers import LogWatcher, find_window, xdotool

pytestmark = [pytest.mark.xvfb, pytest.mark.qemu]


def start(display: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], LogWatcher, str]:
    process = subprocess.Popen([sys.executable, "-m", "geometry_os", "-v", "run", "--no-dev"], cwd=ROOT, env=env,
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    log = LogWatcher(process)
    window = find_window(display, "Geometry OS", process, log)
    xdotool(display, "windowfocus", "--sync", window)
    log.wait_for("control socket")  # opened once the scene runs, just after the window shows
    return process, log, window


def quit_shell(display: str, window: str, process: subprocess.Popen[str]) -> None:
    xdotool(display, "key", "--window", window, "ctrl+q")
    assert process.wait(timeout=60) == 0


def test_saving_the_shipped_scene_goes_to_the_config_directory_and_is_opened_next_time(xvfb_display, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb_display, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    saved = tmp_path / "config" / "geometry-os" / "scenes" / "default.yaml"
    shipped = default_scene().read_text()
    process, log, window = start(xvfb_display, env)
    try:
        log.wait_for(f"opening {default_scene()}")
        control_request({"op": "move", "tile": "linux", "x": 40, "y": 60}, pid=process.pid)
        xdotool(xvfb_display, "key", "--window", window, "ctrl+s")  # the map has the keyboard at start
        log.wait_for(f"scene saved to {saved}")
        wait_until(lambda: xdotool(xvfb_display, "getwindowname", window) == f"Geometry OS - {saved}", 10,
                   what="the window title naming the saved scene")
        quit_shell(xvfb_display, window, process)
    finally:
        if process.poll() is None:
            process.kill()
    assert default_scene().read_text() == shipped
    assert saved.read_text().startswith(shipped.splitlines()[0])  # its comments came along
    process, log, window = start(xvfb_display, env)
    try:
        log.wait_for(f"opening {saved}")
        tiles = {t["name"]: t for t in control_request({"op": "tiles"}, pid=process.pid)["tiles"]}
        assert tiles["linux"]["position"] == [40, 60] and tiles["memtest"]["position"] == [800, 0]
        quit_shell(xvfb_display, window, process)
    finally:
        if process.poll() is None:
            process.kill()
    assert not any("Traceback" in line for line in log.lines), "\n".join(log.lines[-60:])
