"""The pytest fixtures plugin authors get (geometry_os.testing): ``geos_host`` loads the
built-ins and only the plugins a test names; ``render_scene`` fails a test on an OpenGL
error, naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from xml.etree import ElementTree

import pytest

from geometry_os import api
from geometry_os.testing import SceneRunner
from tests.conftest import FIXTURE_PLUGINS

# Run by a separate pytest in which the fixture plugin looks installed (entrypoint_plugin_site).
MARKER_TESTS = '''
import pytest


def test_unnamed_installed_plugins_stay_out(geos_host):
    assert "entrytest" not in geos_host.infos
    assert {info.origin for info in geos_host.infos.values()} == {"built-in"}


@pytest.mark.geos_plugins("entrytest")
def test_named_entry_point(geos_host):
    info = geos_host.infos["entrytest"]
    assert (info.origin, info.version, info.status) == ("entry point (geos-entrypoint-test)", "1.2.3", "active")
    assert geos_host.registry.sources.owner("entrytest") == "entrytest"


@pytest.mark.geos_plugins(dev="geos_entrypoint_test")
def test_module_by_import_name(geos_host):
    assert geos_host.infos["dev"].origin == "module geos_entrypoint_test"
    assert geos_host.registry.sources.owner("entrytest") == "dev"
    assert "entrytest" not in geos_host.infos


def test_render_scene_uses_the_same_plugins(render_scene):
    assert "entrytest" not in render_scene.host.infos


@pytest.mark.geos_plugins("not_installed")
def test_missing(geos_host):
    pass


@pytest.mark.geos_plugins(collider="collider")
def test_failing(geos_host):
    pass
'''


def test_geos_host_loads_only_the_plugins_a_test_names(entrypoint_plugin_site, tmp_path):
    (tmp_path / "test_markers.py").write_text(MARKER_TESTS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(entrypoint_plugin_site), str(FIXTURE_PLUGINS / "files")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--junitxml=out.xml",
                             "test_markers.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    outcomes = {}  # test name -> "passed" or the message it failed or errored with
    for case in ElementTree.parse(tmp_path / "out.xml").iter("testcase"):
        problem = next(iter(case), None)
        outcomes[case.get("name")] = "passed" if problem is None else f"{problem.tag}: {problem.get('message')}"
    assert outcomes == {
        "test_unnamed_installed_plugins_stay_out": "passed",
        "test_named_entry_point": "passed",
        "test_module_by_import_name": "passed",
        "test_render_scene_uses_the_same_plugins": "passed",
        "test_missing": "error: failed on setup with \"Failed: geos_plugins: no installed plugin named "
                        "'not_installed' (entry-point group 'geometry_os'; third-party plugins installed: "
                        "entrytest)\"",
        "test_failing": "error: failed on setup with \"Failed: geos_plugins: plugin collider (module collider) "
                        "failed: source type 'pattern' is registered by both plugin 'pattern' and plugin "
                        "'collider'\"",
    }, result.stdout
    assert result.returncode == 1


class BadGLLayer:
    """A layer that makes an invalid OpenGL call once ``broken`` is set."""

    broken = False

    def draw(self) -> None:
        from pyglet import gl

        if self.broken:
            gl.glEnable(0x1234)  # no such capability: GL_INVALID_ENUM


class BadGLPlugin:
    layer = BadGLLayer()

    @api.hookimpl
    def register_layers(self) -> list[api.LayerType]:
        return [api.LayerType("bad-gl", 100, lambda shell: self.layer)]


@pytest.mark.gl
def test_render_scene_fails_on_a_gl_error_naming_it(geos_host, tmp_path):
    plugin = BadGLPlugin()
    geos_host.register(plugin, "badgl")
    runner = SceneRunner(geos_host, tmp_path)
    try:
        scene = "window: {width: 320, height: 240, streaming: false}\ntiles: [{source: {type: pattern, rate: 0}}]\n"
        shell = runner(scene, frames=2)  # drawn without errors
        plugin.layer.broken = True
        with pytest.raises(AssertionError) as failure:
            runner.frames(shell, 2)
        assert str(failure.value) == "OpenGL error after frame 1 of 2 (scene-0.yaml): GL_INVALID_ENUM"
        plugin.layer.broken = False
        runner.frames(shell, 1)  # reading the error cleared it
    finally:
        runner.close()
