"""Saving a scene: the layout written back into the YAML file itself, everything else kept.

engine/scene/save.py through the scene loader (no window): comments, key order, quoting
and flow style survive; positions change in place; closed tiles go, added ones come with
their ids; names stay stable; read-only and shipped scenes go to the config directory
with absolute paths; the file is replaced atomically; ``geos run`` opens the last one.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geometry_os.resources import default_scene
from geometry_os.scene import load_scene
from geometry_os.scene.save import last_saved_scene, save_scene, spec_from_entry
from tests.conftest import ROOT

SCENE = """\
# My lab: two test cards.
window: {title: lab, width: 800, height: 600}   # small window
camera:
  fit: true
tiles:
  # the first card
  - id: left
    title: 'Left card'   # quoted on purpose
    position: [0, 0]
    size: [320, 240]
    source: {type: pattern, rate: 0}
  - title: Unnamed
    position:
      - 400
      - 0
    source: {type: pattern, rate: 0, speed: 10}
  - {title: Third, position: [800, 0], size: [320, 240], source: {type: pattern, rate: 0}}
# trailing comment
"""


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    """Each test saves into its own config directory."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def tiles_of(scene):
    return [(tile.id or f"tile-{i}", tile) for i, tile in enumerate(scene.tiles)]


def moved(spec, x, y, w=None, h=None):
    return attrs.evolve(spec, position=(x, y), size=(w or spec.size[0], h or spec.size[1]))


def test_only_the_moved_values_change_and_every_comment_stays(write_scene, host):
    path = write_scene(SCENE)
    scene = load_scene(path, host)
    tiles = tiles_of(scene)
    tiles[0] = (tiles[0][0], moved(tiles[0][1], 16, 32, 400, 300))
    tiles[1] = (tiles[1][0], moved(tiles[1][1], 480, 0))
    assert save_scene(scene, tiles) == path
    expected = (SCENE.replace("position: [0, 0]\n    size: [320, 240]", "position: [16, 32]\n    size: [400, 300]")
                .replace("      - 400\n", "      - 480\n"))
    assert path.read_text() == expected
    again = load_scene(path, host)
    assert [(t.position, t.size) for t in again.tiles] == [(t.position, t.size) for _, t in tiles]


def test_closed_tiles_go_added_ones_come_and_names_stay(write_scene, host):
    path = write_scene(SCENE)
    scene = load_scene(path, host)
    _, (unnamed, second), (third_name, third) = tiles_of(scene)
    assert (unnamed, third_name) == ("tile-1", "tile-2")
    added = spec_from_entry({"title": "New", "position": [0, 400], "size": [640, 480], "offscreen": "pause",
                             "source": {"type": "pattern", "rate": 5}}, host.registry, path.parent)
    save_scene(scene, [(unnamed, second), (third_name, third), ("new-card", added)])
    text = path.read_text()
    assert "# My lab: two test cards." in text and "# trailing comment" in text and "left" not in text
    again = load_scene(path, host)
    # tile-1 and tile-2 moved up one place: they keep their names through an explicit id
    assert again.tile_names() == ["tile-1", "tile-2", "new-card"]
    assert again.tiles[2] == attrs.evolve(added, id="new-card")
    assert "- id: new-card\n    title: New\n    position: [0, 400]\n    size: [640, 480]\n" \
           "    offscreen: pause\n    source: {type: pattern, rate: 5.0}\n" in text


def test_a_scene_that_cannot_be_written_goes_under_the_config_directory_with_absolute_paths(
        write_scene, host, tmp_path, config_home, monkeypatch):
    plugin = tmp_path / "extra.py"
    plugin.write_text("from geometry_os import api\n")
    path = write_scene(SCENE.replace("camera:", "plugins: {load: [extra.py]}\ncamera:"))
    scene = load_scene(path, host)
    from geometry_os.scene import save

    real = save.write_atomically

    def read_only_folder(target, text):  # root may write anywhere: the refusal is injected
        if target.parent == path.parent:
            raise PermissionError(13, "Permission denied", str(target))
        real(target, text)

    monkeypatch.setattr(save, "write_atomically", read_only_folder)
    written = save_scene(scene, tiles_of(scene))
    assert written == config_home / "geometry-os" / "scenes" / "scene.yaml"
    assert f"load: [{plugin}]" in written.read_text()
    assert last_saved_scene() == written
    assert load_scene(written, host).tiles == scene.tiles


