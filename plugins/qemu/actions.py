"""The QEMU plugin's entries in the tile menu and the palette: the serial console, sound, clipboard.

Each toggle is a pair of actions of which one applies at a time ("Show serial console"
on a VM without one, "Hide serial console" on a VM or a console that is shown), so the
menu always says what a click does.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

from geometry_os import api

from . import channels
from .console import ConsoleSource
from .mixer import VmSound
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


VOLUME_STEP = 0.25
MAX_VOLUME = 2.0


def _sounds(tiles: Sequence[api.Tile]) -> list[VmSound]:
    return [t.source.sound for t in tiles if isinstance(t.source, QemuSource) and t.source.sound is not None]


def _has_sound(tiles: Sequence[api.Tile]) -> bool:
    return bool(tiles) and len(_sounds(tiles)) == len(tiles)


def _sound_action(act: Callable[[VmSound], None]) -> Callable[[api.ShellView, Sequence[api.Tile]], None]:
    def run(shell: api.ShellView, tiles: Sequence[api.Tile]) -> None:
        if not _has_sound(tiles):
            raise ValueError("only VMs with audio: true have sound")
        for sound in _sounds(tiles):
            act(sound)
    return run


def _mute(sound: VmSound) -> None:
    sound.muted = True


def _unmute(sound: VmSound) -> None:
    sound.muted = False


def _louder(sound: VmSound) -> None:
    sound.volume = min(MAX_VOLUME, sound.volume + VOLUME_STEP)


def _quieter(sound: VmSound) -> None:
    sound.volume = max(0.0, sound.volume - VOLUME_STEP)


def _shared(tiles: Sequence[api.Tile]) -> list[QemuSource]:
    return [t.source for t in tiles if isinstance(t.source, QemuSource) and t.source.clipboard is not None
            and t.source.clipboard.agent]


def _clipboard_shared(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return bool(tiles) and len(_shared(tiles)) == len(tiles)


def _clipboard_typed(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return _with_screen(tiles) and not _shared(tiles)


def _send_clipboard(shell: api.ShellView, tiles: Sequence[api.Tile]) -> concurrent.futures.Future[Any]:
    """Offer the host's clipboard to the guests' agents now (focusing the tile does it too)."""
    text = shell.clipboard_text()
    if not text:
        raise ValueError("the clipboard holds no text")
    futures = [source.clipboard.offer(text) for source in _shared(tiles) if source.clipboard is not None]
    return futures[-1]


def _paste_as_keys(shell: api.ShellView, tiles: Sequence[api.Tile]) -> Any:
    """The input plugin's paste (the clipboard typed as key presses), for guests without an agent."""
    paste = next((a for a in shell.actions if a.name == "keys.paste"), None)
    if paste is None:
        raise ValueError("typing the clipboard needs the input plugin")
    return paste.run(shell, tiles)


ACTIONS = [
    api.ActionType("vm.serial-console.show", "Show serial console", _each_vm(channels.show_console), _can_show,
                   group=CHANNELS),
    api.ActionType("vm.serial-console.hide", "Hide serial console", _each_vm(channels.hide_console), _can_hide,
                   group=CHANNELS),
    api.ActionType("vm.sound.mute", "Mute", _sound_action(_mute),
                   lambda shell, tiles: _has_sound(tiles) and not all(s.muted for s in _sounds(tiles)), group=CHANNELS),
    api.ActionType("vm.sound.unmute", "Unmute", _sound_action(_unmute),
                   lambda shell, tiles: _has_sound(tiles) and any(s.muted for s in _sounds(tiles)), group=CHANNELS),
    api.ActionType("vm.sound.louder", "Volume up (25%)", _sound_action(_louder),
                   lambda shell, tiles: _has_sound(tiles) and any(s.volume < MAX_VOLUME for s in _sounds(tiles)),
                   group=CHANNELS),
    api.ActionType("vm.sound.quieter", "Volume down (25%)", _sound_action(_quieter),
                   lambda shell, tiles: _has_sound(tiles) and any(s.volume > 0 for s in _sounds(tiles)),
                   group=CHANNELS),
    api.ActionType("vm.clipboard.send", "Clipboard shared with the guest: send it now", _send_clipboard,
                   _clipboard_shared, group=CHANNELS),
    api.ActionType("vm.clipboard.type", "Clipboard not shared (no guest agent): paste as keystrokes", _paste_as_keys,
                   _clipboard_typed, group=CHANNELS),
]
