"""The map as a desktop, used the way a person uses it: real X events (xdotool) into one
``geos run`` under Xvfb with two tiny Linux VMs and a test card, and ``geos`` commands
from another process.

What the VMs did is read from outside the shell: each VM has a second QMP monitor the
test talks to (``query-status``) and a serial log (what was typed on its console).
The tests share the shell and run in file order (each continues from the layout the
previous one left).  Screenshots of the tile menu and the palette go to docs/images/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geometry_os.api import TITLE_BAR_HEIGHT as BAR
from geometry_os.api import control_request, wait_until
from geometry_os.plugins.desktop.overlay import ROW_H
from geometry_os.plugins.qemu import images
from tests.conftest import ROOT
from tests.xvfb.helpers import LogWatcher, find_window, xdotool

pytestmark = [pytest.mark.xvfb, pytest.mark.qemu]

DOCS_IMAGES = ROOT / "docs" / "images"
WIDTH, HEIGHT = 1200, 800
# camera at world (600, 350), zoom 1: screen = world + (0, 50)
SCENE = """\
# The desktop test lab: two tiny Linux VMs and a test card.
window: {{title: geos-desktop, width: {w}, height: {h}, fps: 30}}
camera: {{x: 600, y: 350, zoom: 1, fit: false}}   # never fit: the test knows where things are
tiles:
  # the first VM
  - id: one
    title: One
    position: [0, 0]
    size: [360, 200]
    source: {{type: qemu, iso: {iso}, memory: 128, accel: tcg, serial: {d}/one.log,
              extra_args: [-qmp, "unix:{d}/one.qmp,server=on,wait=off"]}}
  - id: two         # writes to a disk of its own: destructive actions ask first
    title: Two
    position: [400, 0]
    size: [360, 200]
    source: {{type: qemu, iso: {iso}, disk: [{d}/two.img], persistent: true, memory: 128, accel: tcg,
              serial: {d}/two.log, extra_args: [-qmp, "unix:{d}/two.qmp,server=on,wait=off"]}}
  - {{id: card, title: Card, position: [0, 300], size: [320, 240], source: {{type: pattern, rate: 0}}}}
plugins:
  options:
    desktop: {{powerdown_timeout: 5}}
