"""What the map tells the VMs besides keys: where their consoles sit, how big they are on screen.

A layer that draws nothing (the ``qemu-channels`` layer, drawn before the tiles).  Each
frame the map is drawn — so whenever the camera, a tile or the focus changed — it:

* adds the docked serial console of every QEMU tile that wants one (``serial_console``
  or the tile menu) and has none, and keeps docked consoles to the right of their VM;
* hands each terminal a way to the host clipboard (a selection is copied there);
* tells every ``resize: follow`` VM the size of its tile on screen (:mod:`.resize`
  debounces and asks the guest);
* places every VM's sound where its tile is (:mod:`.placement`: pan across the window,
  gain by size on screen, silent off screen, the focused one in front);
* shares the clipboard (:mod:`.clipboard`): a VM that gets the focus is offered the
  host's clipboard text, and what its guest copies goes to the host's clipboard.

Layers get the :class:`~geometry_os.api.ShellView`; sources do not, which is why this
lives here and not in the sources.
"""

from __future__ import annotations

import concurrent.futures
import logging

from geometry_os import api

from .console import SOURCE_TYPE, ConsoleParams, ConsoleSource
from .placement import placement
from .source import QemuSource
from .terminal_render import cell_size
from .terminal_view import TerminalView

log = logging.getLogger(__name__)

DOCK_GAP = 16.0  # world units between a VM and its docked console


def _log_failure(done: concurrent.futures.Future[int]) -> None:
    if done.exception() is not None:
        log.info("offering the clipboard failed: %s", done.exception())


def console_of(shell: api.ShellView, vm: api.Tile) -> api.Tile | None:
    """The console tile showing ``vm``'s serial port, if there is one."""
    for tile in shell.tiles:
        if isinstance(tile.source, ConsoleSource) and tile.source.params.vm == vm.name:
            return tile
    return None


def docked_position(vm: api.Tile) -> tuple[float, float]:
    (x, y), (w, _) = vm.spec.position, vm.spec.size
    return x + w + DOCK_GAP, y


def add_console(shell: api.ShellView, vm: api.Tile) -> api.Tile:
    """A console tile for ``vm``, docked to its right, its size the terminal's at 1:1."""
    params = ConsoleParams(vm=vm.name)
    width, height = cell_size()
    taken = {tile.name for tile in shell.tiles}
    name = f"{vm.name}-serial"
    number = 2
    while name in taken:
        name, number = f"{vm.name}-serial-{number}", number + 1
    spec = api.TileSpec(source=api.Typed(SOURCE_TYPE, params), title=f"{vm.title} serial", id=name,
                        position=docked_position(vm), size=(params.columns * width, params.rows * height))
    log.info("%s: serial console shown as tile %s", vm.name, name)
    return shell.add_tile(spec)


def terminal_of(tile: api.Tile) -> TerminalView | None:
    """The terminal a tile shows: a console tile's, or a ``display: none`` VM's own."""
    if isinstance(tile.source, ConsoleSource):
        return tile.source.view
    if isinstance(tile.source, QemuSource):
        return tile.source.console
    return None


class ChannelsLayer:
    """Per-frame bookkeeping of the QEMU channels (draws nothing)."""

    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self._focused: api.Tile | None = None

    def _to_host(self, text: str) -> None:  # backend loop: the guest copied ``text``
        self.shell.call_soon(lambda: self.shell.set_clipboard_text(text))

    def _focus_changed(self, tile: api.Tile | None) -> None:
        """Offer the host's clipboard to a VM with a shared clipboard that just got the focus."""
        self._focused = tile
        clipboard = tile.source.clipboard if tile is not None and isinstance(tile.source, QemuSource) else None
        if clipboard is None:
            return
        text = self.shell.clipboard_text()
        if text:
            clipboard.offer(text).add_done_callback(_log_failure)

    def draw(self) -> None:
        shell = self.shell
        tiles = {tile.name: tile for tile in shell.tiles}
        camera, focused = shell.camera, shell.focused
        if focused is not self._focused:
            self._focus_changed(focused)
        for tile in list(tiles.values()):
            source = tile.source
            if isinstance(source, QemuSource):
                clipboard = source.clipboard
                if clipboard is not None and clipboard.to_host is None:
                    clipboard.to_host = self._to_host
                if source.sound is not None:
                    source.sound.placement = placement(camera.rect_to_screen(tile.rect), (camera.width, camera.height),
                                                       focused=tile is focused,
                                                       other_focused=focused is not None and tile is not focused)
                if source.console_wanted and console_of(shell, tile) is None:
                    add_console(shell, tile)
                if source.follow is not None:
                    rect = shell.camera.rect_to_screen(tile.rect)
                    visible = tile.footprint.intersects(shell.camera.visible_world())
                    source.follow.tile_size(rect[2], rect[3], visible)
            elif isinstance(source, ConsoleSource) and source.params.dock:
                vm = tiles.get(source.params.vm)
                if vm is not None and tile.spec.position != docked_position(vm):
                    shell.place_tile(tile, docked_position(vm), tile.spec.size)
            terminal = terminal_of(tile)
            if terminal is not None and terminal.copy_to is None:
                terminal.copy_to = shell.set_clipboard_text


def hide_console(shell: api.ShellView, vm: api.Tile) -> None:
    """Take ``vm``'s console off the map and keep it off (until shown again)."""
    if isinstance(vm.source, QemuSource):
        vm.source.console_wanted = False
    console = console_of(shell, vm)
    if console is not None:
        shell.remove_tile(console)


def show_console(shell: api.ShellView, vm: api.Tile) -> None:
    if isinstance(vm.source, QemuSource):
        vm.source.console_wanted = True
    if console_of(shell, vm) is None:
        add_console(shell, vm)

