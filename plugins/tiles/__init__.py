"""The tile renderer: each tile's guest image, title bar, state badge and focus frame,
and the input sink that focuses a tile on click and flies to it on double-click."""

from __future__ import annotations

from geometry_os import api
from geometry_os.plugins.tiles.cursor import CursorLayer
from geometry_os.plugins.tiles.layer import TilesLayer
from geometry_os.plugins.tiles.picker import TilePicker
from geometry_os.render.diagnostics import gl_checks


@api.hookimpl
def register_layers() -> list[api.LayerType]:
    return [api.LayerType("tiles", order=10, factory=TilesLayer),
            api.LayerType("guest-cursor", order=12, factory=CursorLayer)]


@api.hookimpl
def register_input_sinks() -> list[api.InputSinkType]:
    return [api.InputSinkType("tile-picker", priority=50, factory=TilePicker)]


@api.hookimpl
def register_checks() -> list[api.CheckType]:
    return [api.CheckType("opengl", gl_checks)]
