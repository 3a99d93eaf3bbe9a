"""Time dilation with the tiny Linux guest, through the headless shell: a tile with
``offscreen: pause`` is paused once it has been out of view for its grace time, resumed as
the view comes near it (before it is on screen), and its guest clock continues from where
it stopped: the guest's uptime, read over the serial console, grows by less than the host's
time by about as long as the VM stayed paused.  The serial port's last line (what a card
shows) is checked on the same guest."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from geometry_os.api import wait_until
from geometry_os.plugins.desktop.dilation import BADGE, DilationLayer
from geometry_os.plugins.input.bridge import text_events
from geometry_os.tiles import TileState

pytestmark = pytest.mark.qemu

SCENE = """
window: {{width: 800, height: 500, fps: 30}}
camera: {{x: 320, y: 200, zoom: 1, fit: false}}
tiles:
  - id: vm
    position: [0, 0]
    size: [640, 400]
    offscreen: pause
    offscreen_grace: 1
    source: {{type: qemu, iso: {iso}, accel: tcg, memory: 128, serial: {serial}, serial_console: true}}
"""
PAUSED_FOR = 4.0  # host seconds the VM stays paused off screen


def until(render_scene, shell, condition, timeout: float, what: str) -> None:
    wait_until(condition, timeout, step=lambda: (render_scene.frames(shell, 1), time.sleep(0.02)), what=what)


def log_text(serial: Path) -> str:
    return serial.read_text(errors="replace") if serial.exists() else ""


def uptime(render_scene, shell, serial: Path, console) -> float:
    """The guest's uptime in seconds, asked over its serial console."""
    before = len(re.findall(r"U=(\d+\.\d+)", log_text(serial)))
    console.source.capabilities.keyboard.send_keys(text_events("read a b < /proc/uptime; echo U=$a\n")).result(10)
    found: list[str] = []

    def answered() -> bool:
        found[:] = re.findall(r"U=(\d+\.\d+)", log_text(serial))
        return len(found) > before
    until(render_scene, shell, answered, 30, "the uptime on the serial console")
    return float(found[-1])


def test_an_off_screen_vm_is_paused_and_comes_back_with_its_clock_continuing(render_scene, tmp_path,
                                                                               tiny_linux_iso):
    serial = tmp_path / "serial.log"
    shell = render_scene(SCENE.format(iso=tiny_linux_iso, serial=serial), frames=1)
    vm = shell.find_tile("vm")
    until(render_scene, shell, lambda: len(shell.tiles) == 2, 10, "the serial console tile")
    console = shell.tiles[1]
    until(render_scene, shell, lambda: "tiny#" in log_text(serial), 90, "the shell prompt")
    assert vm.ctx.state is TileState.RUNNING
    started = time.monotonic()
    first = uptime(render_scene, shell, serial, console)
    layer = next(layer for _, layer in shell.layers if isinstance(layer, DilationLayer))

    # away: paused after its grace time, and QEMU agrees
    shell.camera.set(20000.0, 20000.0, 1.0)
    until(render_scene, shell, lambda: vm.ctx.state is TileState.PAUSED, 15, "the VM paused off screen")
    paused_at = time.monotonic()
    assert layer.policy.badge(vm) == BADGE
    assert vm.source.qmp("query-status").result(10)["status"] == "paused"
    until(render_scene, shell, lambda: time.monotonic() - paused_at >= PAUSED_FOR, PAUSED_FOR + 5,
          "the host's clock to move on")
    assert vm.ctx.state is TileState.PAUSED

    # near, still off screen: resumed before it shows
    shell.camera.set(640 + 100 + 400, 200.0, 1.0)  # the view (800 wide) starts 100 px right of the VM
    assert not vm.footprint.intersects(shell.camera.visible_world())
    until(render_scene, shell, lambda: vm.ctx.state is TileState.RUNNING, 15, "the VM resumed near the view")
    paused_for = time.monotonic() - paused_at  # at least as long as it was paused, give or take a frame
    assert layer.policy.badge(vm) is None
    assert vm.source.qmp("query-status").result(10)["status"] == "running"

    # in view: the guest clock went on from where it stopped, without the time it was paused
    shell.camera.set(320.0, 200.0, 1.0)
    second = uptime(render_scene, shell, serial, console)
    host = time.monotonic() - started
    assert 0 < second - first < host - 0.75 * paused_for, (first, second, host, paused_for)
    assert uptime(render_scene, shell, serial, console) > second  # and it keeps running
    assert vm.ctx.state is TileState.RUNNING

    # the last line the guest printed is what its card shows (the sleep keeps the prompt away)
    console.source.capabilities.keyboard.send_keys(text_events("echo last-$((6*7)); sleep 120\n")).result(10)
    until(render_scene, shell, lambda: vm.source.capabilities.serial.last_line == "last-42", 20,
          "the echo as the serial port's last line")
