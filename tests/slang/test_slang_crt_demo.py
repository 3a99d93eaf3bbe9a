"""The crt-demo preset (tests/slang/presets/crt-demo, written in the style of crt-easymode and
crt-geom): five passes with feedback, aliases, float targets, an include and parameters.

What a user of a CRT preset expects to see, measured: curved edges and rounded corners,
scanlines that follow guest rows, halation around bright areas, phosphor persistence
after the picture goes dark, and the preset's parameters at run time.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from geometry_os.png import read_png
from tests.conftest import ROOT
from tests.gl.test_render import wait_for_texture

pytestmark = pytest.mark.gl

DEMO = ROOT / "tests" / "slang" / "presets" / "crt-demo"
# A still 320x240 card drawn three times its size: each guest row is three screen rows.
ZOOMED = f"""
window: {{width: 960, height: 720}}
camera: {{x: 160, y: 120, zoom: 3, fit: false}}
tiles:
  - {{position: [0, 0], size: [320, 240], source: {{type: pattern, width: 320, height: 240, rate: 0}}}}
effects:
  - {{type: slang, preset: {DEMO / 'crt-demo.slangp'} PARAMS}}
"""


def zoomed(render_scene, params: str = ""):
    shell = render_scene(ZOOMED.replace(" PARAMS", f", {params}" if params else ""))
    wait_for_texture(render_scene, shell)
    assert shell.errors() == []
    return shell


def screen(shell) -> np.ndarray:
    return shell.screenshot()[..., :3].astype(float)


def test_curvature_corners_and_scanlines(render_scene):
    shell = zoomed(render_scene, "MASK_STRENGTH: 0.0, GLOW_STRENGTH: 0.0")
    image = screen(shell)
    assert (image[:4, :4] == 0).all() and (image[-4:, -4:] == 0).all()  # bent out of the picture, rounded
    # the blue bar, mid-height (where curvature barely moves rows): each guest row is three
    # screen rows, a narrow beam bright in the middle one and dark between rows
    # (curvature moves the beams a little against the screen rows above and below the middle)
    rows = image[351:369, 880:900, 2].mean(axis=1).reshape(6, 3)
    assert (rows[:, 1] > 250).all() and (rows[:, 1] - rows[:, [0, 2]].max(axis=1) > 25).all(), rows


def test_halation_and_its_parameter_at_run_time(render_scene):
    shell = zoomed(render_scene)
    lit = screen(shell)
    shell.set_effect_param("slang", "GLOW_STRENGTH", 0.0)
    render_scene.frames(shell, 3)
    unlit = screen(shell)
    assert (lit >= unlit - 2).all()  # halation only adds light
    assert (lit - unlit)[200:500, 100:800].mean() > 10


def test_phosphor_persistence_fades_after_the_picture_goes_dark(render_scene):
    shell = zoomed(render_scene, "PERSISTENCE: 0.6")
    guest = shell.tiles[0]
    guest.ctx.mailbox.publish(np.full((240, 320, 4), 255, np.uint8))
    render_scene.frames(shell, 3)
    guest.ctx.mailbox.publish(np.zeros((240, 320, 4), np.uint8))
    levels = []
    for _ in range(8):
        render_scene.frames(shell, 1)
        levels.append(screen(shell)[300:420, 300:660].mean())
    assert levels[0] > 60 and all(a > b for a, b in itertools.pairwise(levels) if a > 3)
    assert levels[-1] < 8


def test_geos_run_headless_screenshot_of_the_demo_scene(tmp_path):
    out = tmp_path / "crt-demo.png"
    result = subprocess.run([sys.executable, "-m", "geometry_os", "run", str(DEMO / "scene.yaml"), "--headless",
                             "--frames", "30", "--screenshot", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    image = read_png(out)[..., :3].astype(float)
    assert image.shape == (720, 1280, 3)
    left, right = image[200:520, 100:600], image[200:520, 680:1180]
    for tile in (left, right):
        assert tile.std() > 40 and tile.max() > 200  # colour bars, not a blank tile
    assert (image[560, 90] < 30).all()  # the bent-away lower left corner of the first tile is black
