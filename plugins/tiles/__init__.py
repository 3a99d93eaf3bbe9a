"""The tile renderer: each tile's guest image, title bar, state badge and focus frame,
and the input sink that focuses a tile on click and flies to it on double-click."""

from __future__ import annotations

import geometry_os
from geometry_os.registry import CheckType, InputSinkType, LayerType
from geometry_os.render.diagnostics import gl_checks
from geometry_os.plugins.tiles.cursor import CursorLayer
from geometry_os.plugins.tiles.layer import TilesLayer
from geometry_os.plugins.tiles.picker import TilePicker


@geometry_os.hookimpl
def register_layers() -> list[LayerType]:
    return [LayerType("tiles", order=10, factory=TilesLayer),
            LayerType("guest-cursor", order=12, factory=CursorLayer)]


@geometry_os.hookimpl
def register_input_sinks() -> list[InputSinkType]:
    return [InputSinkType("tile-picker", priority=50, factory=TilePicker)]


@geometry_os.hookimpl
def register_checks() -> list[CheckType]:
    return [CheckType("opengl", gl_checks)]
