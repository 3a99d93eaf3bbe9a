"""The HUD (FPS, frame time and per-tile update rates, toggled with H) and the
development error overlay (shader and scene errors, always shown)."""

from __future__ import annotations

import engine
from engine.registry import LayerType
from plugins.hud.errors import ErrorsLayer
from plugins.hud.layer import HudLayer


@engine.hookimpl
def register_layers() -> list[LayerType]:
    return [LayerType("hud", order=100, factory=HudLayer), LayerType("errors", order=110, factory=ErrorsLayer)]
