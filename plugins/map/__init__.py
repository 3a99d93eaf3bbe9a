"""The map: the background grid and the camera controls (pan, zoom, fly, fit)."""

from __future__ import annotations

import engine
from engine.registry import InputSinkType, LayerType
from plugins.map.controls import CameraControls
from plugins.map.grid import GridLayer


@engine.hookimpl
def register_layers() -> list[LayerType]:
    return [LayerType("grid", order=0, factory=GridLayer)]


@engine.hookimpl
def register_input_sinks() -> list[InputSinkType]:
    return [InputSinkType("camera", priority=0, factory=CameraControls)]
