"""The map: the background grid and the camera controls (pan, zoom, fly, fit)."""

from __future__ import annotations

import geometry_os
from geometry_os.registry import InputSinkType, LayerType
from geometry_os.plugins.map.controls import CameraControls
from geometry_os.plugins.map.grid import GridLayer


@geometry_os.hookimpl
def register_layers() -> list[LayerType]:
    return [LayerType("grid", order=0, factory=GridLayer)]


@geometry_os.hookimpl
def register_input_sinks() -> list[InputSinkType]:
    return [InputSinkType("camera", priority=0, factory=CameraControls)]
