"""Hot reload during a headless run: shaders (incl. included files) and the scene file."""

from __future__ import annotations

import os
import time

import pytest

from tests.gl.test_render import wait_for_texture

pytestmark = pytest.mark.gl

PLUGIN = '''
from pathlib import Path
import attrs
import geometry_os
from geometry_os.registry import EffectType
from geometry_os.settings import setting

@attrs.define(frozen=True)
class ShadeParams:
    amount: float = setting(1.0, doc="Amount.", min=0.0, max=1.0)

@geometry_os.hookimpl
def register_effects():
    return [EffectType("shade", ShadeParams, "tile", Path(__file__).with_name("shade.glsl"))]
'''
SHADE = ('#include "shade_colour.glsl"\n'
         'vec4 effect_shade(vec4 color, vec2 uv) { return vec4(shade_colour() * u_shade_amount, 1.0); }\n')
COLOUR = "vec3 shade_colour() {{ return vec3({r}, {g}, {b}); }}\n"
SCENE = """
plugins: {load: [shade_plugin.py]}
window: {width: 320, height: 240}
camera: {x: 160, y: 120, zoom: 1, fit: false}
tiles:
  - {title: T, position: [0, 0], size: [320, 240], source: {type: pattern, width: 320, height: 240, rate: 0}}
effects:
  - {type: shade, amount: 1.0}
"""


def touch(path, text):
    path.write_text(text)
    stamp = time.time_ns() + 1_000_000
    os.utime(path, ns=(stamp, stamp))  # a new mtime even within the file system's granularity


@pytest.fixture
def shade_scene(tmp_path):
    (tmp_path / "shade_plugin.py").write_text(PLUGIN)
    (tmp_path / "shade.glsl").write_text(SHADE)
    touch(tmp_path / "shade_colour.glsl", COLOUR.format(r=1.0, g=0.0, b=0.0))
    scene = tmp_path / "scene.yaml"
    scene.write_text(SCENE)
    return scene


def centre(shell):
    return tuple(int(v) for v in shell.screenshot()[120, 200, :3])


def test_shader_edit_reloads_and_a_broken_edit_keeps_the_last_good_program(render_scene, shade_scene):
    shell = render_scene(shade_scene, dev=True)
    wait_for_texture(render_scene, shell)
    assert centre(shell) == (255, 0, 0)
    colour = shade_scene.parent / "shade_colour.glsl"
    touch(colour, COLOUR.format(r=0.0, g=1.0, b=0.0))  # an edit of an *included* file
    render_scene.frames(shell, 1)
    assert centre(shell) == (0, 255, 0) and shell.errors() == []
    touch(colour, "vec3 shade_colour() { return vec3(0.0, 0.0, 1.0) }\n")  # missing ';'
    render_scene.frames(shell, 1)
    assert centre(shell) == (0, 255, 0)  # the last good program keeps drawing
    errors = shell.errors()
    assert len(errors) == 1 and errors[0].startswith(f"{colour.resolve()}:1: error:")
    touch(colour, COLOUR.format(r=0.0, g=0.0, b=1.0))
    render_scene.frames(shell, 1)
    assert centre(shell) == (0, 0, 255) and shell.errors() == []


def test_missing_include_shows_the_error_and_keeps_drawing(render_scene, shade_scene):
    shell = render_scene(shade_scene, dev=True)
    wait_for_texture(render_scene, shell)
    touch(shade_scene.parent / "shade.glsl", SHADE.replace("shade_colour.glsl", "gone.glsl"))
    render_scene.frames(shell, 1)
    assert centre(shell) == (255, 0, 0)
    assert "cannot include 'gone.glsl'" in shell.errors()[0]


def test_scene_edit_is_applied_live_and_an_invalid_edit_is_kept_out(render_scene, shade_scene):
    shell = render_scene(shade_scene, dev=True)
    wait_for_texture(render_scene, shell)
    touch(shade_scene, SCENE.replace("amount: 1.0", "amount: 0.5").replace("title: T", "title: Renamed"))
    render_scene.frames(shell, 1)
    assert centre(shell)[0] in (127, 128) and shell.tiles[0].title == "Renamed"
    touch(shade_scene, SCENE.replace("amount: 1.0", "amount: 7"))
    render_scene.frames(shell, 1)
    assert shell.errors() == [f"{shade_scene}:8: effects[0].amount: must be <= 1.0 (got 7.0)"]
    assert centre(shell)[0] in (127, 128)
    touch(shade_scene, SCENE.replace("effects:\n  - {type: shade, amount: 1.0}\n", "effects: []\n"))
    render_scene.frames(shell, 1)
    assert shell.errors() == [] and centre(shell) == (235, 16, 235)  # the plain test card's magenta bar
