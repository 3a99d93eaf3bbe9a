"""Snapshots taken and restored the way a person does it: real X events (xdotool) into one
``geos run`` under Xvfb with one tiny Linux VM.  The VM's menu takes a snapshot (a ghost
appears below it), the ghost's menu restores it after the map asked first, F2 renames it,
and the guest reads the marker file of the restored moment on its serial port.  The
menus, the question and the rename field are shot into docs/images/ for docs/snapshots.md."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from geometry_os.api import TITLE_BAR_HEIGHT as BAR
from geometry_os.api import control_request, wait_until
from geometry_os.plugins.desktop.overlay import ROW_H
from geometry_os.plugins.qemu import images
from tests.conftest import ROOT
from tests.xvfb.helpers import LogWatcher, find_window, xdotool

pytestmark = [pytest.mark.xvfb, pytest.mark.qemu]

DOCS_IMAGES = ROOT / "docs" / "images"

# camera at world (500, 350), zoom 1, window 1000x700: screen = world
SCENE = """\
window: {{title: geos-snapshots, width: 1000, height: 700, fps: 30}}
camera: {{x: 500, y: 350, zoom: 1, fit: false}}
tiles:
  - id: vm
    position: [20, 40]
    size: [720, 400]
    source: {{type: qemu, iso: {iso}, memory: 128, accel: tcg, serial: {d}/vm.log}}
"""


def test_snapshot_then_restore_from_the_ghosts_menu_after_the_question(xvfb_display, tmp_path):
    try:
        iso = images.get("tiny-linux").require().iso
    except images.NotInstalled as missing:
        pytest.fail(str(missing))
    scene = tmp_path / "scene.yaml"
    scene.write_text(SCENE.format(iso=iso, d=tmp_path))
    log_file = tmp_path / "vm.log"
    env = {**os.environ, "DISPLAY": xvfb_display, "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    process = subprocess.Popen([sys.executable, "-m", "geometry_os", "-v", "run", "--no-dev", str(scene)],
                               cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    log = LogWatcher(process)

    def serial() -> str:
        return log_file.read_text(errors="replace") if log_file.exists() else ""

    def tiles() -> dict[str, dict]:
        return {t["name"]: t for t in control_request({"op": "tiles"}, pid=process.pid)["tiles"]}

    def click(sx: float, sy: float, button: str = "1") -> None:
        xdotool(xvfb_display, "mousemove", "--window", window, str(round(sx)), str(round(sy)), "click", button)

    def shoot(name: str) -> None:
        """The window as it is now, into docs/images/ (a frame is drawn first: nothing to poll, it is pixels)."""
        time.sleep(0.5)
        shot = subprocess.run([sys.executable, "-m", "geometry_os", "shot", str(tmp_path / name), "--pid",
                               str(process.pid)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert shot.returncode == 0, shot.stderr
        DOCS_IMAGES.mkdir(exist_ok=True)
        shutil.copy(tmp_path / name, DOCS_IMAGES / name)

    def guest(command: str) -> str:
        """Type on the VM's console through the shell; the next new M=... on its serial port."""
        before = len(re.findall(r"M=(\w+)", serial()))
        control_request({"op": "type", "tile": "vm", "text": f"{command} > /dev/ttyS0\n"}, pid=process.pid)
        wait_until(lambda: len(re.findall(r"M=(\w+)", serial())) > before, 30, what="M= on the serial port")
        return re.findall(r"M=(\w+)", serial())[before]

    try:
        window = find_window(xvfb_display, "geos-snapshots", process, log)
        xdotool(xvfb_display, "windowfocus", "--sync", window)
        wait_until(lambda: "tiny#" in serial(), 120, what="the guest's prompt")
        # the console's shell may come up after the serial port's: probe until it answers
        wait_until(lambda: control_request({"op": "type", "tile": "vm", "text": "echo R=up > /dev/ttyS0\n"},
                                           pid=process.pid) and "R=up" in serial(), 60, interval=3.0,
                   what="the console's shell")
        wait_until(lambda: tiles()["vm"]["state"] == "running", 30, what="vm running")
        assert guest("echo one > /m; echo M=$(cat /m)") == "one"

        # the VM's menu: Snapshot (the seventh entry of a running VM's menu)
        click(120, 40 - BAR / 2, "3")
        shoot("snapshots-vm-menu.png")
        click(140, 40 - BAR / 2 + 4 + ROW_H * 7.5)
        log.wait_for("action snapshot.take on vm")
        wait_until(lambda: "vm-snapshot-1" in tiles(), 60, what="the ghost")
        ghost = tiles()["vm-snapshot-1"]
        gx, gy = ghost["position"]
        assert gy > 40 + 400 and ghost["state"] == "stopped"

        assert guest("echo two > /m; echo M=$(cat /m)") == "two"
        # the ghost's menu: Restore this moment (its first entry); the map asks first
        click(gx + 30, gy - BAR / 2, "3")
        shoot("snapshots-menu.png")
        click(gx + 50, gy - BAR / 2 + 4 + ROW_H * 1.5)
        log.wait_for("asking: Restore 'Snapshot 1'? vm has run since its last snapshot")
        shoot("snapshots-restore-question.png")
        mark = log.mark()
        xdotool(xvfb_display, "key", "--window", window, "Return")
        log.wait_for("action snapshot.restore on vm-snapshot-1", since=mark)
        log.wait_for("tile vm: paused -> running", since=mark)  # restored (keys typed meanwhile would be lost)
        assert guest("echo M=$(cat /m)") == "one"

        # F2 on the selected ghost: type a name, Enter keeps it
        click(gx + 30, gy - BAR / 2)
        xdotool(xvfb_display, "key", "--window", window, "F2")
        time.sleep(0.3)
        for _ in "Snapshot 1":
            xdotool(xvfb_display, "key", "--window", window, "BackSpace")
        xdotool(xvfb_display, "type", "--window", window, "--delay", "60", "--", "marker one")
        shoot("snapshots-rename.png")
        xdotool(xvfb_display, "key", "--window", window, "Return")
        wait_until(lambda: tiles()["vm-snapshot-1"]["title"] == "marker one", 10, what="the new name")
    except AssertionError as failure:
        raise AssertionError(f"{failure}; shell log: {log.lines[-12:]}; serial: {serial()[-200:]!r}") from None
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    assert not any("Traceback" in line for line in log.lines), [line for line in log.lines if "Traceback" in line]
