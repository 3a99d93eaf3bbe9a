"""A benchmark-only frame source, ``bench-churn``: a guest that redraws its screen at a
fixed rate, with no drawing cost of its own (it cycles through pre-made frames), so
that what a benchmark measures is the shell.  Loaded by the benchmarks with
``PluginHost.load_file``; never part of a user's scene.
"""

from __future__ import annotations

import threading
import time

import attrs
import numpy as np

import geometry_os
from geometry_os.frames import Rect
from geometry_os.registry import SourceType
from geometry_os.settings import setting
from geometry_os.tiles import FrameSource, TileContext, TileState


@attrs.define(frozen=True)
class ChurnParams:
    width: int = setting(640, doc="Guest screen width.", min=16, max=8192)
    height: int = setting(480, doc="Guest screen height.", min=16, max=8192)
    rate: float = setting(30.0, doc="Frames published per second.", min=0.1, max=1000)
    damage: float = setting(1.0, doc="Fraction of the rows each frame changes (a band that moves).",
                            min=0.001, max=1.0)


class ChurnSource(FrameSource):
    """Publishes ``rate`` frames a second; ``times[n]`` is when publish ``n + 1`` happened."""

    def __init__(self, ctx: TileContext, params: ChurnParams) -> None:
        super().__init__(ctx, params)
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"churn-{self.ctx.name}", daemon=True)
        self._thread.start()
        self.ctx.report_state(TileState.RUNNING)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None

    def _run(self) -> None:
        p = self.params
        rng = np.random.default_rng(abs(hash(self.ctx.name)) % 2**32)
        frames = [rng.integers(0, 256, (p.height, p.width, 4), dtype=np.uint8) for _ in range(3)]
        band = max(1, int(p.height * p.damage))
        interval = 1.0 / p.rate
        deadline = time.monotonic()
        n = 0
        while not self._stop.is_set():
            y = (n * band) % max(1, p.height - band + 1)
            self.times.append(time.monotonic())
            self.ctx.mailbox.publish(frames[n % 3], Rect(0, y, p.width, band))
            n += 1
            deadline += interval
            self._stop.wait(max(0.0, deadline - time.monotonic()))


@geometry_os.hookimpl
def register_sources() -> list[SourceType]:
    return [SourceType("bench-churn", ChurnParams, ChurnSource, "Benchmark guest: redraws at a fixed rate.")]
