"""Running real shells for benchmarks: a plugin host, wall-of-tiles scenes, timed loops."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import ROOT

CHURN_PLUGIN = ROOT / "benchmarks" / "churn_plugin.py"
TILE_W, TILE_H, GAP_X, GAP_Y = 640, 480, 60, 80


def make_host() -> Any:
    """A plugin host as ``geos run`` has it, plus the benchmark's ``bench-churn`` source."""
    from geometry_os.window import use_headless

    use_headless()
    from geometry_os.plugin_host import PluginHost

    host = PluginHost()
    host.load_default()
    host.load_file(CHURN_PLUGIN)
    return host


def wall(sources: list[dict[str, Any]], *, window: tuple[int, int] = (1280, 720), effects: list | None = None,
         streaming: bool = True, fps: int = 60) -> str:
    """A scene with one tile per source, in a square-ish grid, the camera fitting them all."""
    cols = math.ceil(math.sqrt(len(sources)))
    tiles = [{"id": f"t{i}", "position": [(i % cols) * (TILE_W + GAP_X), (i // cols) * (TILE_H + GAP_Y)],
              "size": [TILE_W, TILE_H], "source": source} for i, source in enumerate(sources)]
    scene = {"window": {"width": window[0], "height": window[1], "fps": fps, "streaming": streaming},
             "camera": {"fit": True}, "tiles": tiles, "effects": effects or []}
    return yaml.safe_dump(scene, sort_keys=False)


def churn(width: int = 640, height: int = 480, rate: float = 30.0, damage: float = 1.0) -> dict[str, Any]:
    return {"type": "bench-churn", "width": width, "height": height, "rate": rate, "damage": damage}


EFFECTS = {"off": [], "crt": [{"type": "crt"}], "crt+bio": [{"type": "crt"}, {"type": "bio"}]}


class Shells:
    """Opens shells offscreen (EGL) and closes them all at the end (a context manager)."""

    def __init__(self, host: Any | None = None) -> None:
        from geometry_os.testing import SceneRunner

        self._tmp = tempfile.TemporaryDirectory(prefix="geos-bench-")
        self.runner = SceneRunner(host or make_host(), Path(self._tmp.name))

    def open(self, scene: str, window: tuple[int, int] | None = None) -> Any:
        return self.runner(scene, frames=0, size=window)

    def close_all(self) -> None:
        self.runner.close()

    def __enter__(self) -> Shells:
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.close()
        self._tmp.cleanup()


def run_loop(shell: Any, seconds: float, after_tick: Callable[[bool], None] | None = None) -> None:
    """The shell's own main loop (pyglet.app.run, deadline-paced ticks, wake-driven uploads)
    for ``seconds``; ``after_tick(drawn)`` runs after every tick."""
    import pyglet

    tick = shell.pacer.tick  # what the loop calls (the shell's own tick, bound when the pacer was made)
    if after_tick is not None:

        def timed_tick(dt: float = 0.0) -> None:
            before = shell.stats.frames
            tick(dt)
            after_tick(shell.stats.frames > before)

        shell.pacer.tick = timed_tick
    shell.running = True
    pyglet.clock.schedule_once(lambda _dt: shell.quit(), seconds)
    try:
        shell.run_until_closed()
    finally:
        shell.pacer.tick = tick
        # pyglet.app.run turns window event queues off for good, and a headless window
        # created after that dispatches its first resize before it is ready (pyglet 2.1.19).
        pyglet.window.Window._enable_event_queue = True


def wait_for_textures(shell: Any, timeout: float = 30.0) -> None:
    """Tick until every tile that has a source shows a frame."""
    import pyglet

    deadline = time.monotonic() + timeout
    while any(t.texture is None for t in shell.tiles if t.source is not None):
        if time.monotonic() > deadline:
            raise RuntimeError("tiles did not show a first frame in time")
        pyglet.app.platform_event_loop.dispatch_posted_events()
        shell.tick(1 / 60)
        time.sleep(0.005)
