"""libvirt tiles on the running map: drawn pixels, whole connections as grids, ``geos run --libvirt``.

* A scene with a libvirt tile drawn at one screen pixel per guest pixel: the map's own
  screenshot of the tile equals the domain's screenshot.
* ``plugins.options.libvirt.connections``: the session's domains appear as tiles; a
  domain defined meanwhile appears (stopped), and leaves when it is undefined.
* ``geos run --libvirt qemu:///system --headless --screenshot``: the command a user
  runs, end to end; and its one-line refusal of a URI libvirt cannot have.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from geometry_os import api
from tests.libvirt.domains import domain_xml

pytestmark = [pytest.mark.qemu, pytest.mark.gl]

W, H = 1280, 720


def pump(render_scene, shell, predicate, timeout: float, what: str):
    return api.wait_until(predicate, timeout, step=lambda: (render_scene.frames(shell, 1), time.sleep(0.02)),
                          what=what)


def test_drawn_tile_equals_the_domain_screenshot(guests, render_scene):
    guest = guests.vnc
    shell = render_scene(f"""
window: {{width: {W}, height: {H}}}
camera: {{fit: false, x: 360, y: 200, zoom: 1}}
tiles:
  - id: vm
    source: {{type: libvirt, domain: {guest.name}}}
    size: [720, 400]
""", size=(W, H))
    tile = shell.find_tile("vm")
    pump(render_scene, shell, lambda: tile.frame_size == (720, 400), 60, "the tile's first frame")
    left, top = W // 2 - 360, H // 2 - 200  # the image's screen position at zoom 1

    def same() -> bool:
        render_scene.frames(shell, 2)
        drawn = shell.screenshot()[top:top + 400, left:left + 720, :3]
        return bool(np.array_equal(drawn, guest.screenshot()))

    api.wait_until(same, 60, what="the drawn tile == the domain's screenshot", interval=0.1)


def test_connection_grid_follows_defined_and_undefined_domains(guests, render_scene, libvirt_conn, guest_folder):
    shell = render_scene("plugins: {options: {libvirt: {connections: ['qemu:///system'], columns: 3}}}",
                         size=(W, H))
    titles = lambda: {tile.title for tile in shell.tiles}  # noqa: E731
    pump(render_scene, shell, lambda: {guests.dbus.name, guests.vnc.name} <= titles(), 60, "the session's domains")
    for name in (guests.dbus.name, guests.vnc.name):
        pump(render_scene, shell, lambda name=name: shell.find_tile(name).ctx.state is api.TileState.RUNNING, 60,
             f"{name} running")
    positions = [tile.rect for tile in shell.tiles]
    assert not any(a.intersects(b) for i, a in enumerate(positions) for b in positions[i + 1:])
    name = f"geos-test-{os.getpid()}-defined"
    dom = libvirt_conn.defineXML(domain_xml(name, guest_folder / "tiny-linux.iso", guest_folder / f"{name}.serial",
                                            "<graphics type='vnc'><listen type='socket'/></graphics>"))
    try:
        pump(render_scene, shell, lambda: name in titles(), 30, "the newly defined domain's tile")
        tile = shell.find_tile(name)
        pump(render_scene, shell, lambda: tile.ctx.state is api.TileState.STOPPED, 30, "it shows as stopped")
        assert tile.ctx.reason == "shut off"
    finally:
        dom.undefine()
    pump(render_scene, shell, lambda: name not in titles(), 30, "the undefined domain's tile to leave")


def geos(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "geometry_os", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_geos_run_libvirt_shows_the_domains(guests, tmp_path):
    from PIL import Image

    png = tmp_path / "map.png"
    shell = subprocess.Popen([sys.executable, "-m", "geometry_os", "-v", "run", "--libvirt", "qemu:///system",
                              "--headless"], stderr=subprocess.PIPE, text=True)

    def consoles_drawn() -> bool:  # the guests' text consoles: grey text on black inside the tiles
        try:
            api.control_request({"op": "screenshot", "path": str(png)}, pid=shell.pid, timeout=20)
        except api.ControlError:
            return False  # not listening yet
        shot = np.asarray(Image.open(png).convert("RGB"))
        black = shot.max(axis=2) < 8
        grey_text = (np.abs(shot.astype(int) - 170).max(axis=2) < 40) & (np.ptp(shot, axis=2) < 10)
        return bool(black.sum() > 100_000 and grey_text.sum() > 300)

    try:
        api.wait_until(consoles_drawn, 120, interval=0.5, what="the domains' consoles on the map")
    finally:
        shell.terminate()
        _, log = shell.communicate(timeout=60)
    assert shell.returncode in (0, -15), log[-3000:]
    for guest, path in ((guests.dbus, "D-Bus"), (guests.vnc, "VNC, local")):
        assert f"domain {guest.name} on the map as {guest.name}" in log
        assert f"screen of {guest.name} through {path}" in log


def test_geos_run_libvirt_refuses_an_unknown_scheme():
    done = geos("run", "--libvirt", "vmware-ish://host/x", "--headless", "--frames", "1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == ["geos run: unknown URI scheme 'vmware-ish' in vmware-ish://host/x (drivers: qemu, test, lxc, "
                     "xen, ch, ...; transports: +ssh, +tls, +tcp, +unix, +libssh, +ext)"]


def test_geos_vm_verbs_reach_a_libvirt_tile(guests, render_scene):
    """The desktop's ``vm`` control operation (what ``geos vm pause NAME`` sends) on a libvirt tile: the
    verb goes through the lifecycle capability to libvirt, and the badge follows libvirt's event."""
    shell = render_scene(f"tiles: [{{id: vm, source: {{type: libvirt, domain: {guests.vnc.name}}}}}]", size=(W, H))
    tile = shell.find_tile("vm")
    pump(render_scene, shell, lambda: tile.ctx.state is api.TileState.RUNNING, 60, "the tile running")
    vm = next(op for op in shell.registry.control_ops if op.name == "vm")
    answer = vm.run(shell, {"op": "vm", "verb": "pause", "tile": "vm"})
    pump(render_scene, shell, answer.done, 30, "the pause to be answered")
    assert answer.result()["ok"], answer.result()
    pump(render_scene, shell, lambda: tile.ctx.state is api.TileState.PAUSED, 30, "PAUSED on the badge")
    assert guests.vnc.dom.state()[0] == 3  # VIR_DOMAIN_PAUSED: libvirt agrees
    with pytest.raises(ValueError, match="cannot pause"):
        vm.run(shell, {"op": "vm", "verb": "pause", "tile": "vm"})
    answer = vm.run(shell, {"op": "vm", "verb": "resume", "tile": "vm"})
    pump(render_scene, shell, lambda: answer.done() and tile.ctx.state is api.TileState.RUNNING, 30, "resumed")


