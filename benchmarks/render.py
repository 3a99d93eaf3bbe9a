"""Benchmark 4: render FPS and frame time, tiles x effects x window size.

Tiles are ``bench-churn`` guests (640x480, 30 fps, a quarter of the rows changing
each frame); the camera fits them all.  Frames are drawn back to back (no pacing),
each finished with ``glFinish`` (a headless pbuffer has no swap), with streaming
off so every tick draws.  FPS = 1 / mean frame time.  Also run on a GPU machine
(``python -m benchmarks.render --sizes 1920x1080,3840x2160``).  ``--tiles`` picks the
tile counts (1, 4, 16 unless told; ``--tiles 64,256`` for the large walls).  Every row
turns semantic zoom's cards off (``plugins.options.desktop``), so each tile is drawn as
its live image however small: what is measured is the tile drawing, not the cards.

A second table has multi-pass effects: the crt's four-pass ``quality: high`` and the
five-pass ``crt-demo`` RetroArch preset (tests/slang/presets).  ``--effects`` picks rows
(``--effects "crt high,slang crt-demo"`` runs only those).

``--wall`` (64 unless told) gives the zoomed-out wall's rows: ``pattern`` tiles (the
animated test card, 30 fps) with crt, streaming on as in a user's session, the camera
fitting them all, once still (streaming redraws around what changed) and once panning a
pixel every frame (every frame a full redraw); only ticks that drew are timed.

``--against DIR`` measures every row also with the geometry-os installed in DIR (``pip
install --no-deps --target DIR <checkout>``, e.g. the commit before a change), each row
alternately in fresh processes, and adds the reference's FPS and the ratio.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import ROOT, gl_info, machine, markdown_table, percentile, table
from benchmarks.shellbench import EFFECTS, Shells, churn, wall

log = logging.getLogger("benchmarks.render")
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


WALL_TARGETS = ["llvmpipe: >= 60 FPS for the 64-tile wall zoomed out with crt, streaming on",
                "GPU: >= 240 FPS for 64 tiles + crt at 1920x1080, >= 120 FPS for 256 tiles"]
NO_CARDS = {"options": {"desktop": {"cards_below": 0, "images_above": 0}}}


class NotBuilt(Exception):
    """An effect of the row could not be built here (e.g. no glslang for a slang preset)."""


def scene(kind: str, tiles: int, effects: list[dict[str, Any]], size: tuple[int, int], rate: float = 30.0) -> str:
    """A row's scene: a wall of churning guests drawn back to back ("churn"), or of pattern
    tiles with streaming on ("wall still", "wall panning")."""
    if kind.startswith("wall"):
        text = wall([{"type": "pattern"} for _ in range(tiles)], window=size, effects=effects, streaming=True)
    else:
        text = wall([churn(damage=0.25, rate=rate) for _ in range(tiles)], window=size, effects=effects,
                    streaming=False)
    data = yaml.safe_load(text)
    data["plugins"] = NO_CARDS
    return yaml.safe_dump(data, sort_keys=False)


def measure(shells: Shells, kind: str, tiles: int, effects: list[dict[str, Any]], size: tuple[int, int],
            seconds: float, rate: float = 30.0) -> dict[str, float]:
    from pyglet import gl

    shell = shells.open(scene(kind, tiles, effects, size, rate), window=size)
    if shell.errors():
        shells.close_all()
        raise NotBuilt(shell.errors()[0])
    first_frames(shell)
    times = []
    end = time.monotonic() + seconds
    step = 1.0
    while time.monotonic() < end or len(times) < 5:
        t = time.perf_counter()
        if kind == "wall panning":
            step = -step
            shell.camera.pan_pixels(step, 0.0)  # a full redraw, as while the user pans
        drawn = shell.stats.frames
        # The tick takes the tiles' frames itself (once a frame).  Not dispatching the wake
        # events as well: each would take them again, and with hundreds of sources publishing
        # faster than a slow machine uploads, dispatching would never return.
        shell.tick(1 / 60)
        gl.glFinish()
        if shell.stats.frames > drawn:  # with streaming, a tick with nothing new draws nothing
            times.append((time.perf_counter() - t) * 1000)
    shells.close_all()
    times = times[2:]  # the first frames compile and allocate
    mean = sum(times) / len(times)
    return {"fps": 1000 / mean, "p50": percentile(times, 50), "p99": percentile(times, 99)}


def first_frames(shell: Any, timeout: float = 60.0) -> None:
    """Tick until every tile shows a frame.  Ticks alone (they take the frames): dispatching
    the sources' wake events too would, with hundreds of tiles publishing 30 times a second,
    take frames after every event and never get back to the loop."""
    deadline = time.monotonic() + timeout
    while any(t.texture is None for t in shell.tiles if t.source is not None):
        if time.monotonic() > deadline:
            raise RuntimeError("tiles did not show a first frame in time")
        shell.tick(1 / 60)
        time.sleep(0.005)


def measure_apart(row: dict[str, Any], against: Path | None) -> dict[str, Any]:
    """One row measured in a fresh process, with this checkout's geometry-os or the one in ``against``."""
    env = dict(os.environ)
    if against is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(against), str(ROOT), env.get("PYTHONPATH", "")])
    try:
        done = subprocess.run([sys.executable, "-m", "benchmarks.render", "--row", json.dumps(row)], cwd=ROOT,
                              env=env, capture_output=True, text=True, check=False, timeout=240)
    except subprocess.TimeoutExpired:
        log.warning("row %s (%s): no result in 240 s", row, against or "this checkout")
        return {"failed": "no result in 240 s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        log.warning("row %s (%s) failed: %s", row, against or "this checkout", done.stderr.strip()[-300:])
        return {"failed": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(lines[-1])
    log.info("row %s (%s): %.1f FPS", row, against or "this checkout", result.get("fps", 0.0))
    return result


def measure_row(shells: Shells | None, row: dict[str, Any], seconds: float) -> dict[str, Any]:
    """``{"fps", "p50", "p99"}``, or ``{"not_built": error}``."""
    effects = {**EFFECTS, **PASS_EFFECTS}[row["effects"]]
    size = (row["size"][0], row["size"][1])
    try:
        rate = row.get("rate", 30.0)
        if shells is not None:
            return measure(shells, row["kind"], row["tiles"], effects, size, seconds, rate)
        with Shells() as own:
            return measure(own, row["kind"], row["tiles"], effects, size, seconds, rate)
    except NotBuilt as exc:
        return {"not_built": str(exc)}


def run(quick: bool = False, sizes: list[tuple[int, int]] | None = None,
        effects: list[str] | None = None, tiles: list[int] | None = None, walls: list[int] | None = None,
        against: Path | None = None, rate: float = 30.0) -> dict[str, Any]:
    seconds = 1.0 if quick else 1.5
    sizes = sizes or [(1280, 720), (1920, 1080)]
    effects = effects or [*EFFECTS, *PASS_EFFECTS]
    rows = [{"kind": "churn", "tiles": count, "effects": name, "size": list(size), "seconds": seconds, "rate": rate}
            for size in sizes for count in tiles or (1, 4, 16) for name in effects]
    rows += [{"kind": kind, "tiles": count, "effects": "crt", "size": list(size), "seconds": max(seconds, 3.0)}
             for size in sizes for count in walls or () for kind in ("wall still", "wall panning")]
    columns = ["window", "tiles", "effects", "FPS", "frame ms p50", "frame ms p99"]
    if against is not None:
        columns += ["FPS before", "ratio"]
    tables: dict[str, list[list[Any]]] = {"": [], "Multi-pass effects": [], "Zoomed-out wall": []}
    not_built: dict[str, str] = {}
    with Shells() as shells:
        renderer = gl_info().get("GL renderer", "?")
        for row in rows:
            if row["effects"] in not_built:
                continue
            before = measure_apart(row, against) if against is not None else None
            r = measure_apart(row, None) if against is not None else measure_row(shells, row, row["seconds"])
            if "not_built" in r:
                not_built[row["effects"]] = r["not_built"]
                continue
            if "fps" not in r:  # failed or timed out in its own process (logged)
                continue
            name = row["effects"]
            wall_row = row["kind"].startswith("wall")
            table_name = "Zoomed-out wall" if wall_row else "" if name in EFFECTS else "Multi-pass effects"
            line = [f"{row['size'][0]}x{row['size'][1]}", row["tiles"], row["kind"][5:] if wall_row else name,
                    r["fps"], r["p50"], r["p99"]]
            if before is not None:
                line += [before.get("fps"), r["fps"] / before["fps"] if before.get("fps") else None]
            tables[table_name].append(line)
    notes = PASS_NOTES if tables["Multi-pass effects"] else []
    if tables["Zoomed-out wall"]:
        notes = [*notes, "Zoomed-out wall: pattern tiles (640x480, 30 fps) with crt, streaming on, the camera "
                         "fitting them all; FPS = 1 / mean time of the ticks that drew.  still: streaming redraws "
                         "only around what changed, uploads at its reduced rates for small tiles; panning: the "
                         "camera moves a pixel each frame, so every frame is a full redraw."]
    if rate != 30.0:
        notes = [*notes, f"The guests redraw {rate:g} times a second (--rate), not 30."]
    if against is not None:
        notes = [*notes, "FPS before: the same rows with the reference geometry-os (--against), each row measured "
                         "alternately in fresh processes; ratio = FPS / FPS before."]
    return {
        "title": f"4. Render FPS ({renderer})",
        "tables": {name: table(columns, found) for name, found in tables.items() if found},
        "targets": TARGETS + (WALL_TARGETS if walls or any(t >= 64 for t in tiles or ()) else []),
        "renderer": renderer,
        "notes": notes + [f"{name}: not run, it did not build here: {error}" for name, error in not_built.items()],
    }


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sizes", default="1280x720,1920x1080", help="window sizes, comma-separated WxH")
    parser.add_argument("--effects", help="rows, comma-separated: " + ", ".join([*EFFECTS, *PASS_EFFECTS]))
    parser.add_argument("--tiles", default="1,4,16", help="tile counts, comma-separated")
    parser.add_argument("--wall", default="64", help="zoomed-out wall rows: tile counts, comma-separated (e.g. 64)")
    parser.add_argument("--against", type=Path, help="a folder with the reference geometry-os installed (pip --target)")
    parser.add_argument("--rate", type=float, default=30.0, help="frames a second each churning guest publishes")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # one row, in a fresh process (--against)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.against else logging.WARNING)
    if args.row:
        row = json.loads(args.row)
        print(json.dumps(measure_row(None, row, row["seconds"])))
        return
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    effects = [name.strip() for name in args.effects.split(",")] if args.effects else None
    unknown = [name for name in effects or () if name not in EFFECTS and name not in PASS_EFFECTS]
    if unknown:
        parser.error(f"unknown effects {', '.join(unknown)}")
    if args.against is not None and not (args.against / "geometry_os").is_dir():
        parser.error(f"--against {args.against}: no geometry_os package in that folder (pip install --target it)")
    tiles = [int(v) for v in args.tiles.split(",") if v]
    walls = [int(v) for v in args.wall.split(",") if v]
    result = run(args.quick, sizes, effects, tiles, walls, args.against, args.rate)
    info = machine()
    result["machine"] = f"{info['CPU']} ({info['cores']} cores, {info['RAM']})"
    result["date"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    for name, rows in result["tables"].items():
        print(f"## {result['title']} {name}\n\n{markdown_table(rows)}")


if __name__ == "__main__":
    cli()
