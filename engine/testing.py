"""Test helpers for Geometry OS and its plugins (a pytest plugin, loaded automatically).

Plugin authors get, with no set-up:

* ``geos_host`` — a :class:`~geometry_os.plugin_host.PluginHost` with the built-ins and
  only the plugins the test names with the ``geos_plugins`` marker, so whatever else
  happens to be installed cannot change what a test sees::

      @pytest.mark.geos_plugins("tint")            # installed plugins, by entry-point name
      @pytest.mark.geos_plugins(tint="geos_tint")  # NAME="module[:object]", imported directly:
                                                   # a plugin under development, not installed

  The keyword form is an entry point's own line (``tint = "geos_tint"`` in
  ``[project.entry-points.geometry_os]``), so a plugin's tests can load it from its
  checkout.  Markers on the test, its class and its module (``pytestmark``) all count.
  A named plugin that is not installed, or that fails to load, fails the test.
* ``render_scene`` — ``render_scene(scene, frames=3, size=(w, h))`` loads a scene
  (YAML text, or a :class:`~pathlib.Path` to a scene file whose relative paths resolve
  against its own folder), runs it offscreen through EGL (no display needed) with the
  ``geos_host`` plugins and returns the shell after ``frames`` frames;
  ``render_scene.frames(shell, n)`` draws more, ``shell.screenshot()`` is an RGBA array.
  An OpenGL error raised while a frame is drawn fails the test, naming the error.
* :func:`~geometry_os.assertions.assert_image_close` and
  :func:`~geometry_os.assertions.wait_until`, re-exported from
  :mod:`geometry_os.assertions` (which does not need pytest).

The GL context is an EGL pbuffer (``pyglet.options["headless"]``): these helpers
switch pyglet to headless mode on first use, so use them in a process that opens no
real windows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from geometry_os.assertions import assert_image_close, wait_until
from geometry_os.plugin_host import ACTIVE, ENTRY_POINT_GROUP, PluginHost
from geometry_os.window import use_headless

__all__ = ["SceneRunner", "assert_image_close", "gl_errors", "plugin_host", "wait_until"]

MARKER = "geos_plugins"

# glGetError codes of an OpenGL 3.3 core context
GL_ERROR_NAMES = {
    0x0500: "GL_INVALID_ENUM",
    0x0501: "GL_INVALID_VALUE",
    0x0502: "GL_INVALID_OPERATION",
    0x0503: "GL_STACK_OVERFLOW",
    0x0504: "GL_STACK_UNDERFLOW",
    0x0505: "GL_OUT_OF_MEMORY",
    0x0506: "GL_INVALID_FRAMEBUFFER_OPERATION",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(*entry_points, **modules): plugins the geos_host and render_scene fixtures load "
                   "besides the built-ins: installed ones by entry-point name, others as NAME='module[:object]'")


def plugin_host(entry_points: Iterable[str] = (), modules: Mapping[str, str] | None = None) -> PluginHost:
    """The built-ins, the installed plugins named in ``entry_points`` and the ``modules``
    (plugin name -> ``"module[:object]"``), each checked to be loaded and active.

    Raises :class:`LookupError` for a name no installed plugin has and
    :class:`RuntimeError` naming the plugin and its error for one that failed.
    """
    use_headless()  # before plugins import pyglet.window
    host = PluginHost()
    host.load_builtins()
    wanted = list(entry_points)
    host.load_entry_points(only=wanted)
    missing = [name for name in wanted if name not in host.infos]
    if missing:
        installed = sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)} - set(host.infos))
        raise LookupError(f"no installed plugin named {', '.join(map(repr, missing))} (entry-point group "
                          f"{ENTRY_POINT_GROUP!r}; third-party plugins installed: {', '.join(installed) or 'none'})")
    for name, target in (modules or {}).items():
        if name in host.infos:
            raise RuntimeError(f"plugin name {name!r} for {target} is taken by {host.infos[name].origin}")
        entry = metadata.EntryPoint(name, target, ENTRY_POINT_GROUP)
        host.register(entry.load(), name, origin=f"module {target}")  # an import error fails the test as it is
    failed = [info for name in [*wanted, *(modules or {})] if (info := host.infos[name]).status != ACTIVE]
    if failed:
        raise RuntimeError("; ".join(f"plugin {info.name} ({info.origin}) {info.status}: {info.error}"
                                     for info in failed))
    return host


def gl_errors() -> list[str]:
    """The names of the OpenGL errors recorded in the current context since the last call
    (which clears them)."""
    from pyglet import gl

    names: list[str] = []
    while (code := gl.glGetError()) != gl.GL_NO_ERROR:
        names.append(GL_ERROR_NAMES.get(code, f"GL error 0x{code:04x}"))
        if len(names) >= len(GL_ERROR_NAMES):  # every flag is set at most once: a lost context repeats
            break
    return names


class SceneRunner:
    """Runs scenes offscreen, frame by frame, and cleans up what it opened.

    ``scene`` is YAML text (written to a file in ``tmp_path``, so relative paths in it
    resolve there) or a path to a scene file (relative paths resolve against its folder).
    """

    def __init__(self, host: PluginHost, tmp_path: Path) -> None:
        self.host = host
        self.tmp_path = tmp_path
        self.shells: list[Any] = []

    def __call__(self, scene: str | os.PathLike[str], frames: int = 3, size: tuple[int, int] | None = None,
                 dev: bool = False) -> Any:
        from geometry_os.scene import load_scene

        use_headless()
        from geometry_os.events import connect_window_events
        from geometry_os.shell import RunOptions, Shell
        from geometry_os.window import open_window

        path = Path(scene) if isinstance(scene, os.PathLike) else self._write(scene)
        loaded = load_scene(path, self.host)
        if size is not None:
            import attrs

            loaded = attrs.evolve(loaded, window=attrs.evolve(loaded.window, width=size[0], height=size[1]))
            object.__setattr__(loaded, "path", path)  # evolve leaves out the loader-set path
        window = open_window(loaded, headless=True)
        shell = Shell(loaded, self.host, window, RunOptions(headless=True, dev=dev))
        connect_window_events(shell)
        self.shells.append(shell)
        shell.start()
        self._check_gl(shell, f"starting {path.name}")
        self.frames(shell, frames)
        return shell

    def frames(self, shell: Any, count: int) -> None:
        """Draw ``count`` more frames (handling pending pyglet events between them);
        AssertionError naming the OpenGL error if a frame raised one."""
        import pyglet

        for index in range(count):
            pyglet.app.platform_event_loop.dispatch_posted_events()
            pyglet.clock.tick()  # what pyglet.app.run does between frames: scheduled calls
            shell.tick(1.0 / shell.scene.window.fps)
            self._check_gl(shell, f"frame {index + 1} of {count} ({shell.scene.path.name})")

    @staticmethod
    def _check_gl(shell: Any, when: str) -> None:
        shell.window.switch_to()
        errors = gl_errors()
        if errors:
            raise AssertionError(f"OpenGL error after {when}: {', '.join(errors)}")

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
def geos_host(request: pytest.FixtureRequest) -> PluginHost:
    entry_points: list[str] = []
    modules: dict[str, str] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):  # the closest marker wins a name
        entry_points.extend(marker.args)
        modules.update(marker.kwargs)
    try:
        return plugin_host(entry_points, modules)
    except (LookupError, RuntimeError) as exc:
        pytest.fail(f"{MARKER}: {exc}", pytrace=False)


@pytest.fixture
def render_scene(geos_host: PluginHost, tmp_path: Path) -> Iterator[SceneRunner]:
    runner = SceneRunner(geos_host, tmp_path)
    yield runner
    runner.close()
