"""The QEMU plugin's entries in the tile menu and the palette: the serial console, sound, clipboard.

Each toggle is a pair of actions of which one applies at a time ("Show serial console"
on a VM without one, "Hide serial console" on a VM or a console that is shown), so the
menu always says what a click does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from geometry_os import api

from . import channels
from .console import ConsoleSource
from .source import QemuSource

CHANNELS = "2 channels"


def _vms(tiles: Sequence[api.Tile]) -> list[api.Tile]:
    return [tile for tile in tiles if isinstance(tile.source, QemuSource)]


def _vm_of(shell: api.ShellView, tile: api.Tile) -> api.Tile | None:
    """The VM a tile stands for: itself, or a console's VM."""
    if isinstance(tile.source, QemuSource):
        return tile
    if isinstance(tile.source, ConsoleSource):
        return next((t for t in shell.tiles if t.name == tile.source.params.vm), None)
    return None


def _with_screen(tiles: Sequence[api.Tile]) -> bool:
    """Only VMs with a screen: a ``display: none`` tile is its console already."""
    return bool(tiles) and all(isinstance(t.source, QemuSource) and t.source.console is None for t in tiles)


def _can_show(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return _with_screen(tiles) and any(channels.console_of(shell, t) is None for t in tiles)


def _can_hide(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    vms = [_vm_of(shell, t) for t in tiles]
    return bool(tiles) and all(vm is not None and channels.console_of(shell, vm) is not None for vm in vms)


def _each_vm(act: Callable[[api.ShellView, api.Tile], None]) -> Callable[[api.ShellView, Sequence[api.Tile]], None]:
    def run(shell: api.ShellView, tiles: Sequence[api.Tile]) -> None:
        for tile in tiles:
            vm = _vm_of(shell, tile)
            if vm is None:
                raise ValueError(f"tile {tile.name} is not a QEMU VM")
            act(shell, vm)
    return run


ACTIONS = [
    api.ActionType("vm.serial-console.show", "Show serial console", _each_vm(channels.show_console), _can_show,
                   group=CHANNELS),
    api.ActionType("vm.serial-console.hide", "Hide serial console", _each_vm(channels.hide_console), _can_hide,
                   group=CHANNELS),
]