def test_the_shipped_default_is_never_overwritten(host, config_home):
    scene = load_scene(default_scene(), host)
    before = default_scene().read_text()
    tiles = [(name, moved(spec, 5, 5)) for name, spec in tiles_of(scene)]
    written = save_scene(scene, tiles)
    assert default_scene().read_text() == before
    assert written == config_home / "geometry-os" / "scenes" / "default.yaml"
    assert [t.position for t in load_scene(written, host).tiles] == [(5.0, 5.0)] * len(tiles)
    assert written.read_text().startswith(before.splitlines()[0])  # the comments came along


def test_replacing_is_atomic_and_keeps_the_file_mode(write_scene, host):
    path = write_scene(SCENE)
    path.chmod(0o640)
    scene = load_scene(path, host)
    save_scene(scene, tiles_of(scene))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in path.parent.glob("*scene.yaml*")) == ["scene.yaml"]  # no temporary file left


def test_an_explicit_path_that_cannot_be_written_is_an_error(write_scene, host, tmp_path):
    path = write_scene(SCENE)
    scene = load_scene(path, host)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OSError):
        save_scene(scene, tiles_of(scene), tmp_path / "a-file" / "scene.yaml")
    assert last_saved_scene() is None


def test_a_tile_entry_is_checked_like_a_scene_file(host, tmp_path):
    with pytest.raises(ValueError, match=r"tile.source.rate: must be >= 0"):
        spec_from_entry({"source": {"type": "pattern", "rate": -1}}, host.registry, tmp_path)
    with pytest.raises(ValueError, match=r"tile.source.iso: .*missing.iso"):
        spec_from_entry({"source": {"type": "qemu", "iso": "missing.iso"}}, host.registry, tmp_path)


def test_geos_run_without_a_scene_opens_the_last_saved_one(write_scene, host, config_home):
    path = write_scene("window: {title: remembered}\ntiles: []\n")
    save_scene(load_scene(path, host), [])
    env = {**os.environ, "XDG_CONFIG_HOME": str(config_home)}
    result = subprocess.run([sys.executable, "-m", "geometry_os", "-v", "run", "--headless", "--frames", "1"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"opening {path}" in result.stderr
    path.unlink()  # gone: the shipped default again
    result = subprocess.run([sys.executable, "-m", "geometry_os", "-v", "run", "--headless", "--frames", "1",
                             "--block", "qemu"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert f"opening {default_scene()}" in result.stderr


numbers = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda v: round(v, 2))
sizes = st.floats(min_value=1, max_value=1e5, allow_nan=False).map(lambda v: round(v, 2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=st.lists(st.tuples(numbers, numbers, sizes, sizes), min_size=3, max_size=3),
       keep=st.lists(st.booleans(), min_size=3, max_size=3))
def test_any_layout_round_trips_exactly(write_scene, host, layout, keep):
    path = write_scene(SCENE)
    scene = load_scene(path, host)
    tiles = [(name, moved(spec, *place)) for (name, spec), place, kept in zip(tiles_of(scene), layout, keep,
                                                                             strict=True) if kept]
    save_scene(scene, tiles)
    again = load_scene(path, host)
    assert again.tile_names() == [name for name, _ in tiles]
    assert [(t.position, t.size) for t in again.tiles] == [(s.position, s.size) for _, s in tiles]
    assert "# My lab: two test cards." in path.read_text()


def test_a_source_value_changed_on_the_map_is_written_in_place(write_scene, host):
    path = write_scene(SCENE)
    scene = load_scene(path, host)
    tiles = tiles_of(scene)
    name, spec = tiles[1]
    changed = attrs.evolve(spec.source.params, speed=25.0, rate=2.0)
    tiles[1] = (name, attrs.evolve(spec, source=attrs.evolve(spec.source, params=changed)))
    save_scene(scene, tiles)
    assert path.read_text() == SCENE.replace("{type: pattern, rate: 0, speed: 10}",
                                             "{type: pattern, rate: 2.0, speed: 25.0}")
    assert load_scene(path, host).tiles[1].source.params == changed
