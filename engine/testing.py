"""Test helpers for Geometry OS and its plugins (a pytest plugin, loaded automatically).

Plugin authors get, with no set-up:

* ``geos_host`` — a :class:`~geometry_os.plugin_host.PluginHost` with the built-ins and
  every installed plugin (entry points) loaded, as ``geos run`` would have it.
* ``render_scene`` — ``render_scene(yaml_text_or_path, frames=3, size=(w, h))``
  loads a scene, runs it offscreen through EGL (no display needed) and returns the
  shell after ``frames`` frames; ``shell.screenshot()`` is an RGBA array.
* :func:`assert_image_close` — compare images with a per-channel tolerance and a
  budget of differing pixels, with a readable failure message.

The GL context is an EGL pbuffer (``pyglet.options["headless"]``): these helpers
switch pyglet to headless mode on first use, so use them in a process that opens no
real windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from geometry_os.assertions import assert_image_close, wait_until
from geometry_os.plugin_host import PluginHost

__all__ = ["SceneRunner", "assert_image_close", "headless_gl", "wait_until"]


def headless_gl() -> None:
    """Switch pyglet to EGL headless mode (must happen before pyglet.window is used)."""
    import pyglet

    pyglet.options["headless"] = True
    pyglet.options["debug_gl"] = False


class SceneRunner:
    """Runs scenes offscreen, frame by frame, and cleans up what it opened."""

    def __init__(self, host: PluginHost, tmp_path: Path) -> None:
        self.host = host
        self.tmp_path = tmp_path
        self.shells: list[Any] = []

    def __call__(self, scene: str | Path, frames: int = 3, size: tuple[int, int] | None = None,
                 dev: bool = False) -> Any:
        from geometry_os.scene import load_scene

        headless_gl()
        from geometry_os.events import connect_window_events
        from geometry_os.shell import RunOptions, Shell
        from geometry_os.window import open_window

        path = Path(scene) if isinstance(scene, Path) else self._write(scene)
        loaded = load_scene(path, self.host)
        if size is not None:
            import attrs

            loaded = attrs.evolve(loaded, window=attrs.evolve(loaded.window, width=size[0], height=size[1]))
            object.__setattr__(loaded, "path", path)
        window = open_window(loaded, headless=True)
        shell = Shell(loaded, self.host, window, RunOptions(headless=True, dev=dev))
        connect_window_events(shell)
        self.shells.append(shell)
        shell.start()
        self.frames(shell, frames)
        return shell

    def frames(self, shell: Any, count: int) -> None:
        """Draw ``count`` more frames (handling pending pyglet events between them)."""
        import pyglet

        for _ in range(count):
            pyglet.app.platform_event_loop.dispatch_posted_events()
            pyglet.clock.tick()  # what pyglet.app.run does between frames: scheduled calls
            shell.tick(1.0 / shell.scene.window.fps)

    def _write(self, text: str) -> Path:
        path = self.tmp_path / f"scene-{len(self.shells)}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def close(self) -> None:
        for shell in self.shells:
            shell.shutdown()
            shell.window.close()
        self.shells.clear()


@pytest.fixture
def geos_host() -> PluginHost:
    headless_gl()  # before plugins import pyglet.window
    host = PluginHost()
    host.load_default()
    return host


@pytest.fixture
def render_scene(geos_host: PluginHost, tmp_path: Path) -> Iterator[SceneRunner]:
    runner = SceneRunner(geos_host, tmp_path)
    yield runner
    runner.close()
