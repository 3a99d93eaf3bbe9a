"""Input bridge: keyboard and mouse from the map into the focused VM.

:mod:`.keymap` maps pyglet's key symbols to QEMU's key codes, :mod:`.bridge` is the
input sink that feeds the focused tile's VM, :mod:`.hint` draws the "how to get
back to the map" line, :mod:`.control` serves ``geos type`` / ``geos keys``.
"""

from __future__ import annotations

from typing import Any

import attrs

import geometry_os
from geometry_os.registry import CommandType, InputSinkType, LayerType
from geometry_os.settings import setting

CHORDS = ("ctrl+alt", "ctrl+shift", "ctrl+alt+shift", "ctrl+super", "shift+super")


@attrs.define(frozen=True)
class InputOptions:
    """Options of the input bridge (``plugins.options.input`` in a scene)."""

    release_chord: str = setting("ctrl+alt", doc="keys that, pressed and released together, "
                                 "give the keyboard back to the map", choices=CHORDS)


_servers: dict[int, Any] = {}  # id(shell) -> ControlServer


def _options(shell: Any) -> InputOptions:
    return shell.scene.plugins.options.get("input") or InputOptions()


def _make_bridge(shell: Any) -> Any:
    from geometry_os.plugins.input.bridge import InputBridge

    return InputBridge(shell, chord=tuple(_options(shell).release_chord.split("+")))


@geometry_os.hookimpl
def plugin_options() -> type:
    return InputOptions


@geometry_os.hookimpl
def register_input_sinks() -> list[InputSinkType]:
    return [InputSinkType("vm-input", priority=100, factory=_make_bridge)]


@geometry_os.hookimpl
def register_layers() -> list[LayerType]:
    from geometry_os.plugins.input.hint import HintLayer

    return [LayerType("input-hint", order=95, factory=HintLayer)]


@geometry_os.hookimpl
def register_commands() -> list[CommandType]:
    from geometry_os.plugins.input.commands import COMMANDS

    return COMMANDS


@geometry_os.hookimpl
def scene_loaded(shell: Any, scene: Any) -> None:
    from geometry_os.plugins.input.bridge import bridge_of
    from geometry_os.plugins.input.control import ControlServer

    bridge = bridge_of(shell)
    if bridge is not None:  # nothing to serve without it (its factory failed)
        _servers[id(shell)] = ControlServer(shell, bridge)


@geometry_os.hookimpl
def scene_closing(shell: Any, scene: Any) -> None:
    server = _servers.pop(id(shell), None)
    if server is not None:
        server.close()
