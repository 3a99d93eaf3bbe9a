"""Benchmark 1: the frame path without GL.

A fake QEMU display (:mod:`tests.fakes.display_peer`, a child process) streams damage
rectangles at a fixed rate to a real :class:`~geometry_os.plugins.qemu.dbus_display.DisplayClient`
over a socketpair, inline (``Update`` with the pixels) or through shared memory
(``ScanoutMap`` once, then ``UpdateMap``).  Measured on the client's display
thread: CPU time (/proc/self/task/TID/stat) per 100 MB/s of damaged pixels, and the
latency from the peer sending a message to the client publishing the frame to the
tile's mailbox (both read CLOCK_MONOTONIC, which is system-wide).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from typing import Any

import numpy as np

from benchmarks.common import ROOT, main, percentile, table, thread_cpu
from geometry_os.api import FrameMailbox
from tests.fakes.display_peer import patches

TARGETS = {"shm": 1.0, "inline": 3.0}  # % of a core per 100 MB/s
SMALL_TARGET = 2.0  # % of a core for 1000 small (64x64) updates a second
LATENCY_TARGET_MS = 2.0
READERS = ("ours", "dbus-fast")  # the listener connection's reader: ours, or dbus-fast's (the reference)

# (transport, surface, damage rectangle, updates per second)
CASES = [
    ("shm", (1024, 768), (1024, 768), 33),
    ("shm", (1280, 800), (1280, 800), 120),
    ("shm", (1280, 800), (64, 64), 1000),
    ("inline", (1024, 768), (1024, 768), 33),
    ("inline", (1280, 800), (1280, 800), 120),
    ("inline", (1280, 800), (64, 64), 1000),
]


class TimedMailbox(FrameMailbox):
    """A mailbox that records when each publish happened (on the publishing thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def publish(self, pixels, dirty=None) -> None:
        super().publish(pixels, dirty)
        self.times.append(time.monotonic())


def measure(transport: str, size: tuple[int, int], rect: tuple[int, int], rate: float,
            seconds: float, reader: str = "ours") -> dict[str, Any]:
    from geometry_os.plugins.qemu.dbus_display import DisplayClient

    ours, theirs = socket.socketpair()
    peer = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.display_peer", "--fd", str(theirs.fileno()), "--mode", transport,
         "--width", str(size[0]), "--height", str(size[1]), "--rect", f"{rect[0]}x{rect[1]}",
         "--rate", str(rate), "--seconds", str(seconds)],
        pass_fds=[theirs.fileno()], stdout=subprocess.PIPE, cwd=ROOT)
    theirs.close()
    mailbox = TimedMailbox()
    client = DisplayClient("bench", mailbox, shm=transport == "shm")
    if reader == "dbus-fast":
        client._listener_reader = None  # type: ignore[method-assign]  # P2PMessageBus then uses dbus-fast's
    try:
        client.start(ours).result(timeout=20)
        tid = client._thread.ident
        # Measure from the first frame on: the window where the peer streams.
        deadline = time.monotonic() + 20
        while not mailbox.times and time.monotonic() < deadline:
            time.sleep(0.001)
        cpu0, t0 = thread_cpu(tid), time.monotonic()
        out, _ = peer.communicate(timeout=seconds + 30)
        cpu, wall = thread_cpu(tid) - cpu0, time.monotonic() - t0
    finally:
        client.close()
        if peer.poll() is None:
            peer.kill()
    sent = json.loads(out)["sent"]
    published = mailbox.times
    if len(published) < len(sent):
        raise RuntimeError(f"{transport}: {len(sent)} messages sent, only {len(published)} frames published")
    latency_ms = [(p - s) * 1000 for s, p in zip(sent[1:], published[1:len(sent)], strict=True)]
    if transport == "inline":
        check_last_patch(json.loads(out)["last"], rect, mailbox.peek_pixels())
    active = published[len(sent) - 1] - sent[1] + 1 / rate  # seconds of streaming (idle around it costs ~0)
    mbps = rate * rect[0] * rect[1] * 4 / 1e6
    core = cpu / max(active, 1e-9) * 100
    return {"transport": transport, "reader": reader, "size": size, "rect": rect, "rate": rate, "mbps": mbps,
            "core_pct": core,
            "pct_per_100mbps": core / (mbps / 100), "p50_ms": percentile(latency_ms, 50),
            "p99_ms": percentile(latency_ms, 99), "max_ms": max(latency_ms), "wall": wall}


def check_last_patch(last: dict[str, int] | None, rect: tuple[int, int], fb: np.ndarray) -> None:
    """The client's framebuffer holds the peer's last patch where the peer put it."""
    if last is None:
        return
    rw, rh = rect
    expected = patches(rect)[last["patch"]]
    got = fb[last["y"]:last["y"] + rh, last["x"]:last["x"] + rw]
    if not np.array_equal(got[..., :3], expected[..., :3]):
        raise RuntimeError("inline frame path: the client's framebuffer does not hold the last update")


def target(transport: str, rect: tuple[int, int]) -> str:
    """The row's CPU target: per 100 MB/s for whole frames, % of a core for small rectangles."""
    if rect == (64, 64):
        return f"{SMALL_TARGET:g}% of a core"
    return f"{TARGETS[transport]:g}% per 100 MB/s"


def run(quick: bool = False, inline_readers: tuple[str, ...] = READERS) -> dict[str, Any]:
    seconds = 2.0 if quick else 3.0
    rows = []
    results = []
    for transport, size, rect, rate in CASES:
        readers = inline_readers if transport == "inline" else ("ours",)
        # The readers of one case back to back: the machine's load is as alike as it gets.
        for reader in readers:
            r = measure(transport, size, rect, rate, seconds, reader)
            results.append(r)
            label = transport if reader == "ours" else f"{transport}, dbus-fast's reader (reference)"
            rows.append([label, f"{size[0]}x{size[1]}", f"{rect[0]}x{rect[1]}", rate, round(r["mbps"], 1),
                         r["core_pct"], r["pct_per_100mbps"], target(transport, rect), r["p50_ms"], r["p99_ms"],
                         LATENCY_TARGET_MS])
    return {
        "title": "1. Frame path, no GL (synthetic QEMU peer -> DisplayClient -> mailbox)",
        "targets": [(f"client CPU <= {TARGETS['shm']:g}% of a core per 100 MB/s on the shared-memory path, "
                     f"<= {TARGETS['inline']:g}% inline"),
                    f"1000 small (64x64) updates a second <= {SMALL_TARGET:g}% of a core",
                    f"p99 latency < {LATENCY_TARGET_MS:g} ms"],
        "tables": {"": table(["transport", "surface", "damage rect", "updates/s", "MB/s damaged",
                              "client CPU % of a core", "% per 100 MB/s", "target", "latency p50 ms",
                              "p99 ms", "target p99 ms"], rows)},
        "results": results,
    }


if __name__ == "__main__":
    # ``--inline-reader ours|dbus-fast|both`` (both: the A/B); the other options are common.main's.
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--inline-reader", choices=(*READERS, "both"), default="both")
    options, sys.argv[1:] = parser.parse_known_args()
    chosen = READERS if options.inline_reader == "both" else (options.inline_reader,)
    main(lambda quick: run(quick, chosen))
