"""The snapshots plugin without a VM: ghost tiles in scenes (checked, fuzzed, saved and loaded
again), where ghosts go, what the menu offers, renaming, the control operation's refusals,
and, on real GL (EGL headless), a ghost drawn with its still image and the line to its VM.
The VM side (QEMU snapshots of the tiny Linux guest) is tests/qemu/test_vm_snapshots.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pyglet.window import key

from geometry_os import api
from geometry_os.control import tiles_op
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.snapshots import SnapshotError, VmSnapshots, check_tag, store_for
from geometry_os.plugins.snapshots import branches, layer
from geometry_os.plugins.snapshots.control import snapshot_op
from geometry_os.plugins.snapshots.ghost import GhostParams
from geometry_os.plugins.snapshots.rename import RenameInput, begin_rename, editing
from geometry_os.scene import SceneError, load_scene

GHOST = "{type: snapshot, vm: vm, tag: geos-1, taken: '2026-11-30T14:38:45'%s}"
VM = "  - id: vm\n    position: [0, 0]\n    size: [600, 360]\n    source: {type: pattern}\n"


def ghost_scene(extra: str = "", image: str | None = None, title: str = "first") -> str:
    more = extra + (f", image: {image}" if image else "")
    return ("window: {width: 800, height: 700}\ncamera: {x: 380, y: 300, zoom: 1, fit: false}\ntiles:\n" + VM +
            f"  - id: vm-snapshot-1\n    title: {title}\n    position: [0, 428]\n    size: [200, 120]\n"
            f"    source: {GHOST % more}\n")


BAD = [
    pytest.param("{type: snapshot, vm: vm, taken: '2026-11-30T14:38:45'}",
                 "FILE:5: tiles[1].source.tag: required field is missing", id="no-tag"),
    pytest.param(GHOST % ", parent: 'a b'",
                 "FILE:5: tiles[1].source: parent: letters, digits and ._- only, at most 64 (got 'a b')",
                 id="bad-parent"),
    pytest.param("{type: snapshot, vm: vm, tag: ../x, taken: '2026-11-30T14:38:45'}",
                 "FILE:5: tiles[1].source: tag: letters, digits and ._- only, at most 64 (got '../x')", id="bad-tag"),
    pytest.param("{type: snapshot, vm: vm, tag: t1, taken: yesterday}",
                 "FILE:5: tiles[1].source: taken: an ISO 8601 time such as 2026-11-30T14:38:45 (got 'yesterday')",
                 id="bad-time"),
    pytest.param("{type: snapshot, vm: vm, tag: t1, taken: '2026-11-30T14:38:45', image: 3}",
                 "FILE:5: tiles[1].source.image: expected a string, got 3 (quote it to make it a string)",
                 id="image-not-a-path"),
]


@pytest.mark.parametrize(("source", "expected"), BAD)
def test_a_bad_ghost_entry_is_one_line_naming_file_line_and_field(host, write_scene, source, expected):
    path = write_scene("tiles:\n" + VM.replace("    position: [0, 0]\n    size: [600, 360]\n", "") +
                       f"  - id: g\n    source: {source}\n")
    with pytest.raises(SceneError) as info:
        load_scene(path, host)
    assert info.value.lines == [expected.replace("FILE", str(path))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["vm", "tag", "taken", "parent", "image"]),
       value=st.one_of(st.text(max_size=80), st.integers(), st.none(), st.booleans(), st.lists(st.integers())))
def test_any_value_of_a_ghost_field_loads_or_is_one_clear_line(host, write_scene, field, value):
    fields = {"type": "snapshot", "vm": "vm", "tag": "t1", "taken": "2026-11-30T14:38:45", field: value}
    import yaml

    path = write_scene("tiles:\n  - id: g\n    source: " + yaml.safe_dump(fields, default_flow_style=True))
    try:
        scene = load_scene(path, host)
    except SceneError as error:
        assert error.lines and all(line.startswith(f"{path}:") and "\n" not in line for line in error.lines)
        assert all("tiles[0].source" in line for line in error.lines if "yaml:" not in line)
    else:
        params = scene.tiles[0].source.params
        assert isinstance(params, GhostParams) and getattr(params, field) == value


def test_a_ghost_renamed_on_the_map_is_saved_and_loaded_again(render_scene, write_scene, tmp_path):
    path = write_scene(ghost_scene())
    shell = render_scene(path, frames=1)
    ghost = shell.find_tile("vm-snapshot-1")
    assert branches.is_ghost(ghost) and branches.vm_of(shell, ghost) is shell.find_tile("vm")
    begin_rename(shell, ghost)
    sink = RenameInput(shell)
    for _ in "first":
        sink.on_key_press(key.BACKSPACE, 0)
    assert sink.on_text("the good one") and editing(shell).text == "the good one"
    sink.on_key_press(key.ENTER, 0)
    assert editing(shell) is None and ghost.title == "the good one"
    shell.save_scene()
    text = path.read_text()
    assert "title: the good one" in text and "tag: geos-1" in text
    again = load_scene(path, render_scene.host).tiles[1]
    assert again.title == "the good one" and again.source.params.taken == "2026-11-30T14:38:45"


def test_escape_keeps_the_old_name_and_an_empty_name_is_refused(render_scene, write_scene):
    shell = render_scene(write_scene(ghost_scene()), frames=1)
    ghost = shell.find_tile("vm-snapshot-1")
    begin_rename(shell, ghost)
    RenameInput(shell).on_text("x")
    RenameInput(shell).on_key_press(key.ESCAPE, 0)
    assert ghost.title == "first"
    with pytest.raises(ValueError, match="needs a name"):
        branches.rename(ghost, "   ")


def test_ghosts_grow_below_their_vm_then_to_the_right_and_branch_downwards(render_scene, write_scene):
    shell = render_scene(write_scene("tiles:\n" + VM), frames=1)
    vm = shell.find_tile("vm")

    def ghost(tag: str, parent: str) -> api.Tile:
        params = GhostParams(vm="vm", tag=tag, taken=f"2026-11-30T14:00:0{len(shell.tiles)}", parent=parent)
        return branches.add_ghost(shell, vm, params, tag)

    a = ghost("a", "")
    assert a.spec.position[0] == 0 and a.footprint.y > vm.rect.y + vm.rect.h
    assert a.spec.size == pytest.approx((200, 120))
    b = ghost("b", "a")
    assert b.spec.position[1] == a.spec.position[1] and b.rect.x > a.rect.x + a.rect.w
    c = ghost("c", "a")  # a second branch from a: a row of its own, right of a
    assert c.footprint.y > b.rect.y + b.rect.h and c.spec.position[0] == b.spec.position[0]
    assert [g.name for g in branches.ghosts_of(shell, "vm")] == [a.name, b.name, c.name]
    # a fork of a goes to its right, past the ghosts in the way
    assert branches.beside(shell, a, (600, 360)) == (b.rect.x + b.rect.w + branches.GAP, a.rect.y)


def test_the_menu_offers_snapshot_only_on_machines_and_the_ghost_verbs_only_with_a_live_vm(
        render_scene, write_scene):
    shell = render_scene(write_scene(ghost_scene()), frames=1)
    vm, ghost = shell.find_tile("vm"), shell.find_tile("vm-snapshot-1")
    offered = {a.name: a for a in shell.actions if a.name.startswith("snapshot.")}
    assert set(offered) == {"snapshot.take", "snapshot.restore", "snapshot.fork", "snapshot.rename",
                            "snapshot.delete"}
    assert not offered["snapshot.take"].applies(shell, [vm])  # a pattern tile keeps no snapshots
    assert not offered["snapshot.take"].applies(shell, [ghost])
    assert offered["snapshot.rename"].applies(shell, [ghost])
    for name in ("snapshot.restore", "snapshot.fork", "snapshot.delete"):
        assert not offered[name].applies(shell, [ghost])  # its VM is no machine
        assert not offered[name].applies(shell, [vm])
    assert offered["snapshot.delete"].confirm(shell, [ghost]).startswith("Delete snapshot 'first'?")
    with pytest.raises(ValueError, match="its VM vm is not on the map"):
        branches.restore(shell, ghost)


@pytest.mark.parametrize(("request_", "message"), [
    ({"verb": "undo", "tile": "vm"}, "unknown verb 'undo'"),
    ({"verb": "restore", "tile": "vm"}, "tile vm is not a snapshot"),
    ({"verb": "take", "tile": "vm"}, "tile vm is not a running VM that can take snapshots"),
    ({"verb": "fork", "tile": "nope"}, "nope"),
])
def test_the_control_operation_refuses_in_one_line(render_scene, write_scene, request_, message):
    shell = render_scene(write_scene(ghost_scene()), frames=1)
    with pytest.raises((ValueError, KeyError)) as info:
        snapshot_op(shell, request_)
    assert message in str(info.value) and "\n" not in str(info.value)
    listing = snapshot_op(shell, {"verb": "list"})
    assert [row["tile"] for row in listing["snapshots"]] == ["vm-snapshot-1"]


def test_a_ghost_without_its_image_is_a_grey_card(render_scene, write_scene, tmp_path):
    shell = render_scene(write_scene(ghost_scene(image=str(tmp_path / "gone.png"))), frames=2)
    ghost = shell.find_tile("vm-snapshot-1")
    pixels = ghost.ctx.mailbox.peek_pixels()
    assert pixels is not None and int(pixels[5, 5, 0]) == 40
    assert "snapshot of vm" in ghost.ctx.reason


def test_tags_and_the_store_are_checked_before_qemu_is_asked(tmp_path):
    assert check_tag("geos-20261130-143845-ab12cd") == "geos-20261130-143845-ab12cd"
    for bad in ("", "-x", "a b", "x" * 65, "../etc"):
        with pytest.raises(SnapshotError):
            check_tag(bad)
    machine = VmSnapshots("vm", lambda work: pytest.fail("QEMU asked"), lambda: tmp_path / "s.qcow2",
                          QemuParams(iso="x.iso", serial="vm.log", memory=96))
    assert machine.fork_settings() == QemuParams(iso="x.iso", memory=96)  # a fork logs on its own
    with pytest.raises(SnapshotError, match="bad snapshot tag"):
        machine.snapshot_save("a b").result(1)
    with pytest.raises(SnapshotError, match="another QEMU tile"):
        machine.snapshot_copy("t1", object()).result(1)  # type: ignore[arg-type]
    assert store_for(tmp_path / "vm-abc.vmstate") == tmp_path / "vm-abc.snapshots.qcow2"


def test_a_ghost_is_drawn_with_its_still_image_and_the_line_to_its_vm(render_scene, write_scene, tmp_path):
    """Real GL: the still image fills the ghost's image area and a line joins it to the VM above."""
    still = np.zeros((90, 150, 3), np.uint8)
    still[:, :] = (200, 40, 160)
    still[:45, :75] = (30, 210, 90)  # a quadrant, so the image is not mistaken for a fill
    Image.fromarray(still).save(tmp_path / "still.png")
    shell = render_scene(write_scene(ghost_scene(image=str(tmp_path / "still.png"))), frames=4)
    ghost, vm = shell.find_tile("vm-snapshot-1"), shell.find_tile("vm")
    assert (ghost.ctx.badge, ghost.ctx.state) == ("snapshot", api.TileState.STOPPED)  # the badge names what it is
    listed = {t["name"]: t["badge"] for t in tiles_op(shell, {"op": "tiles"})["tiles"]}  # and so does geos tiles
    assert listed == {"vm": "running", "vm-snapshot-1": "snapshot"}
    shot = shell.screenshot()
    camera = shell.camera

    def at(wx: float, wy: float) -> np.ndarray:
        sx, sy = camera.world_to_screen(wx, wy)
        return shot[int(sy), int(sx), :3].astype(int)

    image = ghost.image_rect
    assert np.abs(at(image.x + image.w * 0.75, image.y + image.h * 0.75) - (200, 40, 160)).max() <= 8
    assert np.abs(at(image.x + image.w * 0.25, image.y + image.h * 0.25) - (30, 210, 90)).max() <= 8
    # the line leaves the VM's bottom edge above the ghost's middle and goes down to its title bar
    x = ghost.footprint.x + ghost.footprint.w / 2
    top, bottom = vm.rect.y + vm.rect.h, ghost.footprint.y
    line = [at(x, top + (bottom - top) * f) for f in (0.2, 0.4)]
    for pixel in line:
        assert np.abs(pixel - layer.LINE[:3]).max() <= 40, pixel
    assert np.abs(at(x + 30, top + (bottom - top) * 0.2) - layer.LINE[:3]).max() > 40  # a line, not a band


def test_a_fork_never_takes_the_name_of_a_closed_fork_whose_ghosts_are_still_on_the_map(render_scene, write_scene):
    shell = render_scene(write_scene("tiles:\n" + VM), frames=1)
    vm = shell.find_tile("vm")
    assert branches._unique_id(shell, "vm-fork") == "vm-fork-1"
    # the fork vm-fork-1 was closed; a ghost of it stays (its snapshot lives in vm-fork-1's store)
    branches.add_ghost(shell, vm, GhostParams(vm="vm-fork-1", tag="t", taken="2026-11-30T14:00:00"), "kept")
    assert branches._unique_id(shell, "vm-fork") == "vm-fork-2"
