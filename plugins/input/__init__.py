"""Input bridge: keyboard and mouse from the map into the focused VM.

:mod:`.keymap` maps pyglet's key symbols to QEMU's key codes, :mod:`.bridge` is the
input sink that feeds the focused tile's VM, :mod:`.hint` draws the "how to get
back to the map" line, :mod:`.ops` adds ``type`` and ``keys`` to the shell's control
socket, :mod:`.commands` the ``geos type`` / ``geos keys`` / ``geos shot`` commands and
:mod:`.actions` the keyboard actions of tile menus and the palette (key combinations,
pasting the clipboard as keystrokes, broadcast typing).
"""

from __future__ import annotations

import weakref
from typing import Any

import attrs

from geometry_os import api

CHORDS = ("ctrl+alt", "ctrl+shift", "ctrl+alt+shift", "ctrl+super", "shift+super")


@attrs.define(frozen=True)
class InputOptions:
    """Options of the input bridge (``plugins.options.input`` in a scene)."""

    release_chord: str = api.setting("ctrl+alt", doc="keys that, pressed and released together, "
                                     "give the keyboard back to the map", choices=CHORDS)


#: Each running shell's bridge (the sink the shell made through our factory).
BRIDGES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _make_bridge(shell: api.ShellView) -> Any:
    from geometry_os.plugins.input.bridge import InputBridge

    options = shell.plugin_options("input") or InputOptions()
    bridge = InputBridge(shell, chord=tuple(options.release_chord.split("+")))
    BRIDGES[shell] = bridge
    return bridge


@api.hookimpl
def plugin_options() -> type:
    return InputOptions


@api.hookimpl
def register_input_sinks() -> list[api.InputSinkType]:
    return [api.InputSinkType("vm-input", priority=100, factory=_make_bridge)]


@api.hookimpl
def register_layers() -> list[api.LayerType]:
    from geometry_os.plugins.input.hint import HintLayer

    return [api.LayerType("input-hint", order=95, factory=HintLayer)]


@api.hookimpl
def register_commands() -> list[api.CommandType]:
    from geometry_os.plugins.input.commands import COMMANDS

    return COMMANDS


@api.hookimpl
def register_control_ops() -> list[api.ControlOp]:
    from geometry_os.plugins.input.ops import OPS

    return OPS


@api.hookimpl
def register_actions() -> list[api.ActionType]:
    from geometry_os.plugins.input.actions import ACTIONS

    return ACTIONS


@api.hookimpl
def tile_state_changed(shell: api.ShellView, change: api.StateChange) -> None:
    """A focused VM that stops or fails cannot take keys: give the keyboard back to the map."""
    bridge = BRIDGES.get(shell)
    if bridge is not None and change.new in (api.TileState.STOPPED, api.TileState.FAILED):
        bridge.tile_gone(change.tile)


@api.hookimpl
def scene_closing(shell: api.ShellView, scene: Any) -> None:
    """Keys and buttons still held in the focused VM are released before the VMs stop."""
    bridge = BRIDGES.get(shell)
    if bridge is not None:
        bridge.release_all()
