"""Built-in post effects: ``crt`` and ``bio`` (tile stage), and the screen-pass layer
that runs any screen-stage effect a scene lists (e.g. from a third-party plugin)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from geometry_os import api
from geometry_os.plugins.effects.bio import BioParams, bio_uniforms
from geometry_os.plugins.effects.crt import CrtParams, crt_passes
from geometry_os.plugins.effects.screen_pass import ScreenPassLayer
from geometry_os.plugins.effects.slang.effect import SlangParams, slang_passes

HERE = Path(str(resources.files(__package__)))


@api.hookimpl
def register_effects() -> list[api.EffectType]:
    return [
        api.EffectType("crt", CrtParams, "tile", passes=crt_passes,
                       description="A cathode-ray tube look: scanlines, curvature, vignette, colour fringes, phosphor "
                                   "mask, glow; `quality: high` adds a wide bloom and phosphor persistence."),
        api.EffectType("bio", BioParams, "tile", HERE / "bio.glsl",
                   "Biological coupling: the tile's brightness pulses like a heartbeat whose rate and depth "
                   "follow its VM's CPU load.", per_tile=bio_uniforms),
        api.EffectType("slang", SlangParams, "tile", passes=slang_passes,
                       description="A RetroArch shader preset (`.slangp`) on every tile: multi-pass CRT and other "
                                   "shaders from the slang-shaders collection. See docs/effects.md."),
    ]


@api.hookimpl
def register_layers() -> list[api.LayerType]:
    return [api.LayerType("screen-effects", order=90, factory=ScreenPassLayer)]
