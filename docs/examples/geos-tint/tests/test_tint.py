"""Tests of the example plugin, using the fixtures geometry-os ships (geometry_os.testing).

The plugin is loaded from this checkout by its entry point's own line: installed or
not, these tests see this copy, and no other third-party plugin.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ENTRY_POINT = {"tint": "geos_tint"}
pytestmark = pytest.mark.geos_plugins(**ENTRY_POINT)

SCENE = """
window: {width: 320, height: 240}
camera: {x: 160, y: 120, zoom: 1, fit: false}
tiles:
  - {position: [0, 0], size: [320, 240], source: {type: pattern, width: 320, height: 240, rate: 0}}
effects:
  - {type: tint, red: 0.0, green: 0.0, blue: 1.0, strength: STRENGTH}
"""


def render(render_scene, strength):
    shell = render_scene(SCENE.replace("STRENGTH", str(strength)), frames=3)
    return shell.screenshot()


def test_the_tested_module_is_the_declared_entry_point():
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["geometry_os"] == ENTRY_POINT


def test_tint_registers_a_screen_effect(geos_host):
    info = geos_host.infos["tint"]
    assert info.origin == "module geos_tint" and info.status == "active" and info.version == "0.1.0"
    assert geos_host.registry.effects.get("tint").stage == "screen"
    assert geos_host.registry.effects.owner("tint") == "tint"


def test_full_strength_turns_the_screen_blue(render_scene):
    image = render(render_scene, 1.0)
    white_bar = image[100, 20]  # the test card's white bar
    assert white_bar[2] > 200 and white_bar[0] < 10 and white_bar[1] < 10


def test_zero_strength_changes_nothing(render_scene):
    from geometry_os.api import assert_image_close

    assert_image_close(render(render_scene, 0.0), render(render_scene, 0.0), tolerance=0)
    image = render(render_scene, 0.0)
    assert tuple(image[100, 20, :3]) == (235, 235, 235)
