"""Frame pacing: when the shell draws, and how fast it went.

pyglet's ``schedule_interval`` drifts (59.3 draws/s at 60 Hz was measured), so frames
are scheduled one at a time against an absolute deadline.  Under zoom-aware streaming
a guest frame that just arrived is drawn at once rather than at the next deadline, as
long as frames stay an interval apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs


@attrs.define
class FrameStats:
    """Frame timing for the HUD and benchmarks (exponentially smoothed)."""

    fps: float = 0.0
    frame_ms: float = 0.0
    frames: int = 0
    _last: float | None = None

    def tick(self, now: float, work_seconds: float) -> None:
        if self._last is not None:
            interval = now - self._last
            if interval > 0:
                self.fps = 1.0 / interval if self.fps == 0 else self.fps * 0.9 + 0.1 / interval
        self.frame_ms = work_seconds * 1000 if self.frame_ms == 0 else self.frame_ms * 0.9 + work_seconds * 100
        self._last = now
        self.frames += 1


class FramePacer:
    """Runs pyglet's loop, calling ``tick(dt)`` on an absolute-deadline schedule.

    ``fps()`` is read each frame (a scene edit may change it); ``finished()`` ends the
    loop; ``draw_due(now, interval)`` says whether a frame waiting to be drawn may be
    drawn early (see :meth:`draw_now`).
    """

    def __init__(self, tick: Callable[[float], None], fps: Callable[[], float], finished: Callable[[], bool],
                 draw_due: Callable[[float, float], bool]) -> None:
        self._tick = tick
        self._fps = fps
        self._finished = finished
        self._draw_due = draw_due
        self._deadline = 0.0
        self._last = 0.0
        self._running = False

    def run(self) -> None:
        import pyglet

        self._deadline = self._last = time.monotonic()
        self._running = True
        pyglet.clock.schedule_once(self._frame, 0)
        try:
            pyglet.app.run(None)
        finally:
            self._running = False

    def _frame(self, _dt: float) -> None:
        import pyglet

        now = time.monotonic()
        self._tick(now - self._last)
        self._last = now
        if self._finished():
            pyglet.app.exit()
            return
        interval = 1.0 / self._fps()
        self._deadline += interval
        if self._deadline < now:  # fell behind: do not try to catch up with a burst
            self._deadline = now + interval
        pyglet.clock.schedule_once(self._frame, max(0.0, self._deadline - time.monotonic()))

    def draw_now(self) -> None:
        """A guest frame was just uploaded: draw it now, not at the next deadline (up to
        a frame interval later), while frames stay an interval apart."""
        if not self._running:
            return
        import pyglet

        now = time.monotonic()
        if self._draw_due(now, 1.0 / self._fps()) and self._deadline - now > 0.001:
            pyglet.clock.unschedule(self._frame)
            self._deadline = now
            pyglet.clock.schedule_once(self._frame, 0)
