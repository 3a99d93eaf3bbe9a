"""The plugin host: discovery, isolation, collisions, misspelt hooks, blocking."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from geometry_os.plugin_host import MAX_FAILURES, PluginHost, blocked_from_env
from tests.conftest import FIXTURE_PLUGINS

FILES = FIXTURE_PLUGINS / "files"


def test_builtins_are_registered_from_their_entry_points(host):
    from importlib import metadata

    declared = {ep.name for ep in metadata.distribution("geometry-os").entry_points if ep.group == "geometry_os"}
    assert declared == set(host.infos) >= {"map", "tiles", "hud", "effects", "pattern", "qemu", "input"}
    assert all(i.origin == "built-in" and i.status == "active" for i in host.infos.values())
    assert "pattern" in host.registry.sources.names()


def test_raising_plugin_is_isolated_and_named(host, caplog):
    host.load_file(FILES / "raising.py")
    host.load_file(FILES / "recording.py")
    raising = host.pm.get_plugin("raising")
    recording = host.pm.get_plugin("recording")
    raising.calls.clear()
    recording.calls.clear()
    with caplog.at_level(logging.ERROR):
        host.scene_loaded(shell=None, scene=None)
    # the recording plugin ran although the other one raised, whatever the order
    assert recording.calls == ["scene_loaded"] and raising.calls == ["scene_loaded"]
    assert "plugin raising failed in scene_loaded: RuntimeError: boom in scene_loaded" in caplog.text
    assert host.infos["raising"].status == "active"


def test_plugin_that_keeps_failing_is_disabled(host, caplog):
    host.load_file(FILES / "raising.py")
    host.load_file(FILES / "recording.py")
    recording = host.pm.get_plugin("recording")
    recording.calls.clear()
    for _ in range(MAX_FAILURES + 2):
        host.scene_loaded(shell=None, scene=None)
    info = host.infos["raising"]
    assert info.status == "failed" and info.failures == MAX_FAILURES
    assert info.error.startswith(f"disabled after {MAX_FAILURES} failures")
    assert host.pm.get_plugin("raising") is None
    assert len(recording.calls) == MAX_FAILURES + 2  # the healthy plugin kept running


def test_name_collision_names_both_plugins(host):
    host.load_file(FILES / "collider.py")
    info = host.infos["collider"]
    assert info.status == "failed"
    assert info.error == "source type 'pattern' is registered by both plugin 'pattern' and plugin 'collider'"
    assert host.registry.sources.owner("pattern") == "pattern"


def test_misspelt_hook_fails_at_load_naming_the_plugin(host):
    host.load_file(FILES / "misspelt.py")
    info = host.infos["misspelt"]
    assert info.status == "failed"
    assert "scene_loded" in info.error and "misspelt" in info.error
    assert host.pm.get_plugin("misspelt") is None


def test_blocked_plugins_are_not_imported():
    host = PluginHost(blocked={"pattern"})
    host.load_builtins()
    assert host.infos["pattern"].status == "blocked"
    assert "pattern" not in host.registry.sources.names()
    assert "qemu" in host.registry.sources.names()
    assert all(info.origin == "built-in" for info in host.infos.values())  # nothing else was loaded
    assert blocked_from_env({"GEOS_BLOCK_PLUGINS": " a, b ,,"}) == {"a", "b"}


def test_directory_loading_skips_private_files(tmp_path):
    (tmp_path / "_helper.py").write_text("raise SystemExit('must not be imported')\n")
    (tmp_path / "rec.py").write_text((FILES / "recording.py").read_text())
    host = PluginHost()
    host.load_directory(tmp_path)
    assert list(host.infos) == ["rec"]


def test_broken_import_is_reported_not_raised(tmp_path):
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    host = PluginHost()
    host.load_file(tmp_path / "broken.py")
    assert host.infos["broken"].status == "failed"
    assert host.infos["broken"].error == "import failed: ModuleNotFoundError: No module named 'not_a_module_anywhere'"


def geos(site, *args: str) -> subprocess.CompletedProcess[str]:
    """``geos ARGS`` in a process that sees the fixture plugin as installed (``site`` on PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "geometry_os", *args], capture_output=True, text=True, env=env,
                          check=False)


def test_entry_point_discovery(entrypoint_plugin_site):
    result = geos(entrypoint_plugin_site, "plugins")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("entrytest"))
    assert line.split()[:5] == ["entrytest", "1.2.3", "active", "entry", "point"]
    assert "(geos-entrypoint-test)" in line and line.rstrip().endswith("register_sources")
    blocked = geos(entrypoint_plugin_site, "plugins", "--block", "entrytest")
    assert any(line.split()[:3] == ["entrytest", "1.2.3", "blocked"] for line in blocked.stdout.splitlines())


def test_entry_point_plugins_are_only_seen_where_installed(entrypoint_plugin_site, tmp_path):
    result = geos(tmp_path / "empty", "plugins")  # the same venv without the fixture's site folder
    assert result.returncode == 0 and "entrytest" not in result.stdout


def test_scene_using_entry_point_source_validates(entrypoint_plugin_site, write_scene):
    path = write_scene("tiles: [{source: {type: entrytest, width: 8}}]\n")
    result = geos(entrypoint_plugin_site, "check", str(path))
    assert result.returncode == 2
    assert result.stderr == f"{path}:1: tiles[0].source.width: must be >= 16 (got 8)\n"