"""


class Lab:
    def __init__(self, display: str, window: str, log: LogWatcher, pid: int, folder: Path, env: dict[str, str]):
        self.display, self.window, self.log, self.pid, self.folder, self.env = display, window, log, pid, folder, env

    # ------------------------------------------------------------- the shell
    def tiles(self) -> dict[str, dict]:
        return {tile["name"]: tile for tile in control_request({"op": "tiles"}, pid=self.pid)["tiles"]}

    def camera(self) -> dict:
        return control_request({"op": "tiles"}, pid=self.pid)["camera"]

    def rect(self, name: str) -> tuple[float, float, float, float]:
        tile = self.tiles()[name]
        return (*tile["position"], *tile["size"])

    def wait_state(self, name: str, state: str, timeout: float = 60) -> None:
        wait_until(lambda: self.tiles()[name]["state"] == state, timeout, what=f"{name} {state}")

    def geos(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "geometry_os", *args, "--pid", str(self.pid)], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=120)

    # --------------------------------------------------------------- X input
    def key(self, *names: str) -> None:
        xdotool(self.display, "key", "--window", self.window, "--delay", "60", *names)

    def type(self, text: str) -> None:
        xdotool(self.display, "type", "--window", self.window, "--delay", "60", "--", text)

    def click(self, sx: float, sy: float, button: str = "1") -> None:
        xdotool(self.display, "mousemove", "--window", self.window, str(round(sx)), str(round(sy)), "click", button)

    def drag(self, start: tuple[float, float], end: tuple[float, float], hold: str | None = None) -> None:
        """Press at ``start``, move to ``end`` in steps (a person's drag), release; ``hold`` a key meanwhile."""
        (x0, y0), (x1, y1) = start, end
        d, w = self.display, self.window
        if hold:
            xdotool(d, "keydown", "--window", w, hold)
        xdotool(d, "mousemove", "--window", w, str(round(x0)), str(round(y0)), "mousedown", "1")
        for step in range(1, 9):
            xdotool(d, "mousemove", "--window", w, str(round(x0 + (x1 - x0) * step / 8)),
                    str(round(y0 + (y1 - y0) * step / 8)))
            time.sleep(0.03)  # a person's pace: pyglet sees each motion
        xdotool(d, "mouseup", "1")
        if hold:
            xdotool(d, "keyup", "--window", w, hold)

    def title_bar(self, name: str, dx: float = 40) -> tuple[float, float]:
        """A screen point on ``name``'s title bar (zoom 1: screen = world + (0, 50))."""
        x, y, _, _ = self.rect(name)
        return x + dx, y - BAR / 2 + 50

    def to_map(self) -> None:
        """Give the keyboard to the map (a click on the empty map, top right: it also clears the selection)."""
        mark = self.log.mark()
        focused = control_request({"op": "tiles"}, pid=self.pid)["focus"]
        self.click(1150, 30)
        if focused is not None:
            self.log.wait_for("focus: map", since=mark)

    def chord(self) -> None:
        """Press and release Ctrl+Alt: the focused VM gives the keyboard back to the map (selection kept)."""
        mark = self.log.mark()
        self.key("ctrl+alt")
        self.log.wait_for("focus: map", since=mark)

    def shift_click(self, sx: float, sy: float) -> None:
        xdotool(self.display, "mousemove", "--window", self.window, str(round(sx)), str(round(sy)),
                "keydown", "shift", "click", "1", "keyup", "shift")

    def shot(self, name: str) -> Path:
        path = self.folder / name
        result = self.geos("shot", str(path))
        assert result.returncode == 0, result.stderr
        return path


def qmp(path: Path, command: str) -> dict:
    """One QMP command on the VM's second monitor (the test's own, not the shell's)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        stream = sock.makefile("rwb")
        json.loads(stream.readline())  # the greeting
        for message in ({"execute": "qmp_capabilities"}, {"execute": command}):
            stream.write(json.dumps(message).encode() + b"\n")
            stream.flush()
            while True:
                answer = json.loads(stream.readline())
                if "return" in answer or "error" in answer:
                    break
        return answer["return"]


def serial(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def wait_serial(path: Path, pattern: str, timeout: float = 90, since: int = 0) -> None:
    wait_until(lambda: re.search(pattern, serial(path)[since:]), timeout,
               what=f"{pattern!r} on {path.name}: {serial(path)[-300:]!r}")


@pytest.fixture(scope="module")
def lab(xvfb_display, tmp_path_factory):
    try:
        iso = images.get("tiny-linux").require().iso
    except images.NotInstalled as missing:
        pytest.fail(str(missing))
    folder = tmp_path_factory.mktemp("desktop")
    scene = folder / "lab.yaml"
    with (folder / "two.img").open("wb") as disk:
        disk.truncate(1 << 20)  # a blank raw disk: the VM boots from its CD-ROM and keeps this
    scene.write_text(SCENE.format(w=WIDTH, h=HEIGHT, iso=iso, d=folder))
    env = {**os.environ, "DISPLAY": xvfb_display, "XDG_CONFIG_HOME": str(folder / "config"),
           "XDG_PICTURES_DIR": str(folder / "pictures"), "XDG_DATA_HOME": str(folder / "data")}
    process = subprocess.Popen([sys.executable, "-m", "geometry_os", "-v", "run", "--no-dev", str(scene)],
                               cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    log = LogWatcher(process)
    try:
        window = find_window(xvfb_display, "geos-desktop", process, log)
        xdotool(xvfb_display, "windowfocus", "--sync", window)
        lab = Lab(xvfb_display, window, log, process.pid, folder, env)
        lab.scene = scene
        for name in ("one", "two"):
            wait_serial(folder / f"{name}.log", "GEOS-TINY-READY")
        yield lab
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    (folder / "geos.log").write_text("\n".join(log.lines))  # the whole log, to read after a failure
    assert not any("Traceback" in line for line in log.lines), [line for line in log.lines if "Traceback" in line]


def test_dragging_a_title_bar_moves_the_tile_and_snaps_unless_ctrl_is_held(lab):
    camera = lab.camera()
    # Card's title bar at world (40, 286); dragged by (+203, +98): x 203 snaps to the grid line
    # at 200 (3 px away, lines are 10 apart at zoom 1); its top edge 370 is on a line already.
    start = lab.title_bar("card")
    lab.drag(start, (start[0] + 203, start[1] + 98))
    wait_until(lambda: lab.rect("card") == (200, 398, 320, 240), 10, what=f"card moved: {lab.rect('card')}")
    start = lab.title_bar("card")
    lab.drag(start, (start[0] + 57, start[1] + 33), hold="ctrl")  # Ctrl: no snapping
    wait_until(lambda: lab.rect("card") == (257, 431, 320, 240), 10, what=f"card moved: {lab.rect('card')}")
    assert lab.camera() == camera  # the camera never moved


def test_dragging_a_corner_resizes_keeping_the_guest_aspect(lab):
    x, y, w, h = lab.rect("card")  # 257, 431, 320x240; the test card is 640x480 (4:3)
    corner = (x + w + 2, y + h + 50 + 2)  # just outside the bottom-right corner
    lab.drag(corner, (corner[0] + 80, corner[1] + 10))
    # the right edge 657 snaps to 660: width 403, and the height follows the 4:3 guest
    wait_until(lambda: lab.rect("card") == (257, 431, 403, 302.25), 10, what=f"resized: {lab.rect('card')}")
    assert lab.geos("tiles").stdout.splitlines()[3].split()[-2:] == ["257,431", "403x302.25"]


def test_a_band_selects_tiles_that_then_move_and_arrange_together(lab):
    lab.to_map()
    lab.drag((1150, 20), (100, 120))  # a rubber band over both VMs' title bars, from the empty map
    one, two = lab.rect("one"), lab.rect("two")
    start = lab.title_bar("one")
    lab.drag(start, (start[0] + 100, start[1] + 20), hold="ctrl")
    wait_until(lambda: lab.rect("one")[:2] == (one[0] + 100, one[1] + 20), 10, what=f"one: {lab.rect('one')}")
    assert lab.rect("two")[:2] == (two[0] + 100, two[1] + 20)  # moved with it
    lab.chord()  # pressing one's title bar focused it: the keyboard back to the map, the selection stays
    lab.key("shift+Right", "shift+Down")  # keyboard: 20 world units each (two grid lines at zoom 1)
    wait_until(lambda: lab.rect("two")[:2] == (two[0] + 120, two[1] + 40), 10, what=f"two: {lab.rect('two')}")
    assert lab.rect("one")[:2] == (one[0] + 120, one[1] + 40)
    lab.key("ctrl+shift+Right")  # wider by 20
    wait_until(lambda: lab.rect("one")[2] == one[2] + 20, 10, what=f"one: {lab.rect('one')}")
    # the palette finds "Arrange in a grid" from part of its name
    lab.key("F1")
    lab.type("arran")
    lab.key("Return")
    x0, y0 = lab.rect("one")[:2]
    wait_until(lambda: lab.rect("two")[:2] == (x0 + 380 + 40, y0), 10, what=f"two: {lab.rect('two')}")
    lab.key("Escape")  # clears the selection


def test_the_tile_menu_pauses_a_vm_and_the_palette_resumes_it(lab):
    lab.to_map()
    sx, sy = lab.title_bar("one", dx=60)
    lab.click(sx, sy, "3")  # right click on the title bar: the tile's menu
    time.sleep(0.5)  # let a frame draw the menu before the screenshot (nothing to poll: it is pixels)
    DOCS_IMAGES.mkdir(exist_ok=True)
    shutil.copy(lab.shot("menu.png"), DOCS_IMAGES / "desktop-menu.png")
    lab.click(sx + 20, sy + 4 + ROW_H * 1.5)  # the first entry: Pause
    lab.log.wait_for("action vm.pause on one")
    wait_until(lambda: qmp(lab.folder / "one.qmp", "query-status")["status"] == "paused", 20, what="paused")
    lab.wait_state("one", "paused")
    assert qmp(lab.folder / "two.qmp", "query-status")["status"] == "running"
    # select it (this focuses it too), give the keyboard back to the map, open the palette
    lab.click(*lab.title_bar("one"))
    lab.chord()
    lab.key("F1")
    lab.type("resu")
    time.sleep(0.5)
    shutil.copy(lab.shot("palette.png"), DOCS_IMAGES / "desktop-palette.png")
    lab.key("Return")
    wait_until(lambda: qmp(lab.folder / "one.qmp", "query-status")["status"] == "running", 20, what="running")
    lab.wait_state("one", "running")


def test_restart_brings_back_a_killed_vm_and_refusals_exit_2(lab):
    qmp_path = str(lab.folder / "two.qmp")
    pid = next(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and
               qmp_path in (p / "cmdline").read_bytes().decode(errors="replace") if (p / "cmdline").exists())
    os.kill(pid, signal.SIGKILL)
    lab.wait_state("two", "failed", timeout=20)
    assert "SIGKILL" in lab.tiles()["two"]["reason"]
    (lab.folder / "two.log").unlink()  # the new QEMU writes a new log: its boot is all that is in it
    result = lab.geos("vm", "restart", "two")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    wait_serial(lab.folder / "two.log", "GEOS-TINY-READY")
    lab.wait_state("two", "running")
    for args, message in ((("vm", "pause", "card"), "geos vm: tile card is not a machine: cannot pause it"),
                          (("vm", "resume", "two"), "geos vm: tile two is running: cannot resume it"),
                          (("vm", "pause", "nope"), "geos vm: no tile 'nope' (tiles: one, two, card)"),
                          (("move", "nope", "1", "2"), "geos move: no tile 'nope' (tiles: one, two, card)")):
        result = lab.geos(*args)
        assert (result.returncode, result.stderr.strip()) == (2, message)


def test_broadcast_typing_reaches_both_vms_until_the_chord(lab):
    for name in ("one", "two"):
        wait_serial(lab.folder / f"{name}.log", r"tiny# ", timeout=60)
    lab.to_map()
    lab.click(*lab.title_bar("one"))  # selects and focuses one
    lab.chord()
    lab.shift_click(*lab.title_bar("two"))  # adds two to the selection, leaves the keyboard to the map
    mark = lab.log.mark()
    lab.key("ctrl+shift+b")
    lab.log.wait_for("broadcast typing: one, two", since=mark)
    marks = {name: len(serial(lab.folder / f"{name}.log")) for name in ("one", "two")}
    lab.type("echo bcast-$((6*7)) > /dev/ttyS0")
    lab.key("Return")
    for name in ("one", "two"):
        wait_serial(lab.folder / f"{name}.log", "bcast-42", timeout=30, since=marks[name])
    mark = lab.log.mark()
    lab.key("ctrl+alt")
    lab.log.wait_for("focus: map", since=mark)


CLIPBOARD_OWNER = """
import sys, pyglet
window = pyglet.window.Window(visible=False)
window.set_clipboard_text(sys.argv[1])
print("owned", flush=True)
pyglet.app.run()
"""


def own_clipboard(lab, text: str) -> subprocess.Popen[str]:
    """Another X program that copied ``text`` (it answers clipboard requests until killed)."""
    owner = subprocess.Popen([sys.executable, "-c", CLIPBOARD_OWNER, text], env=lab.env, stdout=subprocess.PIPE,
                             text=True)
    assert owner.stdout is not None and owner.stdout.readline().strip() == "owned"
    return owner


def test_pasting_the_clipboard_types_it_and_refuses_what_cannot_be_typed(lab):
    log_one = lab.folder / "one.log"
    lab.to_map()
    lab.click(*lab.title_bar("one"))
    lab.chord()
    owner = own_clipboard(lab, "echo pasted-$((2+3)) > /dev/ttyS0\n")
    try:
        mark = len(serial(log_one))
        lab.key("ctrl+shift+v")
        wait_serial(log_one, "pasted-5", timeout=30, since=mark)
    finally:
        owner.kill()
    owner = own_clipboard(lab, "echo na\u00efve > /dev/ttyS0\n")
    try:
        mark, log_mark = len(serial(log_one)), lab.log.mark()
        lab.key("ctrl+shift+v")
        lab.log.wait_for("Paste clipboard as keystrokes: cannot type '\u00ef' (U+00EF) at position 8", since=log_mark)
        time.sleep(1.0)  # nothing may arrive: give a wrong key time to show up before looking
        assert "echo" not in serial(log_one)[mark:]
    finally:
        owner.kill()


def test_force_off_asks_first_for_a_vm_with_persistent_disks_and_restart_starts_it_again(lab):
    two = lab.folder / "two.qmp"
    lab.to_map()
    sx, sy = lab.title_bar("two", dx=60)
    for answer in ("Escape", "Return"):
        lab.click(sx, sy, "3")
        time.sleep(0.3)  # the menu is drawn on the next frame
        lab.click(sx + 20, sy + 4 + ROW_H * 4.5)  # the fourth entry: Force off
        lab.log.wait_for("Force off 'Two'? It writes to its disks")
        if answer == "Escape":
            time.sleep(0.5)
            shutil.copy(lab.shot("question.png"), DOCS_IMAGES / "desktop-question.png")
        lab.key(answer)
        if answer == "Escape":
            time.sleep(1.0)  # nothing may happen: look after a while
            assert qmp(two, "query-status")["status"] == "running"
    lab.wait_state("two", "stopped", timeout=30)
    assert lab.tiles()["two"]["reason"] == "forced off"
    (lab.folder / "two.log").unlink()
    lab.click(sx, sy, "3")
    time.sleep(0.3)
    lab.click(sx + 20, sy + 4 + ROW_H * 1.5)  # a stopped VM's menu starts with Restart
    wait_serial(lab.folder / "two.log", "GEOS-TINY-READY")
    lab.wait_state("two", "running")


def test_power_down_then_save_state_and_stop_and_restart_resumes(lab):
    result = lab.geos("vm", "powerdown", "one")  # no ACPI daemon in the tiny guest: forced off after 5 s
    assert (result.returncode, result.stdout.strip()) == (0, "one: stopped"), result.stderr
    lab.wait_state("one", "stopped")
    (lab.folder / "one.log").unlink()
    assert lab.geos("vm", "restart", "one").returncode == 0
    wait_serial(lab.folder / "one.log", r"tiny# ")
    lab.wait_state("one", "running")
    lab.to_map()
    lab.click(*lab.title_bar("one"))
    lab.chord()
    mark = lab.log.mark()
    lab.key("ctrl+shift+h")  # Save state and stop
    lab.log.wait_for("one: state saved to", since=mark, timeout=60)
    lab.wait_state("one", "stopped")
    assert lab.tiles()["one"]["reason"] == "state saved"
    result = lab.geos("vm", "restart", "one")
    assert result.returncode == 0, result.stderr
    lab.log.wait_for("one: resumed from", since=mark, timeout=60)
    lab.wait_state("one", "running")
    assert qmp(lab.folder / "one.qmp", "query-status")["status"] == "running"


def test_save_keeps_the_comments_and_reloads_to_the_same_layout(lab, host):
    from geometry_os.scene import load_scene

    lab.geos("move", "card", "10", "560", "320", "240")
    lab.to_map()
    mark = lab.log.mark()
    lab.key("ctrl+s")
    lab.log.wait_for(f"scene saved to {lab.scene}", since=mark)
    text = lab.scene.read_text()
    assert text.startswith("# The desktop test lab: two tiny Linux VMs and a test card.\n")
    assert "# never fit: the test knows where things are" in text and "  # the first VM\n" in text
    check = subprocess.run([sys.executable, "-m", "geometry_os", "check", str(lab.scene)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    saved = {spec.id: (*spec.position, *spec.size) for spec in load_scene(lab.scene, host).tiles}
    assert saved == {name: (*tile["position"], *tile["size"]) for name, tile in lab.tiles().items()}
    assert saved["card"] == (10, 560, 320, 240)
    other = lab.folder / "copy.yaml"
    result = lab.geos("save", str(other))
    assert (result.returncode, result.stdout.strip()) == (0, str(other))


def test_geos_add_starts_a_vm_and_a_file_qemu_cannot_boot_fails_with_its_words(lab):
    notes = lab.folder / "notes.txt"
    notes.write_text("not a kernel\n" * 100)
    result = lab.geos("add", str(notes), "--at", "900,400")
    assert result.returncode == 0, result.stderr
    name = result.stdout.strip()
    assert name == "notes"
    lab.wait_state(name, "failed", timeout=30)
    tile = lab.tiles()[name]
    assert tile["position"] == [900, 400]
    assert "qemu" in tile["reason"].lower() and "kernel" in tile["reason"].lower(), tile["reason"]
    assert lab.geos("add", str(lab.folder / "missing.iso")).returncode == 2


def test_screenshot_of_a_guest_at_its_own_resolution(lab):
    from geometry_os.png import read_png

    lab.to_map()
    lab.click(*lab.title_bar("one"))
    lab.chord()
    mark = lab.log.mark()
    lab.key("Print")
    lab.log.wait_for("Screenshot of One (720x400)", since=mark)
    shots = list((lab.folder / "pictures" / "geometry-os").glob("one-*.png"))
    assert len(shots) == 1 and read_png(shots[0]).shape == (400, 720, 4)
