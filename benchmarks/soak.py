"""Benchmark 10: soak — the shell over ten minutes of churn, and hundreds of VM restarts.

Part A, 8 ``bench-churn`` tiles (640x480, 30 frames a second, a quarter of the rows
each) and 2 real tiny Linux VMs at their prompt on one map, 1280x720, for 10
minutes (``--minutes``; ``--quick``: 3) while a script moves the camera the way a
person does: fly to a tile, back to the whole wall, drag the map, zoom in and out
about a point.  Once a second the shell's RSS, open file descriptors and threads
are sampled, and every frame drawn is timed.  After a warm-up minute the first
minute is compared with the last: RSS must grow less than 2%, file descriptors and
threads not at all, and the frame time's p99 grow less than 25% (on a shared machine
it also falls when the first minute met other load: only growth says the shell aged).

Part B, one tiny Linux VM on a map relaunched through its Lifecycle 200 times
(``--restarts``), with 500 display reconnects (``--reconnects``: its D-Bus display
connection cut under it, as a peer reset would) spread over those runs — a session
reconnects at most ``RECONNECT_ATTEMPTS`` times before its tile fails, so each run
takes two or three.  After the first cycles (pools and caches made) the shell's
file descriptors and threads must come back to where they were, and RSS stay
within 10%.  tests/reliability/test_soak_leaks.py runs a short Part B as a test.

Each part runs in a fresh process.  The churn source remembers every publish time
(for the latency benchmarks); the soak empties that list every second so that it
does not count as the shell's growth.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, TINY_ISO, main, percentile, rss_mb, table
from benchmarks.scale import READY
from benchmarks.shellbench import Shells, churn, run_loop, wall

log = logging.getLogger("benchmarks.soak")

RSS_GROWTH = 2.0  # % first minute -> last
P99_DRIFT = 25.0  # % first minute -> last
CYCLE_RSS_GROWTH = 10.0  # % after the warm-up cycles -> end
WARMUP = WINDOW = 60.0  # seconds: the warm-up, and the windows compared
SCRIPT_STEP = 1 / 30  # seconds between camera script steps
SCRIPT_PERIOD = 12.0  # seconds of one round of the camera script

POOL_WORKER = re.compile(r"asyncio_\d+")
OPTIONS = {"minutes": 10.0, "restarts": 200, "reconnects": 500, "vms": 2}


# ------------------------------------------------------------------ counters
def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def kernel_threads() -> int:
    """Threads of this process as the kernel counts them (Python's and native ones: GL, D-Bus)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def counters() -> dict[str, float]:
    """Open fds, threads, RSS MB.  Workers of asyncio's default executors (``asyncio_N``, used
    by ``asyncio.to_thread``) are left out of the threads: such a pool grows on demand up
    to a fixed size (min(32, CPUs + 4)) and keeps its idle workers, which is not a leak."""
    pool = sum(1 for t in threading.enumerate() if POOL_WORKER.fullmatch(t.name))
    return {"fds": open_fds(), "threads": kernel_threads() - pool, "rss": rss_mb()}


# ------------------------------------------------------------- fault injection
def listening(display: Any) -> bool:
    """Whether a QEMU tile's display client is connected and its listener connection open."""
    bus = getattr(display, "_listener_bus", None)
    return display is not None and display.console_id is not None and getattr(bus, "_sock", None) is not None


def drop_display(display: Any) -> None:
    """Cut a QEMU tile's listener connection under its display client, as a peer reset
    would (fault injection: the session must notice and connect anew)."""
    sock = display._listener_bus._sock
    display._loop.call_soon_threadsafe(sock.shutdown, socket.SHUT_RDWR)


def cycle_vm(source: Any, ctx: Any, wait: Callable[[Callable[[], Any], str], Any], restarts: int,
             reconnects: int, after_cycle: Callable[[int], None] | None = None) -> list[str]:
    """Relaunch ``source`` (a running QEMU tile) ``restarts`` times through its Lifecycle,
    cutting its display connection ``reconnects`` times in all, spread over the runs;
    ``wait(condition, what)`` waits for the VM (running, a new display that shows
    frames); ``after_cycle(n)`` runs once the n-th run is up and reconnected.

    A reconnect that fails leaves the tile FAILED; that run's remaining cuts are
    skipped (the next relaunch starts afresh).  Returns the failures' reasons."""
    from geometry_os.plugins.qemu.session import RECONNECT_ATTEMPTS
    from geometry_os.tiles import TileState

    if reconnects > restarts * RECONNECT_ATTEMPTS:
        raise ValueError(f"{reconnects} reconnects over {restarts} restarts: more than "
                         f"{RECONNECT_ATTEMPTS} per run fail the tile")
    failures = []
    for run in range(restarts):
        pid = source.pid
        source.capabilities.lifecycle.relaunch().result(60)
        wait(lambda p=pid: source.pid not in (None, p) and ctx.state is TileState.RUNNING
             and listening(source.display), f"run {run + 1} running")
        for _ in range(reconnects * (run + 1) // restarts - reconnects * run // restarts):
            first, published = source.display, ctx.mailbox.published
            drop_display(first)
            wait(lambda f=first, n=published: ctx.state is TileState.FAILED or (
                source.display is not f and listening(source.display) and ctx.mailbox.published > n
                and ctx.state is TileState.RUNNING), f"run {run + 1}: a new display")
            if ctx.state is TileState.FAILED:
                failures.append(f"run {run + 1}: {ctx.reason}")
                break
        if after_cycle is not None:
            after_cycle(run)
    return failures


# ------------------------------------------------------------------- part A
class CameraScript:
    """Moves the camera as a person would, one step every SCRIPT_STEP seconds: fly to a tile
    (focusing it), back to the whole wall, drag the map, zoom in and out about a point."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.started = time.monotonic()
        self.round = -1
        self.phase = -1

    def step(self, _dt: float = 0.0) -> None:
        shell, camera = self.shell, self.shell.camera
        elapsed = time.monotonic() - self.started
        round_, phase = divmod(elapsed, SCRIPT_PERIOD)
        part = int(phase / (SCRIPT_PERIOD / 6))
        if (round_, part) != (self.round, self.phase):
            self.round, self.phase = int(round_), part
            if part == 0:
                shell.fly_to_tile(self.round % len(shell.tiles))
            elif part in (1, 5):
                shell.focus(None)
                shell.fit_all()
        if part == 2:  # dragging
            camera.pan_pixels(6 * math.cos(elapsed), 4 * math.sin(elapsed))
        elif part in (3, 4) and int(phase * 4) != int((phase - SCRIPT_STEP) * 4):  # a wheel click, 4 a second
            camera.zoom_about(1.25 if part == 3 else 0.8, camera.width * 0.4, camera.height * 0.6)
        shell.redraw()


class Window:
    """Samples of one minute: RSS, fds, threads (once a second) and frame times."""

    def __init__(self) -> None:
        self.samples: list[dict[str, float]] = []
        self.frames: collections.deque[float] = collections.deque()

    def summary(self, seconds: float) -> dict[str, float]:
        return {"rss": sum(s["rss"] for s in self.samples) / max(1, len(self.samples)),
                "fds": max(s["fds"] for s in self.samples), "threads": max(s["threads"] for s in self.samples),
                "p50": percentile(list(self.frames), 50) * 1000, "p99": percentile(list(self.frames), 99) * 1000,
                "fps": len(self.frames) / seconds}


def churn_soak(minutes: float, vms: int) -> dict[str, Any]:
    """Part A in this (fresh) process; the first and the last minute after a warm-up minute."""
    import pyglet

    warmup, window = WARMUP, WINDOW
    total = max(minutes * 60, warmup + 2 * window)
    with Shells() as shells, tempfile.TemporaryDirectory(prefix="geos-soak-") as tmp:
        serials = [Path(tmp) / f"vm{i}.serial" for i in range(vms if TINY_ISO.exists() else 0)]
        sources = [churn(rate=30, damage=0.25) for _ in range(8)]
        sources += [{"type": "qemu", "iso": str(TINY_ISO), "memory": 96, "accel": "tcg", "serial": str(s)}
                    for s in serials]
        shell = shells.open(wall(sources))
        deadline = time.monotonic() + 60 + 15 * len(serials)
        while not all(s.exists() and READY.search(s.read_text(errors="replace")) for s in serials):
            if time.monotonic() > deadline:
                raise RuntimeError("the tiny VMs did not reach their prompt in time")
            time.sleep(0.2)
        first, last = Window(), Window()
        started = time.monotonic()
        tick = shell.pacer.tick

        def timed_tick(dt: float) -> None:
            t0, drawn = time.monotonic(), shell.stats.frames
            tick(dt)
            now = time.monotonic()
            if shell.stats.frames == drawn:
                return
            at = now - started
            if warmup <= at < warmup + window:
                first.frames.append(now - t0)
            elif at >= total - window:
                last.frames.append(now - t0)

        def sample(_dt: float) -> None:
            for tile in shell.tiles:
                if hasattr(tile.source, "times"):
                    tile.source.times.clear()
            at = time.monotonic() - started
            if warmup <= at < warmup + window:
                first.samples.append(counters())
            elif at >= total - window:
                last.samples.append(counters())

        script = CameraScript(shell)
        pyglet.clock.schedule_interval(script.step, SCRIPT_STEP)
        pyglet.clock.schedule_interval(sample, 1.0)
        shell.pacer.tick = timed_tick
        try:
            run_loop(shell, total)
        finally:
            shell.pacer.tick = tick
            pyglet.clock.unschedule(script.step)
            pyglet.clock.unschedule(sample)
        return {"minutes": total / 60, "vms": len(serials), "first": first.summary(window),
                "last": last.summary(window)}


def churn_rows(result: dict[str, Any]) -> list[list[Any]]:
    first, last = result["first"], result["last"]

    def change(key: str) -> float:
        return (last[key] - first[key]) / first[key] * 100 if first[key] else 0.0

    rows = [["shell RSS MB (mean)", first["rss"], last["rss"], change("rss"), f"< {RSS_GROWTH:.0f}%",
             "met" if change("rss") < RSS_GROWTH else "missed"]]
    for key, label in (("fds", "open file descriptors (max)"), ("threads", "threads (max)")):
        rows.append([label, first[key], last[key], change(key), "no growth",
                     "met" if last[key] <= first[key] else "missed"])
    rows.append(["frame time p50 ms", first["p50"], last["p50"], change("p50"), "-", "-"])
    rows.append(["frame time p99 ms", first["p99"], last["p99"], change("p99"), f"grows < {P99_DRIFT:.0f}%",
                 "met" if change("p99") < P99_DRIFT else "missed"])
    rows.append(["frames drawn/s", first["fps"], last["fps"], change("fps"), "-", "-"])
    return rows


# ------------------------------------------------------------------- part B
def cycles_soak(restarts: int, reconnects: int) -> dict[str, Any]:
    """Part B in this (fresh) process: a tiny VM on a map, relaunched and reconnected."""
    import pyglet

    from geometry_os.tiles import TileState

    warm = min(5, max(1, restarts // 10))  # cycles before the baseline: lazily made pools exist
    with Shells() as shells:
        shell = shells.open(wall([{"type": "qemu", "iso": str(TINY_ISO), "memory": 96, "accel": "tcg"}]))
        tile = shell.tiles[0]

        def wait(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> None:
            deadline = time.monotonic() + timeout
            while not condition():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"timed out waiting for {what} (the tile is {tile.ctx.state.value}"
                                       f"{': ' + tile.ctx.reason if tile.ctx.reason else ''})")
                pyglet.app.platform_event_loop.dispatch_posted_events()
                shell.tick(1 / 60)
                time.sleep(0.01)

        def settled(base: dict[str, float]) -> dict[str, float]:
            """The counters once the last run's teardown threads and fds are gone (at most 10 s)."""
            def back() -> bool:
                now = counters()
                return now["fds"] <= base["fds"] and now["threads"] <= base["threads"]
            try:
                wait(back, "fds and threads back at the baseline", 10.0)
            except RuntimeError:
                pass  # the table shows by how much they are not
            return counters()

        wait(lambda: tile.ctx.state is TileState.RUNNING, "the VM running")
        marks: dict[str, dict[str, float]] = {}
        started = time.monotonic()

        def after_cycle(run: int) -> None:
            if run + 1 == warm:
                marks["base"] = counters()
            if (run + 1) % 50 == 0:
                log.info("%d runs, %s", run + 1, counters())

        failures = cycle_vm(tile.source, tile.ctx, wait, restarts, reconnects, after_cycle)
        elapsed = time.monotonic() - started
        end = settled(marks["base"])
        return {"restarts": restarts, "reconnects": reconnects, "warm": warm, "base": marks["base"], "end": end,
                "seconds": elapsed, "failures": failures}


def cycle_rows(result: dict[str, Any]) -> list[list[Any]]:
    base, end = result["base"], result["end"]
    growth = (end["rss"] - base["rss"]) / base["rss"] * 100
    return [["open file descriptors", base["fds"], end["fds"], "back at baseline",
             "met" if end["fds"] <= base["fds"] else "missed"],
            ["threads", base["threads"], end["threads"], "back at baseline",
             "met" if end["threads"] <= base["threads"] else "missed"],
            ["shell RSS MB", base["rss"], end["rss"], f"< {CYCLE_RSS_GROWTH:.0f}% growth ({growth:.1f}%)",
             "met" if growth < CYCLE_RSS_GROWTH else "missed"],
            ["display reconnects that failed", "-", len(result["failures"]), "none",
             "met" if not result["failures"] else "missed"]]


# ---------------------------------------------------------------- the page
def part(args: list[str]) -> dict[str, Any]:
    """Run one part in a fresh process (a clean RSS, its own threads and fds)."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.soak", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=3 * 3600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"soak {' '.join(args)}: {(out.stderr.strip().splitlines() or ['failed'])[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict[str, Any]:
    minutes = 3.0 if quick else OPTIONS["minutes"]
    restarts, reconnects = (20, 50) if quick else (OPTIONS["restarts"], OPTIONS["reconnects"])
    result: dict[str, Any] = {"title": "10. Soak", "targets": [
        f"{minutes:.0f} minutes of 8 churning tiles and {OPTIONS['vms']} idle tiny VMs, zooming and panning: "
        f"shell RSS grows < {RSS_GROWTH:.0f}%, no fd or thread growth, frame time p99 grows < {P99_DRIFT:.0f}% "
        "(first minute after a warm-up minute vs the last)",
        f"{restarts} VM relaunches and {reconnects} display reconnects: fds and threads back at their "
        f"baseline, RSS within {CYCLE_RSS_GROWTH:.0f}%"]}
    churned = part(["--part", "churn", "--minutes", str(minutes), "--vms", str(OPTIONS["vms"])])
    tables = {f"A. {churned['minutes']:.0f} minutes, 8 bench-churn tiles (640x480, 30 fps) + {churned['vms']} tiny "
              "Linux VMs, camera script": table(
                  ["", "first minute", "last minute", "change %", "target", ""], churn_rows(churned))}
    notes = []
    if TINY_ISO.exists():
        cycled = part(["--part", "cycles", "--restarts", str(restarts), "--reconnects", str(reconnects)])
        tables[f"B. {restarts} relaunches, {reconnects} display reconnects (one tiny Linux VM, "
               f"{cycled['seconds'] / 60:.0f} minutes)"] = table(
            ["", f"after {cycled['warm']} runs", "at the end", "target", ""], cycle_rows(cycled))
        notes += [f"A reconnect failed, {reason}" for reason in sorted(set(cycled["failures"]))[:3]]
    else:
        notes.append(f"Part B skipped and part A ran without VMs: {TINY_ISO} missing (run tools/dev setup)")
    result["tables"] = tables
    result["notes"] = notes
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--part", choices=["churn", "cycles"])
    parser.add_argument("--minutes", type=float, default=OPTIONS["minutes"])
    parser.add_argument("--restarts", type=int, default=OPTIONS["restarts"])
    parser.add_argument("--reconnects", type=int, default=OPTIONS["reconnects"])
    parser.add_argument("--vms", type=int, default=OPTIONS["vms"])
    args, rest = parser.parse_known_args()
    OPTIONS.update(minutes=args.minutes, restarts=args.restarts, reconnects=args.reconnects, vms=args.vms)
    if args.part is None:
        sys.argv = [sys.argv[0], *rest]
        main(run)
        return
    logging.basicConfig(level=logging.WARNING)
    if args.part == "churn":
        print(json.dumps(churn_soak(args.minutes, args.vms)))
    else:
        print(json.dumps(cycles_soak(args.restarts, args.reconnects)))


if __name__ == "__main__":
    cli()
