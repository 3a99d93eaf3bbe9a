"""``tint``: a screen-stage effect that mixes the whole window towards one colour.

Everything a third-party effect needs: a params class (each field a documented,
range-checked api.setting), a GLSL file shipped with the package, and a
``register_effects`` hook.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from geometry_os import api

__version__ = "0.1.0"


@attrs.define(frozen=True)
class TintParams:
    red: float = api.setting(1.0, doc="Red of the tint colour.", min=0.0, max=1.0)
    green: float = api.setting(0.75, doc="Green of the tint colour.", min=0.0, max=1.0)
    blue: float = api.setting(0.4, doc="Blue of the tint colour.", min=0.0, max=1.0)
    strength: float = api.setting(0.3, doc="How far the picture is mixed towards the colour (0 off).",
                              min=0.0, max=1.0)


@api.hookimpl
def register_effects() -> list[api.EffectType]:
    return [api.EffectType("tint", TintParams, "screen", Path(__file__).with_name("tint.glsl"),
                       "Mix the whole screen towards a colour (example plugin).")]
