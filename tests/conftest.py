"""Shared fixtures for the whole suite, and the markers its folders imply.

Lanes: ``pytest -m "not qemu and not xvfb"`` runs everything that needs neither QEMU
nor an X server (GL tests render through EGL and stay in); ``-m qemu`` and ``-m xvfb``
run the rest.  Tests under tests/qemu, tests/xvfb and tests/gl get their folder's
marker here; tests elsewhere that boot QEMU or open a window carry it themselves.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from pathlib import Path

import pytest

from geometry_os.window import use_headless

# The test process renders through EGL only; tests that need a real window (Xvfb) run
# `geos` in a subprocess.  This must happen before any module imports pyglet.window.
use_headless()

from geometry_os.plugin_host import PluginHost  # noqa: E402

# Nothing a test does may touch the user's own settings, saved scenes or pictures: those
# folders point into one throwaway directory for the whole run (subprocesses inherit it).
# The image cache (XDG_CACHE_HOME) stays the user's: tests boot the images tools/dev built.
_USER_DIRS = tempfile.mkdtemp(prefix="geos-tests-")
for _variable, _folder in (("XDG_CONFIG_HOME", "config"), ("XDG_PICTURES_DIR", "pictures")):
    os.environ[_variable] = os.path.join(_USER_DIRS, _folder)

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURE_PLUGINS = TESTS / "fixture_plugins"

# tests/<folder>/... -> the marker every test in it gets
FOLDER_MARKERS = {"qemu": pytest.mark.qemu, "xvfb": pytest.mark.xvfb, "gl": pytest.mark.gl}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(TESTS):
            marker = FOLDER_MARKERS.get(item.path.relative_to(TESTS).parts[0])
            if marker is not None:
                item.add_marker(marker)


@pytest.fixture
def host() -> PluginHost:
    """A plugin host with the built-ins loaded (no entry points, no files)."""
    h = PluginHost()
    h.load_builtins()
    return h


@pytest.fixture
def write_scene(tmp_path: Path):
    """Write YAML text to a scene file in a temporary folder and return its path."""

    def write(text: str, name: str = "scene.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def entrypoint_plugin_site(tmp_path: Path) -> Path:
    """A folder that, on ``PYTHONPATH``, makes tests/fixture_plugins/entrypoint_plugin look
    pip-installed: its module and the ``*.dist-info`` pip would write for it (METADATA and
    entry_points.txt, from its pyproject.toml).  Nothing is installed into the venv."""
    package = FIXTURE_PLUGINS / "entrypoint_plugin"
    project = tomllib.loads((package / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    site = tmp_path / "site"
    for module in project["entry-points"]["geometry_os"].values():
        shutil.copytree(package / module, site / module)
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    entry_points = "".join(f"{name} = {value}\n" for name, value in project["entry-points"]["geometry_os"].items())
    (info / "entry_points.txt").write_text(f"[geometry_os]\n{entry_points}")
    return site
