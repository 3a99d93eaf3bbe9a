"""Serial consoles with the tiny Linux guest, through the headless shell: docked console tiles,
``display: none`` tiles, typing, copying, the serial log, and ``resize: follow``."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from geometry_os.api import wait_until
from geometry_os.plugins.input.bridge import text_events
from geometry_os.plugins.qemu.channels import DOCK_GAP, terminal_of
from geometry_os.plugins.qemu.console import ConsoleSource
from geometry_os.tiles import TileState

pytestmark = pytest.mark.qemu

SCENE = """
window: {{width: 1280, height: 800, fps: 30}}
camera: {{x: 640, y: 400, zoom: 1, fit: false}}
tiles:
  - id: vm
    title: tiny
    position: [0, 0]
    size: [{w}, {h}]
    source: {{type: qemu, iso: {iso}, accel: tcg, memory: 128, serial: {serial}, {extra}}}
"""
PROMPT = "tiny#"  # the line ends with a blank, which the screen text drops


def run(render_scene, tmp_path: Path, iso: Path, size=(640, 400), **extra: str):
    serial = tmp_path / "serial.log"
    options = ", ".join(f"{key}: {value}" for key, value in extra.items())
    shell = render_scene(SCENE.format(w=size[0], h=size[1], iso=iso, serial=serial, extra=options), frames=1)
    return shell, serial


def until(render_scene, shell, condition, timeout: float, what: str) -> None:
    """Draw frames (uploads, the channels layer) until ``condition()``; a short rest between."""
    wait_until(condition, timeout, step=lambda: (render_scene.frames(shell, 1), time.sleep(0.02)), what=what)


def screen_text(terminal) -> str:
    rows = terminal.terminal.view()
    return "\n".join("".join(ch.data for ch in row).rstrip() for row in rows)


def action(shell, name: str):
    return next(a for a in shell.actions if a.name == name)


def test_docked_console_types_copies_logs_and_toggles(render_scene, tmp_path, tiny_linux_iso):
    shell, serial = run(render_scene, tmp_path, tiny_linux_iso, serial_console="true")
    vm = shell.find_tile("vm")
    until(render_scene, shell, lambda: len(shell.tiles) == 2, 5, "the console tile")
    console = shell.tiles[1]
    assert isinstance(console.source, ConsoleSource) and console.title == "tiny serial"
    assert console.spec.position == (640 + DOCK_GAP, 0)
    view = terminal_of(console)
    until(render_scene, shell, lambda: PROMPT in screen_text(view), 90, "the prompt on the console")
    assert console.ctx.state is TileState.RUNNING
    assert console.frame_size == (view.painter.pixels.shape[1], view.painter.pixels.shape[0])

    # typing: QEMU key numbers through the tile's keyboard capability, as the input bridge sends them
    console.source.capabilities.keyboard.send_keys(text_events("echo typed-$((6*7))\n")).result(5)
    until(render_scene, shell, lambda: "typed-42" in screen_text(view), 30, "the echo on the console")

    # the serial log has exactly the bytes the console got
    line = console.source.line
    until(render_scene, shell, lambda: serial.read_bytes() == line.subscribe(lambda data: None), 10,
          "the same bytes in the log and the line")
    assert b"typed-42" in serial.read_bytes()

    # select "typed-42" with the pointer: it is on the host clipboard
    row = next(r for r, text in enumerate(screen_text(view).splitlines()) if text.startswith("typed-42"))
    width, height = view.painter.cell
    pointer = console.source.capabilities.pointer
    pointer.mouse_set_abs(width // 2, row * height + height // 2)
    pointer.mouse_press(0)
    pointer.mouse_set_abs(7 * width + width // 2, row * height + height // 2)
    pointer.mouse_release(0)
    assert shell.clipboard_text() == "typed-42"

    # the console follows its VM
    shell.place_tile(vm, (100, 50), (640, 400))
    render_scene.frames(shell, 1)
    assert console.spec.position == (740 + DOCK_GAP, 50)

    # the menu toggles it: hidden stays hidden, shown comes back
    hide, show = action(shell, "vm.serial-console.hide"), action(shell, "vm.serial-console.show")
    assert hide.applies(shell, [vm]) and not show.applies(shell, [vm])
    hide.run(shell, [vm])
    render_scene.frames(shell, 3)
    assert [t.name for t in shell.tiles] == ["vm"]
    assert show.applies(shell, [vm])
    show.run(shell, [vm])
    render_scene.frames(shell, 1)
    again = terminal_of(shell.tiles[1])
    until(render_scene, shell, lambda: "typed-42" in screen_text(again), 10, "the history in the new console")


def test_display_none_tile_is_its_serial_console(render_scene, tmp_path, tiny_linux_iso):
    shell, serial = run(render_scene, tmp_path, tiny_linux_iso, display="none")
    vm = shell.find_tile("vm")
    view = terminal_of(vm)
    assert view is not None and vm.source.capabilities.keyboard is view
    until(render_scene, shell, lambda: PROMPT in screen_text(view), 90, "the prompt in the tile")
    assert vm.ctx.state is TileState.RUNNING
    assert vm.frame_size == (80 * view.painter.cell[0], 24 * view.painter.cell[1])
    shell.focus(vm)  # typed like any VM: the input bridge has the keyboard
    for symbol in (ord("u"), ord("n"), ord("a"), ord("m"), ord("e")):
        shell.dispatch_input("on_key_press", symbol, 0)
        shell.dispatch_input("on_key_release", symbol, 0)
    vm.source.capabilities.keyboard.send_keys(text_events(" -s\n")).result(5)
    until(render_scene, shell, lambda: re.search(r"^Linux$", screen_text(view), re.M), 30, "uname's answer")
    assert b"uname -s\r\nLinux" in serial.read_bytes()
    assert not any(a.applies(shell, [vm]) for a in shell.actions if a.name.startswith("vm.serial-console"))


def test_guest_follows_its_tile_size(render_scene, tmp_path, tiny_linux_iso):
    """Linux's console (fbdev on virtio-gpu) takes any mode up to the size its driver started at, so the
    tile starts as large as the window: the guest comes up at 1280x800 and follows the tile down."""
    job = "['-fw_cfg', 'name=opt/geos/run,string=modprobe -a virtio_pci virtio_gpu; echo KMS-LOADED']"
    shell, serial = run(render_scene, tmp_path, tiny_linux_iso, size=(1280, 800), display="virtio",
                        resize="follow", extra_args=job)
    vm = shell.find_tile("vm")

    def loaded() -> bool:
        return serial.exists() and b"KMS-LOADED" in serial.read_bytes()

    until(render_scene, shell, loaded, 90, "the virtio-gpu driver loaded")
    until(render_scene, shell, lambda: vm.frame_size == (1280, 800), 30, "the guest at the tile's size")
    requests = vm.source.follow.requests
    for width in range(1200, 900, -50):  # a drag: many sizes in a row, one request at the end
        shell.place_tile(vm, (0, 0), (width, 700))
        render_scene.frames(shell, 1)
    until(render_scene, shell, lambda: vm.frame_size == (944, 700), 30, "the guest at the new size")
    assert vm.source.follow.requests == requests + 1
    shell.camera.set(640, 400, 0.5)  # zoomed out: the tile is half as large on screen, and so is the guest
    until(render_scene, shell, lambda: vm.frame_size == (472, 350), 30, "the guest at half the size")


def test_a_flood_of_garbage_neither_stalls_the_shell_nor_skips_the_log(render_scene, tmp_path, tiny_linux_iso):
    shell, serial = run(render_scene, tmp_path, tiny_linux_iso, display="none")
    vm = shell.find_tile("vm")
    view = terminal_of(vm)
    until(render_scene, shell, lambda: PROMPT in screen_text(view), 90, "the prompt in the tile")
    flood = b"head -c 3000000 /dev/urandom >/dev/ttyS0; echo; echo FLOOD-$((1+1))-DONE\r"
    vm.source.serial.write(flood)

    def frame() -> None:  # the map keeps drawing all through the flood (frame time: benchmarks, not here)
        render_scene.frames(shell, 1)
        time.sleep(0.01)

    wait_until(lambda: b"FLOOD-2-DONE" in serial.read_bytes()[-200:], 240, step=frame, what="the flood's end")
    assert serial.stat().st_size > 3_000_000  # every byte is in the log
    until(render_scene, shell, lambda: "FLOOD-2-DONE" in screen_text(view), 60,
          "the terminal to catch up with the flood's end (no stall)")
    until(render_scene, shell, lambda: vm.source.serial.received == serial.stat().st_size, 10,
          "the terminal's line got every byte of the log")
    until(render_scene, shell, lambda: not view.terminal.pending, 60, "the terminal caught up")
    # Ctrl-C first: the terminal's answers to queries the random bytes happened to contain are input;
    # then ESC c, a terminal reset, as `reset` does: random bytes leave charsets and modes changed
    vm.source.serial.write(b"\x03printf '\\033c'; echo still-$((2*21))\r")
    until(render_scene, shell, lambda: "still-42" in screen_text(view), 30, "the console answering after it")
