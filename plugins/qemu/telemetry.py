"""Cheap VM telemetry: vCPU load from /proc and the frame update rate.

Sampled about once a second on the backend loop; the tile reads the last result
(a dict swapped atomically), so the main thread never waits.  ``cpu_load`` is the
busy fraction of the VM's vCPUs (0..1; 1 = every vCPU thread ran all the time),
from utime+stime of the vCPU threads named by QMP ``query-cpus-fast``.
"""

from __future__ import annotations

import os
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SMOOTHING = 0.5  # weight of the newest sample in the moving average


def thread_cpu_ticks(pid: int, tid: int) -> int | None:
    """utime + stime of one thread in clock ticks, None if it is gone."""
    try:
        with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after it.
    fields = data[data.rfind(b")") + 2:].split()
    try:
        return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
    except (IndexError, ValueError):
        return None


class Ema:
    """An exponential moving average that starts at its first sample."""

    def __init__(self, weight: float = SMOOTHING) -> None:
        self.weight = weight
        self.value: float | None = None

    def add(self, sample: float) -> float:
        self.value = sample if self.value is None else \
            self.weight * sample + (1 - self.weight) * self.value
        return self.value


class CpuMeter:
    """vCPU busy fraction of one QEMU process."""

    def __init__(self, pid: int, tids: list[int]) -> None:
        self.pid = pid
        self.tids = list(tids)
        self._last: tuple[float, int] | None = None
        self._avg = Ema()

    def _ticks(self) -> int:
        return sum(t for t in (thread_cpu_ticks(self.pid, tid) for tid in self.tids) if t)

    def sample(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        ticks = self._ticks()
        last, self._last = self._last, (now, ticks)
        if last is None or not self.tids or now <= last[0]:
            return self._avg.value or 0.0
        busy = (ticks - last[1]) / CLOCK_TICKS / (now - last[0]) / len(self.tids)
        return self._avg.add(min(1.0, max(0.0, busy)))


class RateMeter:
    """Events per second from a monotonic counter."""

    def __init__(self) -> None:
        self._last: tuple[float, int] | None = None
        self._avg = Ema()

    def sample(self, count: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        last, self._last = self._last, (now, count)
        if last is None or now <= last[0]:
            return self._avg.value or 0.0
        return self._avg.add(max(0, count - last[1]) / (now - last[0]))
