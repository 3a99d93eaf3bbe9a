"""A wall of 64 pattern tiles fitted into a 1280x720 window (zoom about 0.14), headless:
every tile is a card, no tile's frames are uploaded, and the HUD summarises instead of
listing 64 lines that would run off the window."""

from __future__ import annotations

import pytest

from geometry_os.plugins.hud.layer import HudLayer

pytestmark = pytest.mark.gl


def wall(count: int) -> str:
    tiles = "\n".join(
        f"  - {{id: vm{i:02}, title: VM {i}, position: [{(i % 8) * 680}, {(i // 8) * 540}], size: [640, 480], "
        f"source: {{type: pattern, width: 640, height: 480, rate: 0, cpu_load: {i / 100}}}}}"
        for i in range(count))
    return f"window: {{width: 1280, height: 720, hud: true}}\ncamera: {{fit: true}}\ntiles:\n{tiles}\n"


def hud_of(shell) -> HudLayer:
    return next(layer for _, layer in shell.layers if isinstance(layer, HudLayer))


def test_a_wall_of_64_tiles_is_cards_uploading_nothing_with_a_summarised_hud(render_scene):
    shell = render_scene(wall(64), frames=3)
    assert shell.camera.zoom < 0.2
    assert all(tile.covered and tile.texture is None for tile in shell.tiles)
    assert all(tile.ctx.mailbox.published >= 1 for tile in shell.tiles)  # each has a frame waiting
    shell.redraw()
    render_scene.frames(shell, 2)  # the HUD has measured its lines
    hud = hud_of(shell)
    lines = hud.text().splitlines()
    assert lines[1] == "64 tiles: 64 running" and lines[2] == "busiest:"
    assert [line.split()[0] for line in lines[3:6]] == ["vm63", "vm62", "vm61"]  # by CPU load
    assert lines[-1] == "focus: map"
    assert hud.label.content_height <= shell.camera.height - 4 * 8  # it fits the window


def test_a_few_tiles_are_listed_one_line_each(render_scene):
    shell = render_scene(wall(3), frames=3)
    shell.redraw()
    render_scene.frames(shell, 1)
    lines = hud_of(shell).text().splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["vm00", "vm01", "vm02"] and len(lines) == 5
