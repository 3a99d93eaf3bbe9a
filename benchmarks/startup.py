"""Benchmark 7: start-up times.

* ``geos run SCENE --frames 1`` from process start to exit, headless (EGL) and with
  a real window under Xvfb: imports, plugin loading, GL context, the first frame
  drawn (and shown), shutdown.  A one-tile pattern scene, so no guest time is in it.
* QEMU start to the first guest frame: ``VmSession.started_at`` (the session begins
  launching QEMU) to ``first_frame_at`` (the first frame reached the tile's
  mailbox), and to the first texture upload on the tile, for memtest86+ and the
  tiny Linux guest (TCG).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, TINY_ISO, main, table

MEMTEST_ISO = Path("/usr/lib/memtest86+/memtest86+x64.iso")
SCENE = """window: {width: 1280, height: 720}
tiles:
  - {title: card, source: {type: pattern, rate: 30}}
"""


def geos_run(scene: Path, xvfb: bool) -> float:
    argv = [str(Path(sys.executable).parent / "geos"), "-q", "run", str(scene), "--frames", "1", "--no-dev"]
    if xvfb:
        argv = ["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", *argv]
    else:
        argv.append("--headless")
    t = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    elapsed = time.monotonic() - t
    if result.returncode != 0:
        raise RuntimeError(f"geos run failed: {result.stderr.strip().splitlines()[-1:]}")
    return elapsed


def first_guest_frame(iso: Path) -> tuple[float, float]:
    import pyglet

    from benchmarks.shellbench import Shells, wall

    with Shells() as shells:
        shell = shells.open(wall([{"type": "qemu", "iso": str(iso), "memory": 128, "accel": "tcg"}]))
        tile = shell.tiles[0]
        deadline = time.monotonic() + 30
        while tile.texture is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{iso.name}: no frame on the tile")
            pyglet.app.platform_event_loop.dispatch_posted_events()
            shell.tick(1 / 60)
            time.sleep(0.001)
        uploaded = time.monotonic()
        session = tile.source.session
        return session.first_frame_at - session.started_at, uploaded - session.started_at


def run(quick: bool = False) -> dict[str, Any]:
    repeats = 2 if quick else 3
    rows = []
    with tempfile.TemporaryDirectory(prefix="geos-bench-") as tmp:
        scene = Path(tmp) / "one.yaml"
        scene.write_text(SCENE)
        modes = [("headless (EGL)", False)] + ([("window (Xvfb)", True)] if shutil.which("xvfb-run") else [])
        for label, xvfb in modes:
            times = [geos_run(scene, xvfb) for _ in range(repeats)]
            rows.append([f"geos run --frames 1, {label}", "process start -> first frame drawn -> exit",
                         statistics.median(times) * 1000, min(times) * 1000])
    guests = [("memtest86+", MEMTEST_ISO), ("tiny Linux", TINY_ISO)]
    for name, iso in guests:
        if not iso.exists():
            continue
        samples = [first_guest_frame(iso) for _ in range(repeats)]
        mailbox = [s[0] for s in samples]
        texture = [s[1] for s in samples]
        rows.append([f"QEMU start -> first guest frame ({name})", "in the tile's mailbox",
                     statistics.median(mailbox) * 1000, min(mailbox) * 1000])
        rows.append([f"QEMU start -> first guest frame ({name})", "uploaded to the tile's texture",
                     statistics.median(texture) * 1000, min(texture) * 1000])
    return {"title": "7. Start-up", "tables": {"": table(["what", "until", "median ms", "best ms"], rows)}}


if __name__ == "__main__":
    main(run)
