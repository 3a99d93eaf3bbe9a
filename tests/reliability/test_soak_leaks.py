"""A short soak against a real QEMU (the tiny Linux guest under TCG): relaunches and
display reconnects leak nothing.

benchmarks/soak.py runs the long version (200 relaunches, 500 reconnects, and ten
minutes of churning tiles with the camera moving); this checks leaks only, never
timings: after the first runs (pools and caches made), the process's file
descriptors and threads come back to where they were and RSS stays bounded.
"""

from __future__ import annotations

import logging

import pytest

from benchmarks.soak import counters, cycle_vm
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.source import QemuSource
from geometry_os.tiles import TileState

pytestmark = pytest.mark.qemu

log = logging.getLogger(__name__)

RESTARTS = 20
RECONNECTS = 50
WARM_RUNS = 3  # runs before the baseline: the backend's thread pool and caches exist by then
RSS_BOUND_MB = 40  # the growth allowed over 17 runs (allocator arenas settle; a leak of a
                   # framebuffer per run alone would be 17 x 1.2 MB, of a display thread's stack far more)


def test_relaunches_and_display_reconnects_leak_no_fds_or_threads(sources, make_ctx, tiny_linux_iso, wait_for):
    ctx = make_ctx("soak")
    source = QemuSource(ctx, QemuParams(iso=str(tiny_linux_iso), memory=96, accel="tcg"))
    sources.append(source)
    source.start()
    wait_for(lambda: ctx.state is TileState.RUNNING, timeout=60, what="RUNNING")
    marks: dict[str, dict[str, float]] = {}

    def after_cycle(run: int) -> None:
        if run + 1 == WARM_RUNS:
            marks["base"] = counters()

    failures = cycle_vm(source, ctx, lambda condition, what: wait_for(condition, timeout=60, what=what),
                        RESTARTS, RECONNECTS, after_cycle)
    for failure in failures:  # a leak check: a failed reconnect is reported, the next run recovers from it
        log.warning("reconnect failed: %s", failure)
    base = marks["base"]

    def back_at_baseline() -> bool:
        now = counters()
        return now["fds"] <= base["fds"] and now["threads"] <= base["threads"]

    wait_for(back_at_baseline, timeout=15,
             what=f"fds and threads back at their baseline {base} (now {counters()})")
    assert counters()["rss"] - base["rss"] < RSS_BOUND_MB, (base, counters())
