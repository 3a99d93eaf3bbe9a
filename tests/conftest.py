"""Shared fixtures for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from geometry_os.testing import headless_gl

# The test process renders through EGL only; tests that need a real window (Xvfb) run
# `geos` in a subprocess.  This must happen before any module imports pyglet.window.
headless_gl()

from geometry_os.plugin_host import PluginHost  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_PLUGINS = Path(__file__).resolve().parent / "fixture_plugins"


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
