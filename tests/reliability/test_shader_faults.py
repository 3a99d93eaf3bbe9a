"""Shader faults not covered by tests/test_shader_loader.py and tests/gl/test_hot_reload.py.

Those cover compile errors mapped to file:line, missing includes and include cycles
at load, and a broken edit (syntax, missing include) keeping the last good program.
Here: an include cycle introduced by a live edit, and a third-party effect whose
shader is broken from the start.
"""

from __future__ import annotations

import pytest

from geometry_os.api import wait_until
from tests.gl.test_hot_reload import COLOUR, SHADE, centre, shade_scene, touch  # noqa: F401
from tests.gl.test_render import wait_for_texture

pytestmark = pytest.mark.gl


def test_include_cycle_from_a_live_edit_keeps_the_last_good_program(render_scene, shade_scene):  # noqa: F811
    shell = render_scene(shade_scene, dev=True)
    wait_for_texture(render_scene, shell)
    assert centre(shell) == (255, 0, 0)
    colour = shade_scene.parent / "shade_colour.glsl"
    touch(colour, '#include "shade.glsl"\n' + COLOUR.format(r=0.0, g=1.0, b=0.0))
    render_scene.frames(shell, 1)
    assert centre(shell) == (255, 0, 0)
    errors = shell.errors()
    assert len(errors) == 1 and "include cycle" in errors[0] and errors[0].startswith(str(colour.resolve()))
    touch(colour, COLOUR.format(r=0.0, g=1.0, b=0.0))
    render_scene.frames(shell, 1)
    assert centre(shell) == (0, 255, 0) and shell.errors() == []


def test_effect_that_never_compiled_is_isolated_and_named(render_scene, shade_scene):  # noqa: F811
    (shade_scene.parent / "shade.glsl").write_text(SHADE.replace("u_shade_amount", "u_shade_amount +"))
    shell = render_scene(shade_scene)
    tile = shell.tiles[0]
    wait_until(lambda: tile.texture is not None, 2, step=lambda: render_scene.frames(shell, 1),
               what="the tile still drawn, without the broken effect")
    errors = shell.errors()
    assert len(errors) == 1 and errors[0].startswith(f"{(shade_scene.parent / 'shade.glsl').resolve()}:")
    assert render_scene.host.infos["shade_plugin"].failures == 1  # blamed on the effect's plugin
    # fixing the effect's file brings it back
    touch(shade_scene.parent / "shade.glsl", SHADE)
    render_scene.frames(shell, 1)
    assert shell.errors() == [] and centre(shell) == (255, 0, 0)


def test_effect_broken_in_a_file_it_includes_is_left_out_too(render_scene, shade_scene):  # noqa: F811
    touch(shade_scene.parent / "shade_colour.glsl", "vec3 shade_colour() { return vec3(1.0) }\n")
    shell = render_scene(shade_scene)
    errors = shell.errors()
    assert len(errors) == 1 and errors[0].startswith(f"{(shade_scene.parent / 'shade_colour.glsl').resolve()}:1:")
    touch(shade_scene.parent / "shade_colour.glsl", COLOUR.format(r=0.0, g=0.0, b=1.0))
    render_scene.frames(shell, 2)
    assert shell.errors() == [] and centre(shell) == (0, 0, 255)
