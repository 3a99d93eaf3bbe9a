"""Benchmark 2: frame arrival -> texture updated -> frame presented, with 1, 4 and 16 live tiles.

Each tile is a ``bench-churn`` guest redrawing its whole 640x480 screen 30 times a
second.  The shell runs its real main loop (headless EGL, 60 Hz pacing, uploads
woken by the mailbox); instrumentation records when each frame was published,
when its texture upload returned, and when the frame that shows it was finished
(``glFinish`` after the tick: a headless pbuffer has no swap).

Two ways: streaming off (every frame uploaded, frames drawn on a fixed 60 Hz
deadline: the design before zoom-aware streaming) and the default, streaming on,
measured on the focused tile (other tiles are rate-limited on purpose, see
benchmark 6; the shell draws as soon as a frame of a full-rate tile arrives).
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import main, percentile, table
from benchmarks.shellbench import Shells, churn, run_loop, wait_for_textures, wall

TEXTURE_P50_TARGET_MS = 1.0
PRESENT_P99_TARGET_MS = 1000 / 60


def measure(shells: Shells, tiles: int, streaming: bool, seconds: float) -> dict[str, Any]:
    from pyglet import gl

    from geometry_os.render.texture import StreamTexture

    shell = shells.open(wall([churn() for _ in range(tiles)], streaming=streaming))
    wait_for_textures(shell)
    if streaming:
        shell.focus(shell.tiles[0])
    measured = {shell.tiles[0].name} if streaming else {t.name for t in shell.tiles}
    pending: list[float] = []  # publish times uploaded since the last present
    to_texture: list[float] = []
    to_present: list[float] = []
    base = StreamTexture

    class TimedTexture(base):
        def upload(self, frame):
            result = base.upload(self, frame)
            now = time.monotonic()
            if self._tile_name not in measured:
                return result
            source = self._tile_source
            published = source.times[frame.serial - 1]
            to_texture.append((now - published) * 1000)
            pending.append(published)
            return result

    for tile in shell.tiles:
        tile.texture.__class__ = TimedTexture
        tile.texture._tile_source = tile.source
        tile.texture._tile_name = tile.name

    def after_tick(drawn: bool) -> None:
        if drawn:
            gl.glFinish()
            now = time.monotonic()
            to_present.extend((now - p) * 1000 for p in pending)
            pending.clear()

    drawn = shell.stats.frames
    started = time.monotonic()
    run_loop(shell, seconds, after_tick)
    fps = (shell.stats.frames - drawn) / (time.monotonic() - started)
    shells.close_all()
    return {"tiles": tiles, "uploads": len(to_texture), "tex_p50": percentile(to_texture, 50),
            "tex_p99": percentile(to_texture, 99), "present_p50": percentile(to_present, 50),
            "present_p99": percentile(to_present, 99), "fps": fps}


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 3.0 if quick else 4.0
    rows = []
    with Shells() as shells:
        for streaming in (False, True):
            for tiles in (1, 4, 16):
                r = measure(shells, tiles, streaming, seconds)
                rows.append(["on (focused tile)" if streaming else "off (all tiles)", tiles, r["uploads"],
                             r["tex_p50"], r["tex_p99"], r["present_p50"], r["present_p99"], r["fps"]])
    return {
        "title": "2. Frame to screen (arrival -> texture -> presented), 640x480 guests at 30 fps, 1280x720",
        "tables": {"": table(["streaming", "tiles", "frames measured", "to texture p50 ms", "p99 ms",
                              "to present p50 ms", "p99 ms", "frames drawn/s"], rows)},
        "targets": [f"to texture p50 <= {TEXTURE_P50_TARGET_MS} ms",
                    f"to present p99 <= {PRESENT_P99_TARGET_MS:.1f} ms (one frame at 60 Hz)"],
    }


if __name__ == "__main__":
    main(run)
