"""The tile renderer: each tile's guest image, title bar, state badge and focus frame,
and the input sink that focuses a tile on click and flies to it on double-click."""

from __future__ import annotations

import engine
from engine.registry import CheckType, InputSinkType, LayerType
from engine.render.diagnostics import gl_checks
from plugins.tiles.cursor import CursorLayer
from plugins.tiles.layer import TilesLayer
from plugins.tiles.picker import TilePicker


@engine.hookimpl
def register_layers() -> list[LayerType]:
    return [LayerType("tiles", order=10, factory=TilesLayer),
            LayerType("guest-cursor", order=12, factory=CursorLayer)]


@engine.hookimpl
def register_input_sinks() -> list[InputSinkType]:
    return [InputSinkType("tile-picker", priority=50, factory=TilePicker)]


@engine.hookimpl
def register_checks() -> list[CheckType]:
    return [CheckType("opengl", gl_checks)]
