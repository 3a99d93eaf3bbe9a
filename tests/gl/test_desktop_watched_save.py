"""Saving while the shell watches its own scene file (development mode, the default of
``geos run``): the shell's write is read back as the same scene, with nothing to warn about."""

from __future__ import annotations

import logging

from pyglet.window import key

SCENE = """\
# watched
window: {title: watched, width: 640, height: 480}
tiles:
  - {id: card, title: Card, position: [0, 0], size: [320, 240], source: {type: pattern, rate: 0}}
"""


def test_saving_a_watched_scene_reloads_it_as_it_is(render_scene, write_scene, caplog):
    path = write_scene(SCENE)
    shell = render_scene(path, dev=True)
    card = shell.find_tile("card")
    shell.place_tile(card, (100.0, 50.0), (400.0, 300.0))
    shell.add_tile(shell.tile_spec({"id": "more", "position": [500, 0], "source": {"type": "pattern", "rate": 0}}))
    with caplog.at_level(logging.INFO):
        shell.dispatch_input("on_key_press", key.S, key.MOD_CTRL)  # the map has the keyboard
        render_scene.frames(shell, 3)  # the watcher sees the new file and reloads it
    assert f"scene {path} reloaded" in caplog.text
    assert "need a restart" not in caplog.text and shell.scene_errors == []
    assert [(t.name, t.spec.position, t.spec.size) for t in shell.tiles] == [
        ("card", (100.0, 50.0), (400.0, 300.0)), ("more", (500.0, 0.0), (640.0, 480.0))]
    assert path.read_text().startswith("# watched\n")
