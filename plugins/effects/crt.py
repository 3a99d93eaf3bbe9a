"""Parameters and passes of the ``crt`` effect (the GLSL is crt.glsl and crt_*.glsl).

``quality: fast`` (the default) is one pass, fused with the effects around it: one draw
per tile.  ``quality: high`` is four passes: phosphor persistence from the pass's own
feedback, a bloom blurred at half the tile's size, and the tube drawn from both.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from geometry_os import api

HERE = Path(__file__).parent
FAST = api.PassList((api.Pass(HERE / "crt.glsl"),))
HIGH = api.PassList((
    api.Pass(HERE / "crt_persist.glsl", name="persist", history=1, format="rgba16f"),
    api.Pass(HERE / "crt_bloom_x.glsl", scale=api.Scale("viewport", 0.5), format="rgba16f"),
    api.Pass(HERE / "crt_bloom_y.glsl", name="bloom", scale=api.Scale("source", 1.0), format="rgba16f"),
    api.Pass(HERE / "crt_high.glsl"),
))


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
    quality: str = api.setting("fast", doc="`fast`: one pass, glow from four neighbours. `high`: four passes, "
                                           "a wide bloom and phosphor persistence (costs about 3x).",
                               choices=("fast", "high"))
    persistence: float = api.setting(0.5, doc="With quality `high`: how much of the last frame's light stays each "
                                              "frame (0 none; moving things leave a fading trail).",
                                     min=0.0, max=0.95)


def crt_passes(params: CrtParams) -> api.PassList:
    return HIGH if params.quality == "high" else FAST
