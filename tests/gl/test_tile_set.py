"""Tiles added and removed while the map runs (what the desktop and libvirt plugins build on)."""

from __future__ import annotations

import pytest

from geometry_os import api
from geometry_os.plugins.pattern.source import PatternParams

SCENE = """
window: {width: 320, height: 240}
camera: {x: 160, y: 120, zoom: 1, fit: false}
tiles:
  - {id: first, position: [0, 0], size: [160, 120], source: {type: pattern, width: 160, height: 120, rate: 0}}
"""


def card(tile_id: str | None, x: float) -> api.TileSpec:
    params = PatternParams(width=160, height=120, rate=0)
    return api.TileSpec(source=api.Typed("pattern", params), id=tile_id, position=(x, 0.0), size=(160.0, 120.0))


def test_an_added_tile_streams_and_draws_and_a_removed_one_stops(render_scene):
    shell = render_scene(SCENE, frames=2)
    added = shell.add_tile(card(None, 160))
    assert added.name == "tile-1" and added.index == 1
    api.wait_until(lambda: added.texture is not None, timeout=10, step=lambda: render_scene.frames(shell, 1),
                   what="the added tile's first frame")
    image = shell.screenshot()
    assert tuple(image[60, 165, :3]) == (235, 235, 235)  # its test card's white bar, right of the first
    with pytest.raises(ValueError, match="a tile named 'first' is already on the map"):
        shell.add_tile(card("first", 400))
    shell.focus(shell.tiles[0])
    stopped = shell.remove_tile(shell.tiles[0])
    assert stopped.result(10) is True
    assert [t.name for t in shell.tiles] == ["tile-1"] and shell.tiles[0].index == 0
    assert shell.focused is None and shell.find_tile("1") is added
    assert shell.add_tile(card(None, 0)).name == "tile-2"  # tile-1 is taken
    render_scene.frames(shell, 2)
    assert tuple(shell.screenshot()[60, 40, :3]) != (0, 0, 0)
