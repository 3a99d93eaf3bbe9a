"""Tests of the example warp, using the fixtures geometry-os ships (geometry_os.testing)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

ENTRY_POINT = {"ripple": "geos_ripple"}
pytestmark = pytest.mark.geos_plugins(**ENTRY_POINT)

SCENE = """
window: {width: 320, height: 240}
camera: {x: 160, y: 120, zoom: 1, fit: false}
tiles:
  - {position: [0, 0], size: [320, 240], source: {type: pattern, width: 320, height: 240, rate: 0}}
effects: EFFECTS
"""


def render(render_scene, effects: str) -> np.ndarray:
    shell = render_scene(SCENE.replace("EFFECTS", effects), frames=3)
    return shell.screenshot()[:240, :320, :3].astype(np.int16)


def test_the_tested_module_is_the_declared_entry_point():
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["geometry_os"] == ENTRY_POINT


def test_ripple_is_a_tile_effect_with_a_vector_parameter(geos_host):
    kind = geos_host.registry.effects.get("ripple")
    assert kind.stage == "tile" and geos_host.registry.effects.owner("ripple") == "ripple"
    assert kind.params().centre == (0.5, 0.5)


def test_no_amplitude_is_the_plain_picture_and_waves_move_it(render_scene):
    plain = render(render_scene, "[]")
    assert np.array_equal(render(render_scene, "[{type: ripple, amplitude: 0}]"), plain)
    rippled = render(render_scene, "[{type: ripple, amplitude: 4, centre: [0.25, 0.75]}]")
    assert np.abs(rippled - plain).max() > 100  # edges of the colour bars moved
    assert np.array_equal(rippled[180, 80], plain[180, 80])  # the centre of the rings stays put


def test_it_ripples_what_the_effects_before_it_drew(render_scene):
    # the crt darkens every second guest row; the ripple after it samples that picture
    lines = "{type: crt, scanlines: 1.0, curvature: 0, vignette: 0, aberration: 0, mask: 0, glow: 0}"
    image = render(render_scene, f"[{lines}, {{type: ripple, amplitude: 0}}]")
    assert (image[1::2, :100] == 0).all() and (image[0::2, :100] > 0).any()
