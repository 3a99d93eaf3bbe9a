"""What a new user does: ``geos run --libvirt qemu:///system`` in a real window (Xvfb), click a domain's
tile, type into it, pause and resume it with ``geos vm``.

X events -> pyglet window -> input bridge -> the libvirt tile's VNC connection -> the tiny Linux guest,
whose shell writes the typed command's output to its serial port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from geometry_os.api import control_request, wait_until
from geometry_os.camera import Camera
from tests.conftest import ROOT
from tests.xvfb.conftest import xvfb_display  # noqa: F401 (the fixture, by name)
from tests.xvfb.helpers import LogWatcher, find_window, xdotool

pytestmark = [pytest.mark.xvfb, pytest.mark.qemu]

WIDTH, HEIGHT = 1280, 720  # the generated scene's window: the default size


@pytest.fixture
def libvirt_window(xvfb_display, guests) -> Iterator[tuple[str, str, LogWatcher, int]]:  # noqa: F811
    env = {**os.environ, "DISPLAY": xvfb_display}
    process = subprocess.Popen([sys.executable, "-m", "geometry_os", "-v", "run", "--no-dev", "--libvirt",
                                "qemu:///system"], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True)
    log = LogWatcher(process)
    try:
        window = find_window(xvfb_display, "qemu:///system", process, log)
        xdotool(xvfb_display, "windowfocus", "--sync", window)
        yield xvfb_display, window, log, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    assert not any("Traceback" in line for line in log.lines)


def tile_of(pid: int, name: str) -> dict[str, Any]:
    answer = control_request({"op": "tiles"}, pid=pid)
    return next(tile for tile in answer["tiles"] if tile["name"] == name)


def geos_vm(verb: str, tile: str, pid: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "geometry_os", "vm", verb, tile, "--pid", str(pid)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_type_into_a_domain_and_pause_it_from_the_command_line(libvirt_window, guests):
    display, window, log, pid = libvirt_window
    guest = guests.vnc
    guest.wait_booted()
    log.wait_for(f"screen of {guest.name} through VNC, local", timeout=60)
    wait_until(lambda: tile_of(pid, guest.name)["state"] == "running", 30, what="the tile running")

    camera_state = control_request({"op": "tiles"}, pid=pid)["camera"]
    camera = Camera(WIDTH, HEIGHT, camera_state["x"], camera_state["y"], camera_state["zoom"])
    tile = tile_of(pid, guest.name)
    (x, y), (w, h) = tile["position"], tile["size"]
    sx, sy = camera.world_to_screen(x + w / 2, y + h / 2)
    mark = log.mark()
    xdotool(display, "mousemove", "--window", window, str(int(sx)), str(int(sy)), "click", "1")
    log.wait_for(f"focus: {guest.name}", since=mark)

    since = len(guest.serial_text())
    xdotool(display, "type", "--window", window, "--delay", "60", "--", "echo typed-in-a-window > /dev/ttyS0")
    xdotool(display, "key", "--window", window, "Return")
    guest.wait_serial("typed-in-a-window", since=since)

    done = geos_vm("pause", guest.name, pid)
    assert done.returncode == 0, done.stderr
    wait_until(lambda: tile_of(pid, guest.name)["state"] == "paused", 30, what="the badge saying paused")
    assert guest.dom.state()[0] == 3  # VIR_DOMAIN_PAUSED
    done = geos_vm("resume", guest.name, pid)
    assert done.returncode == 0, done.stderr
    wait_until(lambda: tile_of(pid, guest.name)["state"] == "running", 30, what="the badge saying running")
