"""Benchmark 6: scale, and zoom-aware streaming on against off.

Part A, 1/4/8/16 tiny Linux VMs (96 MB each, TCG) on one map at 1280x720, camera
fitting them all: once every guest is at its shell prompt (GEOS-TINY-READY on its
serial port), the shell's own CPU (this process: main loop, D-Bus display threads,
QEMU backend) and RSS, with streaming on and then off on the same running shell.
Each count runs in a fresh process; an empty map gives the baseline.  (16 tiny Linux guests fit in 2 GB; QEMU's own CPU
is not the shell's and is reported apart.)

Part B, the 16-tile wall zoomed out: 16 ``bench-churn`` guests redrawing their
whole 640x480 screen 30 times a second (a workload 16 TCG guests cannot produce on
2 cores), shell CPU with streaming on, on with one tile focused, and off.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, TINY_ISO, CpuMeter, main, process_cpu, rss_mb, table
from benchmarks.shellbench import Shells, churn, run_loop, wait_for_textures, wall

READY = re.compile(r"GEOS-TINY-READY")
TARGET_DROP = 5.0


def shell_cpu(shell: Any, seconds: float) -> float:
    """% of a core this process used while the shell ran its main loop for ``seconds``."""
    cpu0, t0 = process_cpu(), time.monotonic()
    run_loop(shell, seconds)
    return (process_cpu() - cpu0) / (time.monotonic() - t0) * 100


def vms(count: int, seconds: float) -> list[Any]:
    """One row of part A, measured in this (fresh) process: ``count`` VMs (0: an empty map)."""
    with Shells() as shells, tempfile.TemporaryDirectory(prefix="geos-bench-") as tmp:
        serials = [Path(tmp) / f"vm{i}.serial" for i in range(count)]
        sources = [{"type": "qemu", "iso": str(TINY_ISO), "memory": 96, "accel": "tcg", "serial": str(s)}
                   for s in serials]
        shell = shells.open(wall(sources))
        started = time.monotonic()
        deadline = started + 60 + 15 * count
        # The shell's loop does not run while the guests boot (their display threads
        # do): 16 TCG guests on 2 cores boot a minute faster without 60 redraws a second.
        while not all(s.exists() and READY.search(s.read_text(errors="replace")) for s in serials):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} VMs: not all guests reached their prompt in time")
            time.sleep(0.2)
        boot = time.monotonic() - started
        run_loop(shell, 1.0)  # settle: every tile shows its console, cursors blink
        pids = [t.source.pid for t in shell.tiles]
        meter = CpuMeter(pids)
        on = shell_cpu(shell, seconds)
        qemu_cpu, wall_s = meter.stop()
        rss = rss_mb()
        if not count:
            return [0, "-", on, "-", "-", round(rss), "-", "-"]
        shell.streaming.enabled = False
        off = shell_cpu(shell, seconds)
        return [count, round(boot, 1), on, on / count, off, round(rss), rss, sum(qemu_cpu) / wall_s * 100]


def vm_scale(counts: list[int], seconds: float) -> list[list[Any]]:
    """Part A: each count in a fresh process (a clean RSS), the empty map first."""
    rows = []
    for count in [0, *counts]:
        out = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--vms", str(count), "--seconds",
                              str(seconds)], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{count} VMs: {(out.stderr.strip().splitlines() or ['failed'])[-1]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base_rss = rows[0][5]
    for row in rows[1:]:
        row[6] = (row[6] - base_rss) / row[0]
    return rows


def streaming_wall(seconds: float) -> list[list[Any]]:
    rows = []
    with Shells() as shells:
        for label, streaming, focus in (("on", True, False), ("on, one tile focused", True, True),
                                        ("off", False, False)):
            shell = shells.open(wall([churn() for _ in range(16)], streaming=streaming))
            wait_for_textures(shell)
            if focus:
                shell.focus(shell.tiles[5])
            uploads0 = sum(t.texture.uploads for t in shell.tiles)
            drawn0 = shell.stats.frames
            t0 = time.monotonic()
            cpu = shell_cpu(shell, seconds)
            elapsed = time.monotonic() - t0
            uploads = (sum(t.texture.uploads for t in shell.tiles) - uploads0) / elapsed
            rows.append([label, round(shell.camera.zoom, 2), cpu, uploads, (shell.stats.frames - drawn0) / elapsed])
            shells.close_all()
    off = rows[-1][2]
    for row in rows:
        row.append(off / row[2])
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 3.0 if quick else 4.0
    tables = {}
    result: dict[str, Any] = {"title": "6. Scale and zoom-aware streaming", "targets": [
        f"16-tile wall zoomed out: shell CPU with streaming on >= {TARGET_DROP:.0f}x lower than off"]}
    wall_rows = streaming_wall(seconds)
    tables["B. 16-tile wall zoomed out (bench-churn guests, 640x480, 30 fps full-screen redraws)"] = table(
        ["streaming", "zoom", "shell CPU % of a core", "uploads/s (all tiles)", "frames drawn/s", "CPU drop vs off"],
        wall_rows)
    if TINY_ISO.exists():
        tables["A. Tiny Linux VMs at their prompt (1280x720, camera fits all)"] = table(
            ["VMs", "boot to all prompts s", "shell CPU % (streaming on)", "per VM %", "shell CPU % (off)",
             "shell RSS MB", "RSS per VM MB", "QEMU CPU % (all VMs)"],
            vm_scale([1, 4, 8] if quick else [1, 4, 8, 16], seconds))
    else:
        result["notes"] = [f"Part A skipped: {TINY_ISO} missing (run tools/dev setup)"]
    result["tables"] = dict(sorted(tables.items()))
    return result


def cli() -> None:
    if "--vms" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--vms", type=int, required=True)
        parser.add_argument("--seconds", type=float, default=8.0)
        args = parser.parse_args()
        logging.basicConfig(level=logging.WARNING)
        print(json.dumps(vms(args.vms, args.seconds)))
    else:
        main(run)


if __name__ == "__main__":
    cli()
