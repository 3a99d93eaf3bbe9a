"""Benchmark 5: host CPU per displayed frame, Geometry OS against QEMU's own display.

The same guest workload both ways: the tiny Linux guest (``tools/dev setup`` builds
it) loads its DRM driver and runs ``kmsmode 1024 768 SECONDS --churn``, which
redraws the whole 1024x768 screen about 30 times a second and prints how many
frames it drew.  It is started through the fw_cfg job
(``-fw_cfg name=opt/geos/run,string=...``), and CPU is sampled from the moment it
prints ``KMSMODE 1024x768 ok`` on the serial port until its frame count appears.

* QEMU's own display: ``qemu-system-x86_64 -display sdl`` (and gtk) in an Xvfb
  server; CPU = QEMU (guest and viewer are one process) + Xvfb (which does the
  drawing on a real desktop's X server).
* Geometry OS: one QEMU tile in a headless shell (EGL, llvmpipe) in this process;
  CPU = QEMU + the shell; once with effects off and once with ``crt``.

The guest's own CPU is in QEMU's number both ways; the difference is the display.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import TINY_ISO, CpuMeter, main, process_cpu, table

GUEST_SIZE = (1024, 768)
FRAMES_RE = re.compile(r"KMSMODE churn frames=(\d+) ms=(\d+)")
OK_LINE = f"KMSMODE {GUEST_SIZE[0]}x{GUEST_SIZE[1]} ok"


def job(seconds: float, device: str) -> str:
    driver = "modprobe bochs" if device == "std" else "modprobe -a virtio_pci virtio_gpu"
    return f"{driver}; sleep 1; kmsmode {GUEST_SIZE[0]} {GUEST_SIZE[1]} {seconds} --churn"


def wait_serial(path: Path, pattern: str | re.Pattern, timeout: float, step=None) -> re.Match | None:
    """Poll the serial log for ``pattern``; ``step()`` between polls (None: sleep)."""
    regex = re.compile(re.escape(pattern)) if isinstance(pattern, str) else pattern
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            match = regex.search(path.read_text(errors="replace"))
        except FileNotFoundError:
            match = None
        if match:
            return match
        if step is None:
            time.sleep(0.05)
        else:
            step()
    return None


def qemu_own_display(viewer: str, seconds: float, device: str, workdir: Path) -> dict[str, Any]:
    serial = workdir / f"{viewer}-{device}.serial"
    display = f":{90 + os.getpid() % 100}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    qemu = None
    try:
        time.sleep(0.5)  # Xvfb has no readiness signal short of a client retry loop
        device_args = ["-vga", "std"] if device == "std" else ["-vga", "none", "-device", "virtio-vga"]
        qemu = subprocess.Popen(
            ["qemu-system-x86_64", "-accel", "tcg", "-m", "128", "-cdrom", str(TINY_ISO), "-display", viewer,
             *device_args, "-serial", f"file:{serial}", "-fw_cfg", f"name=opt/geos/run,string={job(seconds, device)}",
             "-no-reboot", "-net", "none"],
            env={**os.environ, "DISPLAY": display, "SDL_AUDIODRIVER": "dummy"},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_serial(serial, OK_LINE, 90):
            raise RuntimeError(f"{viewer}: the guest did not start kmsmode (see {serial})")
        meter = CpuMeter([qemu.pid, xvfb.pid])
        match = wait_serial(serial, FRAMES_RE, seconds + 30)
        (qemu_cpu, x_cpu), wall = meter.stop()
        if not match:
            raise RuntimeError(f"{viewer}: no frame count from kmsmode")
        frames = int(match.group(1))
        return {"viewer": f"QEMU -display {viewer} (Xvfb)", "frames": frames, "wall": wall, "qemu": qemu_cpu,
                "viewer_cpu": x_cpu, "shown": None}
    finally:
        for proc in (qemu, xvfb):
            if proc is not None:
                proc.kill()
                proc.wait()


def geometry_os(seconds: float, device: str, workdir: Path, effects: str = "off") -> dict[str, Any]:
    """One QEMU tile in a headless shell; ``effects``: a name in :data:`benchmarks.shellbench.EFFECTS`."""
    import pyglet

    from benchmarks.shellbench import EFFECTS, Shells, wall

    serial = workdir / f"geos-{device}-{effects}.serial"
    source = {"type": "qemu", "iso": str(TINY_ISO), "memory": 128, "accel": "tcg", "tablet": False,
              "display": "std" if device == "std" else "virtio", "serial": str(serial),
              "extra_args": ["-fw_cfg", f"name=opt/geos/run,string={job(seconds, device)}"]}
    with Shells() as shells:
        shell = shells.open(wall([source], effects=EFFECTS[effects]))
        tile = shell.tiles[0]

        def step() -> None:
            pyglet.app.platform_event_loop.dispatch_posted_events()
            shell.tick(1 / 60)
            time.sleep(0.005)

        if not wait_serial(serial, OK_LINE, 90, step):
            raise RuntimeError(f"Geometry OS: the guest did not start kmsmode (see {serial})")
        deadline = time.monotonic() + 10
        while tile.texture is None and time.monotonic() < deadline:
            step()
        if tile.texture is None:
            raise RuntimeError("Geometry OS: the tile shows no frame")
        qemu_pid = tile.source.pid
        uploads0, drawn0 = tile.texture.uploads, shell.stats.frames
        me0 = process_cpu()
        meter = CpuMeter([qemu_pid])
        result: dict[str, Any] = {}

        def poll(_dt: float) -> None:
            match = FRAMES_RE.search(serial.read_text(errors="replace"))
            if match:
                result["frames"] = int(match.group(1))
                shell.quit()

        from benchmarks.shellbench import run_loop

        pyglet.clock.schedule_interval(poll, 0.05)
        try:
            run_loop(shell, seconds + 30)
        finally:
            pyglet.clock.unschedule(poll)
        (qemu_cpu,), wall_s = meter.stop()
        shell_cpu = process_cpu() - me0
        if "frames" not in result:
            raise RuntimeError("Geometry OS: no frame count from kmsmode")
        with_effects = "" if effects == "off" else f", {effects}"
        return {"viewer": f"Geometry OS tile ({tile.source.session.display.transport}, headless EGL{with_effects})",
                "frames": result["frames"], "wall": wall_s, "qemu": qemu_cpu, "viewer_cpu": shell_cpu,
                "shown": tile.texture.uploads - uploads0, "drawn": shell.stats.frames - drawn0}


def run(quick: bool = False) -> dict[str, Any]:
    if not TINY_ISO.exists():
        return {"title": "5. Against QEMU's own display", "skipped": f"{TINY_ISO} missing (run tools/dev setup)"}
    seconds = 6 if quick else 7
    rows = []
    with tempfile.TemporaryDirectory(prefix="geos-bench-") as tmp:
        workdir = Path(tmp)
        results = []
        for device in ("std", "virtio"):
            runs = [geometry_os(seconds, device, workdir), geometry_os(seconds, device, workdir, "crt")]
            for viewer in ("sdl", "gtk"):
                if shutil.which("Xvfb"):
                    runs.append(qemu_own_display(viewer, seconds, device, workdir))
            for r in runs:
                total = r["qemu"] + r["viewer_cpu"]
                results.append(r)
                rows.append([device, r["viewer"], r["frames"], r["frames"] / r["wall"], r["shown"] or "-",
                             r["qemu"] / r["wall"] * 100, r["viewer_cpu"] / r["wall"] * 100,
                             total / r["wall"] * 100, total / r["frames"] * 1000])
    return {
        "title": f"5. Against QEMU's own display: tiny Linux guest, kmsmode {GUEST_SIZE[0]}x{GUEST_SIZE[1]} --churn",
        "tables": {"": table(["guest display", "viewer", "guest frames", "guest fps", "frames uploaded",
                              "QEMU CPU %", "viewer CPU % (shell / Xvfb)", "total CPU %",
                              "total CPU ms per guest frame"], rows)},
        "targets": ["Geometry OS total CPU per frame <= QEMU's GTK window (effects off); with crt <= SDL's"],
        "results": results,
    }


if __name__ == "__main__":
    main(run)
