"""The HUD (FPS, frame time and per-tile update rates, toggled with H) and the
development error overlay (shader and scene errors, always shown)."""

from __future__ import annotations

from geometry_os import api
from geometry_os.plugins.hud.errors import ErrorsLayer
from geometry_os.plugins.hud.layer import HudLayer


@api.hookimpl
def register_layers() -> list[api.LayerType]:
    return [api.LayerType("hud", order=100, factory=HudLayer), api.LayerType("errors", order=110, factory=ErrorsLayer)]
