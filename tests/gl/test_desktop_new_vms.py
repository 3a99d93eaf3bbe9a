"""New VMs on the map, in-process: files dropped on the window (its ``on_file_drop`` event, as
pyglet dispatches it for an X drag and drop), "New VM" from the named images, Duplicate and
Close; real QEMU (memtest86+, 64 MB, TCG)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyglet.window import key

from geometry_os.api import TITLE_BAR_HEIGHT, TileState, wait_until
from geometry_os.plugins.desktop.desktop import desktop_of
from geometry_os.plugins.desktop.layer import PENDING
from geometry_os.plugins.desktop.overlay import ImagePicker

pytestmark = pytest.mark.qemu

MEMTEST = Path("/usr/lib/memtest86+/memtest86+x64.iso")
SCENE = """
window: {title: drops, width: 800, height: 600}
camera: {x: 400, y: 300, zoom: 1, fit: false}
tiles:
  - {id: card, title: Card, position: [0, 0], size: [320, 240], source: {type: pattern, rate: 0}}
plugins:
  options:
    desktop: {new_vm_memory: 64, new_vm_network: false}
"""


@pytest.fixture
def memtest_iso() -> Path:
    if not MEMTEST.exists():
        pytest.fail(f"{MEMTEST} is missing (apt-get install memtest86+; tools/dev setup does)")
    return MEMTEST


def until(render_scene, shell, predicate, what, timeout=60):
    return wait_until(predicate, timeout, step=lambda: render_scene.frames(shell, 1), what=what)


def drop(shell, sx, sy, *paths):
    """What pyglet does when files are dropped on the window at screen (sx, sy): the event (y up) is
    queued, then dispatched with the window's other events."""
    shell.window.dispatch_event("on_file_drop", sx, shell.camera.height - 1 - sy, [str(p) for p in paths])
    shell.window.dispatch_events()


def test_dropped_files_boot_where_they_fall_and_a_file_qemu_cannot_boot_fails_with_its_words(
        render_scene, memtest_iso, tmp_path):
    shell = render_scene(SCENE)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a kernel\n" * 50)
    drop(shell, 500, 350, memtest_iso, notes)
    memtest, text = shell.find_tile("memtest86-x64"), shell.find_tile("notes")  # ids: the names, made safe
    assert memtest.spec.position == (500.0, 350.0)  # zoom 1, camera centred on (400, 300): world = screen
    assert text.spec.position == (556.0, 406.0)  # the next file a little further
    assert memtest.spec.source.params.iso == str(memtest_iso) and text.spec.source.params.kernel == str(notes)
    until(render_scene, shell, lambda: memtest.ctx.state is TileState.RUNNING, "memtest running")
    until(render_scene, shell, lambda: text.ctx.state is TileState.FAILED, "the text file failed")
    assert "qemu" in text.ctx.reason.lower() and "kernel" in text.ctx.reason.lower(), text.ctx.reason
    drop(shell, 100, 100, tmp_path)  # a folder: refused with a message, no tile
    assert desktop_of(shell).messages[-1].text == f"{tmp_path}: is a folder, not a disk, ISO or kernel file"
    assert len(shell.tiles) == 3


def test_new_vm_offers_the_named_images_and_duplicate_and_close_act_on_the_selection(render_scene, memtest_iso):
    shell = render_scene(SCENE)
    desktop = desktop_of(shell)
    shell.dispatch_input("on_key_press", key.N, key.MOD_CTRL | key.MOD_SHIFT)
    picker = desktop.overlay
    assert isinstance(picker, ImagePicker)
    until(render_scene, shell, lambda: not picker.loading, "geos image list", timeout=30)
    assert {"memtest", "tiny-linux", "alpine"} <= {entry.label for entry in picker.entries}
    shell.dispatch_input("on_text", "memt")
    assert [entry.label for entry in picker.shown()] == ["memtest"]
    shell.dispatch_input("on_key_press", key.RETURN, 0)
    vm = shell.find_tile("memtest")
    assert vm.spec.source.params.image == "memtest" and vm.spec.source.params.memory == 64
    until(render_scene, shell, lambda: vm.ctx.state is TileState.RUNNING, "memtest running")
    desktop.select([vm])
    shell.dispatch_input("on_key_press", key.PAUSE, 0)  # Pause: the badge says so until QEMU has paused
    assert desktop.pending == {"memtest": "pausing"}
    shell.tick(1 / 60)  # a frame before the answer is handled (posted events wait for the next frames() call)
    r = vm.rect
    x, y = shell.camera.world_to_screen(r.x + r.w - 10, r.y - TITLE_BAR_HEIGHT / 2)
    assert tuple(shell.screenshot()[int(y), int(x), :3]) == tuple(round(c * 255) for c in PENDING[:3])
    until(render_scene, shell, lambda: vm.ctx.state is TileState.PAUSED and not desktop.pending, "paused")
    shell.dispatch_input("on_key_press", key.PAUSE, 0)  # the same key resumes it
    until(render_scene, shell, lambda: vm.ctx.state is TileState.RUNNING, "resumed")
    shell.dispatch_input("on_key_press", key.D, key.MOD_CTRL | key.MOD_SHIFT)  # Duplicate
    copy = shell.find_tile("memtest-2")
    assert copy.title == "memtest (copy)" and copy.spec.position[0] == vm.spec.position[0] + 640 + 40
    until(render_scene, shell, lambda: copy.ctx.state is TileState.RUNNING, "the copy running")
    desktop.select([vm, copy])
    shell.dispatch_input("on_key_press", key.W, key.MOD_CTRL | key.MOD_SHIFT)  # Close: nothing persistent, no question
    assert desktop.overlay is None
    assert [tile.name for tile in shell.tiles] == ["card"]
    until(render_scene, shell, lambda: not desktop.pending, "both closed")
    assert (vm.ctx.state, copy.ctx.state) == (TileState.STOPPED, TileState.STOPPED)


def test_new_vm_pulls_an_image_that_is_not_installed_with_its_progress_where_the_tile_will_be(
        render_scene, monkeypatch, tmp_path):
    from geometry_os.plugins.desktop.layer import PLACEHOLDER

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no image is installed here
    shell = render_scene(SCENE.replace("new_vm_memory: 64", "new_vm_memory: 128"))
    desktop = desktop_of(shell)
    shell.dispatch_input("on_key_press", key.N, key.MOD_CTRL | key.MOD_SHIFT)
    picker = desktop.overlay
    until(render_scene, shell, lambda: not picker.loading, "geos image list", timeout=30)
    shell.dispatch_input("on_text", "tiny")
    assert [(e.label, e.shortcut) for e in picker.shown()] == [("tiny-linux", "not installed: pulled first")]
    shell.dispatch_input("on_key_press", key.RETURN, 0)
    (pull,) = desktop.pulls
    assert pull.image == "tiny-linux" and pull.position == (400 - 320, 300 - 240)  # centred in the view
    until(render_scene, shell, lambda: pull.progress != "starting", "progress from geos image pull")
    render_scene.frames(shell, 2)
    x, y = shell.camera.world_to_screen(pull.position[0] + 40, pull.position[1] + 40)
    assert tuple(shell.screenshot()[int(y), int(x), :3]) == tuple(round(c * 255) for c in PLACEHOLDER[:3])
    until(render_scene, shell, lambda: not desktop.pulls, "the image built", timeout=240)
    vm = shell.find_tile("tiny-linux")
    assert vm.spec.position == pull.position
    until(render_scene, shell, lambda: vm.ctx.state is TileState.RUNNING, "tiny Linux running", timeout=90)
