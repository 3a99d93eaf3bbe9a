"""The HUD (FPS, frame time and per-tile update rates, toggled with H) and the
development error overlay (shader and scene errors, always shown)."""

from __future__ import annotations

import geometry_os
from geometry_os.registry import LayerType
from geometry_os.plugins.hud.errors import ErrorsLayer
from geometry_os.plugins.hud.layer import HudLayer


@geometry_os.hookimpl
def register_layers() -> list[LayerType]:
    return [LayerType("hud", order=100, factory=HudLayer), LayerType("errors", order=110, factory=ErrorsLayer)]
