"""Benchmark 6: scale, and zoom-aware streaming on against off.

Part A, 1/4/8/16 tiny Linux VMs (96 MB each, TCG) on one map at 1280x720, camera
fitting them all: once every guest is at its shell prompt (GEOS-TINY-READY on its
serial port), the shell's own CPU (this process: main loop, D-Bus display threads,
QEMU backend) and RSS, with streaming on and then off on the same running shell.
Each count runs in a fresh process; an empty map gives the baseline.  (16 tiny Linux guests fit in 2 GB; QEMU's own CPU
is not the shell's and is reported apart.)

Part C, what an idle VM costs the shell by what its screen shows: 0 and 4 tiny
Linux VMs (2 with ``--quick``) in fresh processes, 20 s each, at the prompt of the
VGA text console (QEMU re-sends the cursor cell every 30 ms refresh and the cursor
really blinks ~4 times a second), of the text console with the cursor hidden, and
of a framebuffer console (virtio-gpu) with the cursor off.  Per VM is the
difference against 0 VMs in the same run, divided by the number of VMs.

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

from benchmarks.common import ROOT, TINY_ISO, CpuMeter, main, rss_mb, table
from benchmarks.shellbench import Shells, churn, run_loop, wait_for_textures, wall

READY = re.compile(r"GEOS-TINY-READY")
JOB_DONE = re.compile(r"GEOS-JOB-EXIT")
TARGET_DROP = 5.0
TARGET_IDLE = 0.3  # % of a core per idle VM
IDLE_SECONDS = 20.0  # a long window: an idle VM's cost is a few ms of CPU a second


def _job(script: str) -> dict[str, Any]:
    """Source parameters that run ``script`` in the tiny guest once it is up (its fw_cfg hook)."""
    return {"extra_args": ["-fw_cfg", f"name=opt/geos/run,string={script}"]}


DEFAULT_SCREEN = "text console, cursor blinking"
SCREENS: dict[str, dict[str, Any]] = {
    DEFAULT_SCREEN: {},
    "text console, cursor hidden": _job("printf '\\033[?25l' >/dev/tty1"),
    "framebuffer console (virtio-gpu), cursor off": {"display": "virtio", **_job(
        "modprobe -a virtio_pci virtio_gpu && echo 0 >/sys/class/graphics/fbcon/cursor_blink && "
        "printf '\\033[?25l' >/dev/tty1")},
}


def shell_cpu(shell: Any, seconds: float) -> float:
    """% of a core this process used while the shell ran its main loop for ``seconds``."""
    cpu0, t0 = time.process_time(), time.monotonic()  # every thread's, to the microsecond
    run_loop(shell, seconds)
    return (time.process_time() - cpu0) / (time.monotonic() - t0) * 100


def vms(count: int, seconds: float, screen: str = DEFAULT_SCREEN) -> dict[str, Any]:
    """One row of part A (or C), measured in this (fresh) process: ``count`` VMs (0: an empty map)."""
    with Shells() as shells, tempfile.TemporaryDirectory(prefix="geos-bench-") as tmp:
        serials = [Path(tmp) / f"vm{i}.serial" for i in range(count)]
        sources = [{"type": "qemu", "iso": str(TINY_ISO), "memory": 96, "accel": "tcg", "serial": str(s),
                    **SCREENS[screen]} for s in serials]
        ready = JOB_DONE if SCREENS[screen] else READY
        shell = shells.open(wall(sources))
        started = time.monotonic()
        deadline = started + 60 + 15 * count
        # The shell's loop does not run while the guests boot (their display threads
        # do): 16 TCG guests on 2 cores boot a minute faster without 60 redraws a second.
        while not all(s.exists() and ready.search(s.read_text(errors="replace")) for s in serials):
            if time.monotonic() > deadline:
                last = serials[0].read_text(errors="replace").strip().splitlines()[-1:] if serials[0].exists() else []
                raise RuntimeError(f"{count} VMs: not all guests reached their prompt in time "
                                   f"(the first one's serial port last said {last or 'nothing'})")
            time.sleep(0.2)
        boot = time.monotonic() - started
        run_loop(shell, 1.0)  # settle: every tile shows its console, cursors blink
        pids = [t.source.pid for t in shell.tiles]
        meter = CpuMeter(pids)
        published = sum(t.ctx.mailbox.published for t in shell.tiles)
        uploads = sum(t.texture.uploads for t in shell.tiles if t.texture is not None)
        on = shell_cpu(shell, seconds)
        qemu_cpu, wall_s = meter.stop()
        rss = rss_mb()
        per_vm_s = max(1, count) * wall_s
        row = {"count": count, "boot": round(boot, 1), "on": on, "rss": rss,
               "qemu": sum(qemu_cpu) / wall_s * 100,
               "published": (sum(t.ctx.mailbox.published for t in shell.tiles) - published) / per_vm_s,
               "uploads": (sum(t.texture.uploads for t in shell.tiles if t.texture is not None) - uploads) / per_vm_s}
        if count and screen == DEFAULT_SCREEN:
            shell.streaming.enabled = False
            row["off"] = shell_cpu(shell, seconds)
        return row


def vms_in_child(count: int, seconds: float, *more: str) -> dict[str, Any]:
    """:func:`vms` in a fresh process (a clean RSS, no threads of the last count)."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--vms", str(count), "--seconds", str(seconds),
                          *more], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{count} VMs: {(out.stderr.strip().splitlines() or ['failed'])[-1]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def vm_scale(counts: list[int], seconds: float) -> list[list[Any]]:
    """Part A: each count in a fresh process, the empty map first; per VM: the difference
    against the empty map, divided by the count."""
    base, *counted = [vms_in_child(count, seconds) for count in [0, *counts]]
    rows = [[0, "-", base["on"], "-", "-", round(base["rss"]), "-", "-"]]
    for r in counted:
        rows.append([r["count"], r["boot"], r["on"], (r["on"] - base["on"]) / r["count"], r["off"], round(r["rss"]),
                     (r["rss"] - base["rss"]) / r["count"], r["qemu"]])
    return rows


def idle_screens(count: int) -> list[list[Any]]:
    """Part C: per screen kind, ``count`` idle VMs against an empty map measured just before."""
    rows = []
    for screen in SCREENS:
        base = vms_in_child(0, IDLE_SECONDS, "--screen", screen)["on"]
        r = vms_in_child(count, IDLE_SECONDS, "--screen", screen)
        per_vm = (r["on"] - base) / count
        rows.append([screen, count, base, r["on"], per_vm, r["published"], r["uploads"],
                     "met" if per_vm <= TARGET_IDLE else "missed"])
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
            ["VMs", "boot to all prompts s", "shell CPU % (streaming on)", "per VM % (vs 0 VMs)",
             "shell CPU % (off)", "shell RSS MB", "RSS per VM MB", "QEMU CPU % (all VMs)"],
            vm_scale([1, 4, 8] if quick else [1, 4, 8, 16], seconds))
        result["targets"].append(f"an idle VM costs the shell <= {TARGET_IDLE}% of a core (part C)")
        tables[f"C. What an idle VM costs the shell, by its screen ({IDLE_SECONDS:.0f} s windows)"] = table(
            ["screen", "VMs", "shell CPU % (0 VMs)", "shell CPU %", "per VM % (vs 0 VMs)",
             "frames published/s per VM", "uploads/s per VM", f"<= {TARGET_IDLE}%"],
            idle_screens(2 if quick else 4))
    else:
        result["notes"] = [f"Part A skipped: {TINY_ISO} missing (run tools/dev setup)"]
    result["tables"] = dict(sorted(tables.items()))
    return result


def cli() -> None:
    if "--vms" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--vms", type=int, required=True)
        parser.add_argument("--seconds", type=float, default=8.0)
        parser.add_argument("--screen", choices=list(SCREENS), default=DEFAULT_SCREEN)
        args = parser.parse_args()
        logging.basicConfig(level=logging.WARNING)
        print(json.dumps(vms(args.vms, args.seconds, args.screen)))
    else:
        main(run)


if __name__ == "__main__":
    cli()
