"""Benchmark 3: full-frame texture upload bandwidth as a ratio of memcpy of the same bytes.

In one process, one after the other for each size: ``StreamTexture.upload`` of the
whole frame (timed to ``glFinish``) and ``np.copyto`` of the same frame into a
buffer of the same size (what a copy into texture storage costs at best).  Two
source frames alternate in both, so neither reads a frame still hot in the cache
from the previous round more than the other.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks.common import main, percentile, table
from geometry_os.frames import Frame, Rect

SIZES = [(640, 480), (1024, 768), (1920, 1080), (3840, 2160)]
TARGET = 0.8


def measure(width: int, height: int, rounds: int) -> dict[str, float]:
    from pyglet import gl

    from geometry_os.render.texture import StreamTexture

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (height, width, 4), dtype=np.uint8) for _ in range(2)]
    dest = np.empty_like(frames[0])
    texture = StreamTexture()
    whole = Rect(0, 0, width, height)
    texture.upload(Frame(frames[0], whole, True, 1))
    gl.glFinish()
    upload_ms, copy_ms = [], []
    for i in range(rounds):
        src = frames[i % 2]
        t = time.perf_counter()
        texture.upload(Frame(src, whole, False, i))
        gl.glFinish()
        upload_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        np.copyto(dest, src)
        copy_ms.append((time.perf_counter() - t) * 1000)
    texture.delete()
    nbytes = width * height * 4
    up, cp = percentile(upload_ms, 50), percentile(copy_ms, 50)
    return {"mb": nbytes / 1e6, "upload_ms": up, "copy_ms": cp, "upload_gbs": nbytes / up / 1e6,
            "copy_gbs": nbytes / cp / 1e6, "ratio": cp / up}


def run(quick: bool = False) -> dict[str, Any]:
    from benchmarks.shellbench import Shells, wall

    rounds = 30 if quick else 100
    rows = []
    with Shells() as shells:
        shells.open(wall([]))  # a GL context like the shell's
        for width, height in SIZES:
            r = measure(width, height, rounds)
            rows.append([f"{width}x{height}", round(r["mb"], 1), r["upload_ms"], r["upload_gbs"], r["copy_ms"],
                         r["copy_gbs"], round(r["ratio"], 2)])
    return {
        "title": "3. Upload bandwidth: full-frame StreamTexture upload vs memcpy of the same bytes",
        "tables": {"": table(["frame", "MB", "upload ms (p50)", "upload GB/s", "memcpy ms (p50)", "memcpy GB/s",
                              "upload / memcpy"], rows)},
        "targets": [f"upload / memcpy >= {TARGET}"],
    }


if __name__ == "__main__":
    main(run)
