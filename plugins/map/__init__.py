"""The map: the background grid and the camera controls (pan, zoom, fly, fit)."""

from __future__ import annotations

from geometry_os import api
from geometry_os.plugins.map.controls import CameraControls
from geometry_os.plugins.map.grid import GridLayer


@api.hookimpl
def register_layers() -> list[api.LayerType]:
    return [api.LayerType("grid", order=0, factory=GridLayer)]


@api.hookimpl
def register_input_sinks() -> list[api.InputSinkType]:
    return [api.InputSinkType("camera", priority=0, factory=CameraControls)]
