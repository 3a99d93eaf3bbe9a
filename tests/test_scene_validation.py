"""Scene validation: strict types, every error at once, file:line: path: reason."""

from __future__ import annotations

import contextlib
import io
import shutil
import textwrap

import numpy as np
import pytest

from geometry_os.cli import main
from geometry_os.plugins.pattern.source import PatternParams
from geometry_os.png import write_png
from geometry_os.scene import SceneError, load_scene
from geometry_os.scene.structure import Typed

# (scene text, the exact error lines expected, with FILE for the scene's path)
BAD_SCENES = [
    pytest.param("", ["FILE:1: scene: the file is empty; expected a mapping with 'tiles'"], id="empty"),
    pytest.param("- 1\n", ["FILE:1: scene: expected a mapping, got a list"], id="not-a-mapping"),
    pytest.param("tiles: [\n", ["FILE:2: yaml: expected the node content, but found '<stream end>'"], id="yaml-syntax"),
    pytest.param("""
        window:
          widht: 800
        """, ["FILE:2: window.widht: unknown field; did you mean 'width'?"], id="misspelt-key"),
    pytest.param("""
        window: {fps: 2.7}
        """, ["FILE:1: window.fps: expected an integer, got 2.7"], id="float-is-not-int"),
    pytest.param("""
        window: {fps: "60"}
        """, ["FILE:1: window.fps: expected an integer, got the string '60'"], id="string-is-not-int"),
    pytest.param("""
        window: {fullscreen: "no"}
        """, ["FILE:1: window.fullscreen: expected true or false, got the string 'no'"], id="string-is-not-bool"),
    pytest.param("""
        window: {fullscreen: yes}
        """, ["FILE:1: window.fullscreen: expected true or false, got yes (write true or false)"],
        id="yes-is-not-bool"),
    pytest.param("""
        window: {title: 12}
        """, ["FILE:1: window.title: expected a string, got 12 (quote it to make it a string)"], id="int-is-not-str"),
    pytest.param("""
        window: {fps: 200}
        camera: {zoom: 0}
        """, ["FILE:1: window.fps: must be <= 144 (got 200)",
              "FILE:2: camera.zoom: must be >= 0.02 (got 0.0)"], id="ranges"),
    pytest.param("""
        tiles:
          - title: a
            source: {type: patern}
        """, ["FILE:3: tiles[0].source.type: unknown type 'patern'; did you mean 'pattern'? installed: SOURCES"],
        id="unknown-source-type"),
    pytest.param("""
        tiles:
          - title: a
        """, ["FILE:2: tiles[0].source: required field is missing"], id="missing-source"),
    pytest.param("""
        tiles:
          - source: {width: 100}
        """, ["FILE:2: tiles[0].source.type: required field is missing (one of: SOURCES)"], id="source-without-type"),
    pytest.param("""
        tiles:
          - source:
              type: pattern
              width: 4
              rate: fast
              colour: red
            position: [1]
            size: [1, 2, 3]
        """, ["FILE:4: tiles[0].source.width: must be >= 16 (got 4)",
              "FILE:5: tiles[0].source.rate: expected a number, got the string 'fast'",
              "FILE:6: tiles[0].source.colour: unknown field (known: width, height, rate, speed, cpu_load)",
              "FILE:7: tiles[0].position: expected a list of 2 values, got a list of 1",
              "FILE:8: tiles[0].size: expected a list of 2 values, got a list of 3"], id="all-errors-at-once"),
    pytest.param("""
        tiles:
          - {id: a, source: {type: pattern}}
          - {id: a, source: {type: pattern}}
        """, ["FILE:3: tiles[1].id: tile id 'a' is already used by tiles[0]"], id="duplicate-id"),
    pytest.param("""
        effects: [{type: crtt}]
        """, ["FILE:1: effects[0].type: unknown type 'crtt'; did you mean 'crt'? installed: EFFECTS"],
        id="unknown-effect"),
    pytest.param("""
        plugins:
          options: {nope: {}}
          load: [missing.py]
        """, ["FILE:2: plugins.options.nope: no plugin named 'nope' is installed (installed: PLUGINS)",
              "FILE:3: plugins.load[0]: file not found: DIR/missing.py"], id="plugins"),
    pytest.param("""
        window: {width: 800}
        window: {width: 900}
        """, ["FILE:2: window: given twice"], id="duplicate-key"),
    pytest.param("""
        tiles: {a: 1}
        """, ["FILE:1: tiles: expected a list, got a mapping"], id="tiles-not-list"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_SCENES)
def test_bad_scene_reports_exact_errors(host, write_scene, text, expected):
    path = write_scene(textwrap.dedent(text).lstrip("\n"))
    with pytest.raises(SceneError) as info:
        load_scene(path, host)
    names = {"FILE": str(path), "DIR": str(path.parent), "PLUGINS": ", ".join(sorted(host.infos)),
             "SOURCES": ", ".join(host.registry.sources.names()), "EFFECTS": ", ".join(host.registry.effects.names())}
    wanted = []
    for line in expected:
        for placeholder, value in names.items():
            line = line.replace(placeholder, value)
        wanted.append(line)
    assert info.value.lines == wanted


def test_python_tags_are_never_constructed(host, write_scene, tmp_path):
    marker = tmp_path / "pwned"
    path = write_scene(f"window: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(SceneError) as info:
        load_scene(path, host)
    assert info.value.lines == [f"{path}:1: window: expected a mapping, got a list"]
    assert not marker.exists()


def test_good_scene_structures_into_attrs(host, write_scene):
    path = write_scene(textwrap.dedent("""
        window: {title: T, width: 800, height: 600, fps: 120}
        camera: {x: 10, y: -5.5, zoom: 2, fit: false}
        tiles:
          - title: one
            position: [100, 200]
            size: [320, 240]
            source: {type: pattern, width: 320, height: 240, rate: 0}
          - id: two
            source: {type: pattern}
        """))
    scene = load_scene(path, host)
    assert scene.window.width == 800 and scene.window.fps == 120
    assert scene.camera.x == 10.0 and isinstance(scene.camera.x, float)
    assert scene.tiles[0].position == (100.0, 200.0)
    assert scene.tiles[0].source == Typed("pattern", PatternParams(width=320, height=240, rate=0.0))
    assert scene.tiles[1].source.params == PatternParams()
    assert scene.tile_names() == ["tile-0", "two"]
    assert scene.path == path and scene.directory == path.parent


def test_scene_loads_plugin_file_relative_to_itself(host, write_scene, tmp_path):
    from tests.conftest import FIXTURE_PLUGINS

    (tmp_path / "fx.py").write_text((FIXTURE_PLUGINS / "files" / "myfx_source.py").read_text())
    path = write_scene("plugins: {load: [fx.py]}\ntiles: [{source: {type: filesource, width: 20}}]\n")
    scene = load_scene(path, host)
    assert scene.tiles[0].source.type == "filesource"
    assert host.infos["fx"].origin == f"file {tmp_path / 'fx.py'}"


def geos_check(path) -> tuple[int, list[str]]:
    """``geos check PATH`` in this process: (exit status, stderr lines)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["check", str(path)])
    return code, err.getvalue().splitlines()


def test_files_a_scene_names_must_exist(write_scene, tmp_path, monkeypatch):
    from tests.conftest import FIXTURE_PLUGINS

    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "boot.iso").write_bytes(b"CD001")
    (tmp_path / "picture.py").write_text((FIXTURE_PLUGINS / "files" / "picture.py").read_text())
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "media")  # relative paths are the scene's, not the working directory's
    path = write_scene(textwrap.dedent("""
        tiles:
          - source: {type: qemu, iso: media/boot.iso, disk: [media/boot.iso, media/gone.img], memory: 64}
          - source:
              type: qemu
              iso: media
              kernel: ~/vmlinuz
              initrd: /nonexistent/initrd.img
          - source: {type: picture, file: card.png}
        plugins: {load: [picture.py, missing.py]}
        """).lstrip())
    code, lines = geos_check(path)
    assert code == 2
    assert lines == [f"{path}:2: tiles[0].source.disk[1]: file not found: {tmp_path}/media/gone.img",
                     f"{path}:5: tiles[1].source.iso: is a directory, not a file: {tmp_path}/media",
                     f"{path}:6: tiles[1].source.kernel: file not found: {tmp_path}/home/vmlinuz",
                     f"{path}:7: tiles[1].source.initrd: file not found: /nonexistent/initrd.img",
                     f"{path}:8: tiles[2].source.file: file not found: {tmp_path}/card.png",
                     f"{path}:9: plugins.load[1]: file not found: {tmp_path}/missing.py"]


def test_existing_files_relative_to_the_scene_or_home_check(host, write_scene, tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "vmlinuz").write_bytes(b"kernel")
    (tmp_path / "boot.iso").write_bytes(b"CD001")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "home")
    path = write_scene("tiles:\n  - source: {type: qemu, iso: boot.iso, disk: [boot.iso], kernel: ~/vmlinuz}\n")
    params = load_scene(path, host).tiles[0].source.params
    assert (params.iso, params.disk, params.kernel) == ("boot.iso", ["boot.iso"], "~/vmlinuz")  # as written
    assert geos_check(path) == (0, [])


def test_a_missing_file_does_not_hide_the_other_mistakes_of_its_tile(host, write_scene):
    path = write_scene("tiles:\n  - source: {type: qemu, image: tiny-linux, kernel: gone}\n")
    with pytest.raises(SceneError) as info:
        load_scene(path, host)
    assert info.value.lines == [f"{path}:2: tiles[0].source: image and kernel both given: choose one",
                                f"{path}:2: tiles[0].source.kernel: file not found: {path.parent}/gone"]


def test_a_scene_that_is_not_utf8_names_the_line_of_the_first_bad_byte(host, tmp_path):
    path = tmp_path / "scene.yaml"
    path.write_bytes("# Geometry OS\nwindow:\n  title: \u00e9t".encode() + b"\xff\n  fps: \xfe\n")
    expected = f"{path}:3: not UTF-8: byte 0xff at column 12 (save the scene as UTF-8)"
    with pytest.raises(SceneError) as info:
        load_scene(path, host)
    assert info.value.lines == [expected]
    assert geos_check(path) == (2, [expected])


@pytest.mark.gl
def test_render_scene_resolves_paths_against_the_scene_file(render_scene, tmp_path, monkeypatch):
    from geometry_os.testing import wait_until
    from tests.conftest import FIXTURE_PLUGINS

    project = tmp_path / "project"
    (project / "plugins").mkdir(parents=True)
    shutil.copy(FIXTURE_PLUGINS / "files" / "picture.py", project / "plugins" / "picture.py")
    card = np.empty((240, 320, 4), np.uint8)
    card[...] = (200, 40, 90, 255)
    write_png(project / "card.png", card)
    scene = project / "scene.yaml"
    scene.write_text("window: {width: 640, height: 480}\ncamera: {x: 160, y: 120, zoom: 1, fit: false}\n"
                     "plugins: {load: [plugins/picture.py]}\n"
                     "tiles: [{position: [0, 0], size: [320, 240], source: {type: picture, file: card.png}}]\n")
    monkeypatch.chdir(tmp_path)  # not the scene's folder
    shell = render_scene(scene, frames=1, size=(320, 240))
    assert shell.scene.path == scene and shell.window.get_framebuffer_size() == (320, 240)
    wait_until(lambda: tuple(shell.screenshot()[120, 160, :3]) == (200, 40, 90), 5,
               step=lambda: render_scene.frames(shell, 1), what="the picture next to the scene on screen")
