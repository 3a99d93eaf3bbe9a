"""Snapshots in space with the tiny Linux guest, through the headless shell and its plugins.

A marker file in the guest's RAM disk is written, the VM is snapshotted (a ghost tile with
the screen's still image appears below it), the marker is changed, the snapshot restored,
and the guest reads the old marker again.  The boot ISO stays byte-identical throughout;
deleting a snapshot frees its storage and leaves the VM running.  The scene is saved with
its ghost and opened again in a new shell: the restarted VM returns to the saved moment.
A fork boots a second VM from a snapshot and the two diverge from that moment.  Never more
than two guests at once.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import pytest

from geometry_os.api import TileState, wait_until
from geometry_os.plugins.input.bridge import text_events
from geometry_os.plugins.qemu.snapshots import STORE_NODE
from geometry_os.plugins.snapshots import branches
from geometry_os.plugins.snapshots.control import snapshot_op

pytestmark = pytest.mark.qemu

SCENE = """
window: {{width: 900, height: 700, fps: 30}}
camera: {{x: 450, y: 350, zoom: 0.6, fit: false}}
tiles:
  - id: vm
    position: [0, 0]
    size: [720, 400]
    source: {{type: qemu, iso: {iso}, accel: tcg, memory: 128, serial: {serial}}}
"""


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Snapshot stores and stills go under the test's folder, not the user's."""
    home = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Guest:
    """A VM tile of a running shell: type into its console, read what it prints on its serial port."""

    def __init__(self, render_scene, shell, tile) -> None:
        self.render_scene, self.shell, self.tile = render_scene, shell, tile

    def pump(self, condition, timeout: float, what: str):
        return wait_until(condition, timeout, what=what,
                          step=lambda: (self.render_scene.frames(self.shell, 1), time.sleep(0.02)))

    def serial(self) -> str:
        given = self.tile.spec.source.params.serial
        log = Path(given) if given else self.tile.ctx.runtime_dir / "serial.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def booted(self) -> None:
        self.pump(lambda: "tiny#" in self.serial(), 120, f"{self.tile.name}'s shell prompt")
        self.pump(lambda: self.tile.ctx.state is TileState.RUNNING, 20, f"{self.tile.name} running")
        # the console's shell may come up after the serial port's: probe it until it answers
        keyboard, typed_at = self.tile.source.capabilities.keyboard, [0.0]

        def answered() -> bool:
            if "R=up" in self.serial():
                return True
            if time.monotonic() - typed_at[0] > 3:
                keyboard.send_keys(text_events("echo R=up > /dev/ttyS0\n"))
                typed_at[0] = time.monotonic()
            return False
        self.pump(answered, 60, f"{self.tile.name}'s console shell")

    def run(self, command: str, answer: str) -> str:
        """Type ``command`` on the VGA console (its output goes to the serial port); the value
        the next new ``answer=VALUE`` line carries."""
        before = len(re.findall(rf"{answer}=(\S+)", self.serial()))
        keyboard = self.tile.source.capabilities.keyboard
        keyboard.send_keys(text_events(f"{command} > /dev/ttyS0\n")).result(20)
        found: list[str] = []

        def printed() -> bool:
            found[:] = re.findall(rf"{answer}=(\S+)", self.serial())
            return len(found) > before
        self.pump(printed, 30, f"{answer}= from {self.tile.name}")
        return found[before]

    def wait(self, future, what: str, timeout: float = 60.0):
        self.pump(future.done, timeout, what)
        return future.result()


def test_restore_brings_back_the_old_marker_and_delete_frees_storage(render_scene, tmp_path, tiny_linux_iso):
    iso_before = digest(tiny_linux_iso)
    shell = render_scene(SCENE.format(iso=tiny_linux_iso, serial=tmp_path / "vm.log"), frames=1)
    vm = Guest(render_scene, shell, shell.find_tile("vm"))
    vm.booted()
    assert vm.run("echo one > /m; echo M=$(cat /m)", "M") == "one"

    first = vm.wait(branches.take(shell, vm.tile, "marker one"), "the snapshot")
    assert branches.is_ghost(first) and first.title == "marker one"
    params = branches.ghost_params(first)
    assert (params.vm, params.parent) == ("vm", "")
    assert first.rect.y > vm.tile.rect.y + vm.tile.rect.h  # below its VM
    still = first.ctx.mailbox.peek_pixels()
    assert still is not None and still.shape[:2] == vm.tile.frame_size[::-1]

    assert vm.run("echo two > /m; echo M=$(cat /m)", "M") == "two"
    assert branches.restore_question(shell, first) is not None  # the VM ran since: the map asks first
    vm.wait(branches.restore(shell, first), "the restore")
    assert vm.tile.ctx.state is TileState.RUNNING
    assert vm.run("echo M=$(cat /m)", "M") == "one"
    assert branches.branches_of(shell).head["vm"] == params.tag

    # a second snapshot grows from the first (the head); deleting one frees its clusters
    second = vm.wait(branches.take(shell, vm.tile), "the second snapshot")
    assert branches.ghost_params(second).parent == params.tag
    assert second.rect.x > first.rect.x + first.rect.w and second.rect.y == first.rect.y  # the branch goes on
    store = vm.tile.source.capabilities.snapshots.store
    used = store.stat().st_blocks
    vm.wait(branches.delete(shell, second), "deleting the second snapshot")
    assert second not in shell.tiles
    assert store.stat().st_blocks < used * 0.75, (store.stat().st_blocks, used)
    assert vm.run("echo M=$(cat /m)", "M") == "one"  # the VM runs on
    assert not any(node.get("node-name") == STORE_NODE
                   for node in vm.tile.source.qmp("query-named-block-nodes").result(10))  # the store is closed

    # saved with the scene, opened by a new shell: the restarted VM goes back to the moment
    saved = shell.save_scene(tmp_path / "saved.yaml")
    assert "type: snapshot" in saved.read_text() and params.tag in saved.read_text()
    render_scene.close()
    (tmp_path / "vm.log").unlink()  # the next boot's prompt is waited for in a fresh log
    shell = render_scene(saved, frames=1)
    vm = Guest(render_scene, shell, shell.find_tile("vm"))
    ghost = shell.find_tile(first.name)
    assert branches.ghost_params(ghost) == params and ghost.title == "marker one"
    vm.booted()
    assert vm.run("echo M=$(cat /m 2>/dev/null || echo none)", "M") == "none"  # booted afresh
    answer = snapshot_op(shell, {"verb": "restore", "tile": ghost.name, "force": True})
    assert vm.wait(answer, "the restore after the restart")["ok"]
    assert vm.run("echo M=$(cat /m)", "M") == "one"

    vm.wait(branches.delete(shell, ghost), "deleting the last snapshot")
    assert not store.exists()  # the last one: the store file goes too
    assert tiny_linux_iso.exists() and digest(tiny_linux_iso) == iso_before  # the base image never changed


