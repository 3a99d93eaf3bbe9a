"""``ripple``: a tile-stage warp — rings of waves move each tile's picture in and out.

A warp re-samples ``u_frame``: in the tile stage that is what the effects before it in
the scene drew (or the guest image), so ``[crt, ripple]`` ripples the CRT picture.  The
params show a vector (``centre``, a ``vec2`` in GLSL); everything is a documented,
range-checked ``api.setting``.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from geometry_os import api

__version__ = "0.1.0"


@attrs.define(frozen=True)
class RippleParams:
    amplitude: float = api.setting(2.0, doc="How far the picture moves, in guest pixels (0 off).", min=0.0, max=32.0)
    wavelength: float = api.setting(24.0, doc="Distance between wave crests, in guest pixels.", min=2.0, max=1000.0)
    speed: float = api.setting(3.0, doc="How fast the waves travel out (radians per second).", min=0.0, max=50.0)
    centre: tuple[float, float] = api.setting((0.5, 0.5), doc="Where the rings start: [x, y], 0..1 over the "
                                                              "image from its top-left.", min=0.0, max=1.0)


@api.hookimpl
def register_effects() -> list[api.EffectType]:
    return [api.EffectType("ripple", RippleParams, "tile", Path(__file__).with_name("ripple.glsl"),
                           "Rings of waves across every tile (example plugin: a warp).")]
