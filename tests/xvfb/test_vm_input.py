"""A user types into and clicks on a real VM through the real window (Xvfb + xdotool).

X events -> pyglet window -> input bridge -> QEMU's D-Bus Keyboard/Mouse -> the
tiny Linux guest.  What the guest saw comes back on its serial log: the output of
the command typed on its VGA console, and ``evread`` lines for the tablet.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geometry_os.camera import Camera, WorldRect
from geometry_os.plugins.qemu import images
from geometry_os.tiles import TITLE_BAR_HEIGHT
from tests.conftest import ROOT
from tests.xvfb.helpers import LogWatcher, find_window, xdotool

pytestmark = [pytest.mark.xvfb, pytest.mark.qemu]

WIDTH, HEIGHT = 800, 600
GUEST = (720, 400)  # VGA text mode
FAR_TILE = (2600.0, 0.0, 320.0, 240.0)

SCENE = """
window: {{title: geos-vm-input, width: {w}, height: {h}, fps: 30}}
camera: {{x: 360, y: 200, zoom: 1, fit: false}}
tiles:
  - id: linux
    title: Linux
    position: [0, 0]
    size: [720, 400]
    source:
      type: qemu
      iso: {iso}
      memory: 128
      accel: tcg
      serial: {serial}
      extra_args: [-fw_cfg, "name=opt/geos/run,string=evread"]
  - {{id: far, title: Far, position: [{fx}, {fy}], size: [{fw}, {fh}], source: {{type: pattern, rate: 0}}}}
"""


class SerialLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def text(self) -> str:
        try:
            return self.path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern: str, timeout: float = 60, since: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.text()[since:])
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"serial log: no {pattern!r} in {timeout} s; tail: {self.text()[-600:]!r}")
            time.sleep(0.05)


def run_scene(display: str, scene: Path, title: str):
    """``geos run`` of ``scene`` under Xvfb; yields (window id, log) and stops it after."""
    env = {**os.environ, "DISPLAY": display}
    process = subprocess.Popen([sys.executable, "-m", "geometry_os", "-v", "run", "--no-dev", str(scene)], cwd=ROOT,
                               env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    log = LogWatcher(process)
    try:
        window = find_window(display, title, process, log)
        xdotool(display, "windowfocus", "--sync", window)
        yield window, log, process.pid
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    assert not any("Traceback" in line for line in log.lines)


@pytest.fixture
def vm_shell(xvfb_display, tmp_path):
    try:
        tiny_iso = images.get("tiny-linux").require().iso
    except images.NotInstalled as missing:
        pytest.fail(str(missing))  # tools/dev setup builds it: missing here is a broken set-up
    serial = tmp_path / "serial.log"
    scene = tmp_path / "vm-input.yaml"
    fx, fy, fw, fh = FAR_TILE
    scene.write_text(SCENE.format(w=WIDTH, h=HEIGHT, iso=tiny_iso, serial=serial, fx=fx, fy=fy, fw=fw, fh=fh))
    for window, log, pid in run_scene(xvfb_display, scene, "geos-vm-input"):
        yield xvfb_display, window, log, SerialLog(serial), pid


def screen_of_guest(camera: Camera, gx: float, gy: float) -> tuple[int, int]:
    """The window pixel over the centre of guest pixel (gx, gy) (tile at the origin, 1:1)."""
    sx, sy = camera.world_to_screen(gx + 0.5, gy + 0.5)
    return int(sx), int(sy)


def guest_of_screen(camera: Camera, sx: int, sy: int) -> tuple[int, int]:
    """What the bridge must send for a click at window pixel (sx, sy)."""
    wx, wy = camera.screen_to_world(sx + 0.5, sy + 0.5)  # X reports the pixel; pyglet its corner
    return min(int(wx), GUEST[0] - 1), min(int(wy), GUEST[1] - 1)


def tablet(value: int, size: int) -> int:
    return value * 0x7FFF // size  # QEMU scales console pixels to 0..32767 (qemu_input_scale_axis)


def settled_camera(pid: int) -> tuple[float, float, float]:
    """The shell's camera once it has stopped moving (asked over its control socket)."""
    from geometry_os.api import control_request as request

    last = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        camera = request({"op": "tiles"}, pid=pid)["camera"]
        now = (camera["x"], camera["y"], camera["zoom"])
        if now == last:
            return now
        last = now
        time.sleep(0.2)
    raise AssertionError(f"the camera did not settle: {last}")


def last_abs(text: str) -> tuple[int | None, int | None]:
    """The guest pointer's last absolute X and Y in evread's output."""
    xs = re.findall(r"EV type=3 code=0 value=(\d+)", text)
    ys = re.findall(r"EV type=3 code=1 value=(\d+)", text)
    return (int(xs[-1]) if xs else None, int(ys[-1]) if ys else None)