def test_a_fork_boots_from_the_moment_and_diverges(render_scene, tmp_path, tiny_linux_iso):
    iso_before = digest(tiny_linux_iso)
    shell = render_scene(SCENE.format(iso=tiny_linux_iso, serial=tmp_path / "vm.log"), frames=1)
    vm = Guest(render_scene, shell, shell.find_tile("vm"))
    vm.booted()
    assert vm.run("echo shared > /m; echo M=$(cat /m)", "M") == "shared"
    ghost = vm.wait(branches.take(shell, vm.tile, "before the fork"), "the snapshot")

    fork = Guest(render_scene, shell, vm.wait(branches.fork(shell, ghost), "the fork", timeout=180))
    assert fork.tile.name == "vm-fork-1" and fork.tile.rect.x > ghost.rect.x + ghost.rect.w
    assert fork.tile.spec.source.params.serial is None  # its own serial log, not the original's file
    assert fork.run("echo M=$(cat /m)", "M") == "shared"  # the same moment
    assert fork.run("echo fork > /m; echo M=$(cat /m)", "M") == "fork"
    assert vm.run("echo M=$(cat /m)", "M") == "shared"  # the original untouched
    assert vm.run("echo original > /m; echo M=$(cat /m)", "M") == "original"
    assert fork.run("echo M=$(cat /m)", "M") == "fork"
    # the fork has its own store with that moment, and a ghost of its own at the start of its branch
    own = branches.ghosts_of(shell, fork.tile.name)
    assert [branches.ghost_params(g).tag for g in own] == [branches.ghost_params(ghost).tag]
    assert fork.tile.source.capabilities.snapshots.store != vm.tile.source.capabilities.snapshots.store
    assert digest(tiny_linux_iso) == iso_before


@pytest.mark.parametrize(("fmt", "persistent"), [("qcow2", True), ("qcow2", False), ("raw", True)])
def test_writable_disks_take_the_snapshot_too_and_base_disks_stay_unchanged(
        sources, make_ctx, tiny_linux_iso, wait_for, tmp_path, fmt, persistent):
    import subprocess

    from geometry_os.plugins.qemu.params import QemuParams
    from geometry_os.plugins.qemu.source import QemuSource

    disk = tmp_path / f"disk.{fmt}"
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(disk), "16M"], check=True)
    before = digest(disk)
    ctx = make_ctx("disky")
    source = QemuSource(ctx, QemuParams(iso=str(tiny_linux_iso), disk=[str(disk)], persistent=persistent,
                                        memory=96, accel="tcg", tablet=False))
    sources.append(source)
    source.start()
    wait_for(lambda: ctx.state is TileState.RUNNING, timeout=60, what="the VM running")
    machine = source.capabilities.snapshots
    if fmt == "raw":
        with pytest.raises(Exception, match="is raw: snapshots need qcow2 disks"):
            machine.snapshot_save("t1").result(60)
        assert digest(disk) == before
        return
    machine.snapshot_save("t1").result(60)
    listed = subprocess.run(["qemu-img", "snapshot", "-l", "-U", str(disk)], capture_output=True, text=True).stdout
    assert ("t1" in listed) is persistent  # a persistent disk keeps it; a base disk is never written
    machine.snapshot_load("t1").result(60)
    machine.snapshot_delete("t1").result(60)
    assert "t1" not in subprocess.run(["qemu-img", "snapshot", "-l", "-U", str(disk)], capture_output=True,
                                      text=True).stdout
    assert not machine.store.exists()
    if not persistent:
        assert digest(disk) == before
    assert source.qmp("query-status").result(10)["status"] == "running"
