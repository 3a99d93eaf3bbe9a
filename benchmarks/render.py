"""Benchmark 4: render FPS and frame time, tiles x effects x window size.

Tiles are ``bench-churn`` guests (640x480, 30 fps, a quarter of the rows changing
each frame); the camera fits them all.  Frames are drawn back to back (no pacing),
each finished with ``glFinish`` (a headless pbuffer has no swap), with streaming
off so every tick draws.  FPS = 1 / mean frame time.  Also run on a GPU machine
(``python -m benchmarks.render --sizes 1920x1080,3840x2160``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import time
from pathlib import Path
from typing import Any

from benchmarks.common import gl_info, machine, markdown_table, percentile, table
from benchmarks.shellbench import EFFECTS, Shells, churn, wait_for_textures, wall

TARGETS = ["llvmpipe: >= 60 FPS for 4 tiles + crt at 1280x720",
           "GPU: >= 240 FPS for 16 tiles + crt at 1920x1080, >= 120 FPS at 3840x2160"]


def measure(shells: Shells, tiles: int, effects: str, size: tuple[int, int], seconds: float) -> dict[str, float]:
    import pyglet
    from pyglet import gl

    shell = shells.open(wall([churn(damage=0.25) for _ in range(tiles)], window=size, effects=EFFECTS[effects],
                             streaming=False), window=size)
    wait_for_textures(shell)
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end or len(times) < 5:
        t = time.perf_counter()
        pyglet.app.platform_event_loop.dispatch_posted_events()
        shell.tick(1 / 60)
        gl.glFinish()
        times.append((time.perf_counter() - t) * 1000)
    shells.close_all()
    times = times[2:]  # the first frames compile and allocate
    mean = sum(times) / len(times)
    return {"fps": 1000 / mean, "p50": percentile(times, 50), "p99": percentile(times, 99)}


def run(quick: bool = False, sizes: list[tuple[int, int]] | None = None) -> dict[str, Any]:
    seconds = 1.0 if quick else 1.5
    sizes = sizes or [(1280, 720), (1920, 1080)]
    rows = []
    with Shells() as shells:
        renderer = gl_info().get("GL renderer", "?")
        for size in sizes:
            for tiles in (1, 4, 16):
                for effects in EFFECTS:
                    r = measure(shells, tiles, effects, size, seconds)
                    rows.append([f"{size[0]}x{size[1]}", tiles, effects, r["fps"], r["p50"], r["p99"]])
    return {
        "title": f"4. Render FPS ({renderer})",
        "tables": {"": table(["window", "tiles", "effects", "FPS", "frame ms p50", "frame ms p99"], rows)},
        "targets": TARGETS,
        "renderer": renderer,
    }


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sizes", default="1280x720,1920x1080", help="window sizes, comma-separated WxH")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    result = run(args.quick, sizes)
    info = machine()
    result["machine"] = f"{info['CPU']} ({info['cores']} cores, {info['RAM']})"
    result["date"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(f"## {result['title']}\n\n{markdown_table(result['tables'][''])}")


if __name__ == "__main__":
    cli()
