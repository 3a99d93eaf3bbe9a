"""Parameters of the ``crt`` effect (the GLSL is crt.glsl)."""

from __future__ import annotations

import attrs

from geometry_os import api


@attrs.define(frozen=True)
class CrtParams:
    scanlines: float = api.setting(0.3, doc="How much every second guest pixel row is darkened (0 off, 1 black).",
                               min=0.0, max=1.0)
    curvature: float = api.setting(0.06, doc="Barrel distortion of the picture (0 flat).", min=0.0, max=0.5)
    vignette: float = api.setting(0.35, doc="Darkening towards the corners (0 off).", min=0.0, max=1.0)
    aberration: float = api.setting(0.6, doc="Red/blue fringe offset, in guest pixels (0 off).", min=0.0, max=4.0)
    mask: float = api.setting(0.12, doc="Strength of the RGB phosphor mask over screen columns (0 off).",
                          min=0.0, max=1.0)
    glow: float = api.setting(0.15, doc="Soft bloom around bright areas (0 off).", min=0.0, max=1.0)