def test_the_view_sets_how_often_a_vnc_tile_asks_for_updates(guests, render_scene):
    """The plugin follows the camera: a tile drawn at half size asks for fewer updates, one out of view
    or covered by the desktop's card for none, one focused for all."""
    from geometry_os.plugins.libvirt import map_of
    from geometry_os.plugins.libvirt.display import update_interval

    shell = render_scene(f"""
window: {{width: {W}, height: {H}}}
camera: {{fit: false, x: 360, y: 200, zoom: 0.5}}
tiles: [{{id: vm, size: [720, 400], source: {{type: libvirt, domain: {guests.vnc.name}}}}}]
""", size=(W, H))
    tile = shell.find_tile("vm")
    pump(render_scene, shell, lambda: tile.frame_size == (720, 400) and tile.source._display is not None, 60,
         "the tile's screen")
    client = tile.source._display.client
    session = map_of(shell)

    def rate_becomes(expected: float, what: str) -> None:
        session.follow_view()
        pump(render_scene, shell, lambda: client.update_interval == expected, 10, what)

    rate_becomes(update_interval(True, False, 0.5, 1 / 60), "the half-size rate")
    assert client.update_interval > 1 / 60
    shell.camera.set(100_000.0, 0.0, 0.5)
    rate_becomes(float("inf"), "no updates out of view")
    shell.camera.set(360.0, 200.0, 0.1)  # 72 pixels wide: the desktop draws a card over it
    pump(render_scene, shell, lambda: tile.covered, 10, "the desktop's card over the tile")
    rate_becomes(float("inf"), "no updates while a card covers the image")
    shell.camera.set(360.0, 200.0, 0.5)
    shell.focus(tile)
    rate_becomes(1 / 60, "the full rate when focused")
