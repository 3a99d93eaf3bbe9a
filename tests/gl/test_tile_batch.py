"""The batched tile pass (engine/render/tile_batch.py): the same pixels as drawing tile by
tile, per-tile state rewritten only for tiles that changed, and chains it cannot run left
to the tile-by-tile runner."""

from __future__ import annotations

import numpy as np
import pytest

from geometry_os.api import assert_image_close, wait_until
from geometry_os.plugins.tiles.layer import TilesLayer

pytestmark = pytest.mark.gl

# Four still cards of different sizes in a 2x2 grid, at zoom 1 and an odd zoom.
WALL = """
window: {width: 800, height: 600}
camera: {x: 330, y: 250, zoom: ZOOM, fit: false}
effects: EFFECTS
tiles:
  - {id: a, position: [0, 0], size: [320, 240], source: {type: pattern, width: 320, height: 240, rate: 0}}
  - {id: b, position: [340, 0], size: [320, 240], source: {type: pattern, width: 200, height: 150, rate: 0}}
  - {id: c, position: [0, 280], size: [320, 240], source: {type: pattern, width: 640, height: 400, rate: 0,
                                                           cpu_load: 0.5}}
  - {id: d, position: [340, 280], size: [320, 240], source: {type: pattern, width: 320, height: 240, rate: 0}}
"""


def open_wall(render_scene, zoom: float = 1.0, effects: str = "[]"):
    shell = render_scene(WALL.replace("ZOOM", str(zoom)).replace("EFFECTS", effects))
    wait_until(lambda: all(t.texture is not None for t in shell.tiles), 5,
               step=lambda: render_scene.frames(shell, 1), what="first frames")
    render_scene.frames(shell, 2)
    layer = next(layer for _, layer in shell.layers if isinstance(layer, TilesLayer))
    return shell, layer


def screenshots(render_scene, shell, layer, monkeypatch) -> tuple[np.ndarray, np.ndarray]:
    """The frame drawn batched, then the same frame drawn tile by tile by the runner."""
    assert layer.batch.ready()
    shell.redraw()
    render_scene.frames(shell, 1)
    batched = shell.screenshot()
    monkeypatch.setattr(layer.batch, "ready", lambda: False)
    shell.redraw()
    render_scene.frames(shell, 1)
    return batched, shell.screenshot()


@pytest.mark.parametrize(("zoom", "effects"), [(1.0, "[]"), (0.73, "[]"), (1.0, "[{type: crt}]"),
                                               (0.73, "[{type: crt, curvature: 0.2, glow: 0.5}]")])
def test_batched_tiles_draw_what_tile_by_tile_draws(render_scene, monkeypatch, zoom, effects):
    shell, layer = open_wall(render_scene, zoom, effects)
    shell.focus(shell.tiles[1])
    batched, one_by_one = screenshots(render_scene, shell, layer, monkeypatch)
    # The quad is placed on the GPU (camera matrix times the tile's rect, in float) instead of
    # by a matrix made in Python (in double): where a pixel centre falls exactly on a guest
    # row's edge, the crt's scanline can land on the other row (one row of a tile, at an odd
    # zoom: 0.03% of the pixels here).
    assert_image_close(batched, one_by_one, tolerance=1, max_bad_fraction=0.001)
    assert batched[..., :3].std() > 20  # the cards are there


def test_only_changed_tiles_are_rewritten(render_scene, monkeypatch):
    shell, layer = open_wall(render_scene, 1.0, "[{type: crt}]")
    written: list[str] = []
    write = layer.table._write
    monkeypatch.setattr(layer.table, "_write", lambda slot, tile, focused: (written.append(tile.name),
                                                                            write(slot, tile, focused)))
    draws = layer.runner.draws
    shell.redraw()
    render_scene.frames(shell, 1)
    assert written == [] and layer.runner.draws - draws == 4  # one draw per tile, nothing rewritten
    shell.camera.pan_pixels(13, 7)  # the camera is a uniform: moving it rewrites nothing
    render_scene.frames(shell, 1)
    assert written == []
    shell.focus(shell.tiles[2])
    render_scene.frames(shell, 1)
    assert written == ["c"]


@pytest.mark.parametrize("effects", ["[{type: crt, quality: high}]", "[{type: bio}]"])
def test_chains_the_batch_cannot_run_go_tile_by_tile(render_scene, effects):
    shell, layer = open_wall(render_scene, 1.0, effects)
    assert not layer.batch.ready()
    steps = layer.runner.chain.steps
    passes = sum(len(step.passes) for step in steps)
    draws = layer.runner.draws
    shell.redraw()
    render_scene.frames(shell, 1)
    assert layer.runner.draws - draws >= 4 * passes
    assert shell.screenshot()[..., :3].std() > 20
