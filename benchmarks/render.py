"""Benchmark 4: render FPS and frame time, tiles x effects x window size.

Tiles are ``bench-churn`` guests (640x480, 30 fps, a quarter of the rows changing
each frame); the camera fits them all.  Frames are drawn back to back (no pacing),
each finished with ``glFinish`` (a headless pbuffer has no swap), with streaming
off so every tick draws.  FPS = 1 / mean frame time.  Also run on a GPU machine
(``python -m benchmarks.render --sizes 1920x1080,3840x2160``).

A second table has multi-pass effects: the crt's four-pass ``quality: high`` and the
five-pass ``crt-demo`` RetroArch preset (tests/slang/presets).  ``--effects`` picks rows
(``--effects "crt high,slang crt-demo"`` runs only those).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, gl_info, machine, markdown_table, percentile, table
from benchmarks.shellbench import EFFECTS, Shells, churn, wait_for_textures, wall

CRT_DEMO = ROOT / "tests" / "slang" / "presets" / "crt-demo" / "crt-demo.slangp"
#: Multi-pass rows: every pass of every tile draws into its own target at the tile's size on screen.
PASS_EFFECTS = {
    "crt high": [{"type": "crt", "quality": "high"}],
    "slang crt-demo": [{"type": "slang", "preset": str(CRT_DEMO)}],
}
PASS_NOTES = ["crt high: 4 passes per tile (persistence at the tile's size, bloom at half of it, the tube); "
              "slang crt-demo: 5 passes (afterglow and linearize at the guest's size or the tile's on screen if "
              "smaller, a blur at half that width and one down, the tube at the tile's size). Both keep feedback, "
              "so every frame is drawn."]

TARGETS = ["llvmpipe: >= 60 FPS for 4 tiles + crt at 1280x720",
           "GPU: >= 240 FPS for 16 tiles + crt at 1920x1080, >= 120 FPS at 3840x2160"]


class NotBuilt(Exception):
    """An effect of the row could not be built here (e.g. no glslang for a slang preset)."""


def measure(shells: Shells, tiles: int, effects: list[dict[str, Any]], size: tuple[int, int],
            seconds: float) -> dict[str, float]:
    import pyglet
    from pyglet import gl

    shell = shells.open(wall([churn(damage=0.25) for _ in range(tiles)], window=size, effects=effects,
                             streaming=False), window=size)
    if shell.errors():
        shells.close_all()
        raise NotBuilt(shell.errors()[0])
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


def run(quick: bool = False, sizes: list[tuple[int, int]] | None = None,
        effects: list[str] | None = None) -> dict[str, Any]:
    seconds = 1.0 if quick else 1.5
    sizes = sizes or [(1280, 720), (1920, 1080)]
    effects = effects or [*EFFECTS, *PASS_EFFECTS]
    columns = ["window", "tiles", "effects", "FPS", "frame ms p50", "frame ms p99"]
    rows: dict[str, list[list[Any]]] = {"": [], "Multi-pass effects": []}
    not_built: dict[str, str] = {}
    with Shells() as shells:
        renderer = gl_info().get("GL renderer", "?")
        for size in sizes:
            for tiles in (1, 4, 16):
                for name in effects:
                    if name in not_built:
                        continue
                    try:
                        r = measure(shells, tiles, {**EFFECTS, **PASS_EFFECTS}[name], size, seconds)
                    except NotBuilt as exc:
                        not_built[name] = str(exc)
                        continue
                    rows["" if name in EFFECTS else "Multi-pass effects"].append(
                        [f"{size[0]}x{size[1]}", tiles, name, r["fps"], r["p50"], r["p99"]])
    return {
        "title": f"4. Render FPS ({renderer})",
        "tables": {name: table(columns, found) for name, found in rows.items() if found},
        "targets": TARGETS,
        "renderer": renderer,
        "notes": (PASS_NOTES if rows["Multi-pass effects"] else [])
        + [f"{name}: not run, it did not build here: {error}" for name, error in not_built.items()],
    }


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sizes", default="1280x720,1920x1080", help="window sizes, comma-separated WxH")
    parser.add_argument("--effects", help="rows, comma-separated: " + ", ".join([*EFFECTS, *PASS_EFFECTS]))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    effects = [name.strip() for name in args.effects.split(",")] if args.effects else None
    unknown = [name for name in effects or () if name not in EFFECTS and name not in PASS_EFFECTS]
    if unknown:
        parser.error(f"unknown effects {', '.join(unknown)}")
    result = run(args.quick, sizes, effects)
    info = machine()
    result["machine"] = f"{info['CPU']} ({info['cores']} cores, {info['RAM']})"
    result["date"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    for name, rows in result["tables"].items():
        print(f"## {result['title']} {name}\n\n{markdown_table(rows)}")


if __name__ == "__main__":
    cli()
