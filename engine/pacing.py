"""Frame pacing: when the shell draws, and how fast it went.

pyglet's ``schedule_interval`` drifts (59.3 draws/s at 60 Hz was measured), so frames
are scheduled one at a time against an absolute deadline.  Under zoom-aware streaming
a guest frame that just arrived is drawn at once rather than at the next deadline, as
long as frames stay an interval apart.

An idle map is not ticked at the frame rate: when a tick had nothing to draw and
nothing waits (``idle_until(now)`` gives a time, see
:meth:`~geometry_os.streaming.StreamingPolicy.idle_until`), the next tick is at that
time, and :meth:`FramePacer.wake` (a guest frame, input, a state change) brings it
forward.  Idle VMs then cost the main loop nothing per frame.
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
    drawn early (see :meth:`draw_now`); ``idle_until(now)`` says until when the map may
    go without a tick (None: tick at the frame rate).
    """

    def __init__(self, tick: Callable[[float], None], fps: Callable[[], float], finished: Callable[[], bool],
                 draw_due: Callable[[float, float], bool],
                 idle_until: Callable[[float], float | None] = lambda now: None) -> None:
        self.tick = tick  # public: benchmarks wrap it to time each frame
        self._fps = fps
        self._finished = finished
        self._draw_due = draw_due
        self._idle_until = idle_until
        self._deadline = 0.0
        self._last = 0.0
        self._running = False
        self._idle = False  # the next tick is an idle one (later than the frame rate)
        self._waited = False  # ... or was, before a wake brought it forward

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
        interval = 1.0 / self._fps()
        # after an idle wait (or one cut short) the time since the last tick is not a
        # frame's: an animation that starts now must not jump ahead by it
        self.tick(min(now - self._last, interval) if self._waited else now - self._last)
        self._last = now
        if self._finished():
            pyglet.app.exit()
            return
        self._deadline += interval
        if self._deadline < now:  # fell behind: do not try to catch up with a burst
            self._deadline = now + interval
        until = self._idle_until(time.monotonic())
        self._idle = self._waited = until is not None and until > self._deadline
        if self._idle and until is not None:
            self._deadline = until
        pyglet.clock.schedule_once(self._frame, max(0.0, self._deadline - time.monotonic()))

    def draw_now(self) -> None:
        """A guest frame was just uploaded: draw it now, not at the next deadline (up to
        a frame interval later), while frames stay an interval apart.  An idle wait ends."""
        if not self._running:
            return
        now = time.monotonic()
        interval = 1.0 / self._fps()
        if self._draw_due(now, interval):
            self._reschedule(now)
        elif self._idle:  # a frame that is not due yet (or a repeat): tick when its slot comes
            until = self._idle_until(now)
            self._reschedule(max(now, self._last + interval) if until is None else until)

    def wake(self) -> None:
        """Something may have changed (input, a state change, a request): end an idle wait,
        ticking at the frame rate again."""
        if self._running and self._idle:
            self._reschedule(max(time.monotonic(), self._last + 1.0 / self._fps()))

    def _reschedule(self, at: float) -> None:
        import pyglet

        if self._deadline - at > 0.001:
            pyglet.clock.unschedule(self._frame)
            self._deadline = at
            self._idle = False
            pyglet.clock.schedule_once(self._frame, max(0.0, at - time.monotonic()))