def test_typing_and_clicking_into_the_tiny_linux_vm(vm_shell):
    display, window, log, serial, shell_pid = vm_shell
    serial.wait_for(r'EVREAD open \S+ name="[^"]*Tablet[^"]*" abs_x=', timeout=90)
    log.wait_for("linux: mouse is absolute", timeout=30)

    def key(*names: str, delay: int = 40) -> None:
        xdotool(display, "key", "--window", window, "--delay", str(delay), *names)

    def type_(text: str) -> None:
        xdotool(display, "type", "--window", window, "--delay", "60", "--", text)

    def click_at(sx: int, sy: int, button: str = "1") -> None:
        xdotool(display, "mousemove", "--window", window, str(sx), str(sy), "click", button)

    def focus_vm(camera: Camera) -> None:
        mark = log.mark()
        click_at(*screen_of_guest(camera, 360, 200))  # the first click only focuses
        log.wait_for("focus: linux", since=mark)

    camera = Camera(WIDTH, HEIGHT, 360, 200, 1)
    focus_vm(camera)

    # Type on the VGA console (tty1): Tab completion, shifted symbols, Backspace, and an
    # edit in the middle of the line with the arrow keys.  The result goes to serial.
    mark = len(serial.text())
    type_("ech")
    key("Tab")
    type_("GEOS-'A!b@#%^&*()_+{}:<>?~|\"'-zq")
    key("BackSpace", "BackSpace")
    type_("ok > /dev/ttyS0")
    # busybox's line editor drops arrow keys (escape sequences) that come in bursts
    # under TCG; at a person's pace it keeps them all
    key(*["Left"] * len(" > /dev/ttyS0"), delay=150)
    type_("-mid")
    key("Return")
    serial.wait_for(re.escape("GEOS-A!b@#%^&*()_+{}:<>?~|\"-ok-mid"), timeout=30, since=mark)

    # A key held while focus leaves is released in the guest (KEY_LEFTSHIFT = 42).
    mark = len(serial.text())
    xdotool(display, "keydown", "--window", window, "shift")
    serial.wait_for(r"EV type=1 code=42 value=1", timeout=10, since=mark)
    focus_mark = log.mark()
    click_at(400, 580)  # empty map below the tile
    log.wait_for("focus: map", since=focus_mark)
    serial.wait_for(r"EV type=1 code=42 value=0", timeout=10, since=mark)
    xdotool(display, "keyup", "--window", window, "shift")

    # Clicks at known window pixels reach the guest's tablet where the camera says, at
    # zoom 1 and after "fit all" (the far tile makes the VM small).
    for fit in (False, True):
        if fit:
            mark = log.mark()
            key("ctrl+alt")  # press and release the chord: the keyboard is the map's again
            log.wait_for("focus: map", since=mark)
            key("0")
            camera.set(*settled_camera(shell_pid))  # where "fit all" landed, from the shell itself
            far = WorldRect(*FAR_TILE)
            expected = camera.fit_target(WorldRect(0.0, -TITLE_BAR_HEIGHT, far.x + far.w, GUEST[1] + TITLE_BAR_HEIGHT))
            assert (camera.x, camera.y, camera.zoom) == pytest.approx(expected) and camera.zoom < 0.5
        focus_vm(camera)
        for gx, gy, button, code in ((100, 50, "1", 272), (600, 333, "3", 273)):
            sx, sy = screen_of_guest(camera, gx, gy)
            want_x, want_y = guest_of_screen(camera, sx, sy)
            expected = (tablet(want_x, GUEST[0]), tablet(want_y, GUEST[1]))
            deadline = time.monotonic() + 20
            while True:  # the camera may still be flying to "fit all": click until it has landed
                mark = len(serial.text())
                click_at(sx, sy, button)
                serial.wait_for(f"EV type=1 code={code} value=0", timeout=10, since=mark)
                text = serial.text()
                pressed_at = text.rindex(f"EV type=1 code={code} value=1")
                if last_abs(text[:pressed_at]) == expected or time.monotonic() > deadline:
                    break
            assert last_abs(text[:pressed_at]) == expected, (camera.zoom, sx, sy)

    # Automation: `geos type` reaches the same VM through the shell's control socket.
    mark = len(serial.text())
    result = subprocess.run([sys.executable, "-m", "geometry_os", "type", "--pid", str(shell_pid), "Linux",
                             r"echo typed-by-CLI > /dev/ttyS0\n"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    serial.wait_for("typed-by-CLI", timeout=20, since=mark)
    bad = subprocess.run([sys.executable, "-m", "geometry_os", "type", "--pid", str(shell_pid), "nope", "x"],
                         cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 1 and bad.stderr.startswith("geos: no tile 'nope' (tiles: linux, far)")


ALPINE_SCENE = """
window: {{title: geos-alpine-input, width: 1024, height: 700}}
tiles:
  - {{id: alpine, title: Alpine, position: [0, 0], size: [1024, 640],
     source: {{type: qemu, image: alpine, accel: tcg, serial: {serial}}}}}
"""


@pytest.mark.slow
def test_logging_in_to_alpine_by_typing(xvfb_display, tmp_path):
    try:
        images.get("alpine").require()
    except images.ImageError:
        images.get("alpine").pull("pypi")  # offline-capable; cached for later runs
    serial_path = tmp_path / "serial.log"
    scene = tmp_path / "alpine.yaml"
    scene.write_text(ALPINE_SCENE.format(serial=serial_path))
    serial = SerialLog(serial_path)
    for window, log, _ in run_scene(xvfb_display, scene, "geos-alpine-input"):
        serial.wait_for("login:", timeout=180)  # the serial getty; tty1's comes at the same time
        mark = log.mark()
        xdotool(xvfb_display, "mousemove", "--window", window, "512", "380", "click", "1")
        log.wait_for("focus: alpine", since=mark)
        deadline = time.monotonic() + 120
        while True:
            # login flushes what was typed ahead of it, and a command typed at "login:"
            # would become a user name: log in, then pause before the command.  A pause,
            # not a wait: the login on tty1 shows only on the screen, nothing to poll for;
            # the loop's check is the command's output on serial.
            xdotool(xvfb_display, "type", "--window", window, "--delay", "40", "--", "root")
            xdotool(xvfb_display, "key", "--window", window, "Return")  # xdotool types "\n" as Linefeed
            time.sleep(4)
            xdotool(xvfb_display, "type", "--window", window, "--delay", "40", "--",
                    "echo \"Alpine:$((6*7))\" > /dev/ttyS0")
            xdotool(xvfb_display, "key", "--window", window, "Return")
            try:
                serial.wait_for("Alpine:42", timeout=8)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
