"""An animated test card that publishes frames from its own thread.

The card is colour bars over a grid; a bright square moves across it and a counter
strip changes every frame, so each publish dirties two small rectangles — the same
shape of traffic a VM console produces.
"""

from __future__ import annotations

import threading
import time

import attrs
import numpy as np

from geometry_os import api

# BGRX colour bars: white, yellow, cyan, green, magenta, red, blue
BARS = np.array([[235, 235, 235, 0], [16, 235, 235, 0], [235, 235, 16, 0], [16, 235, 16, 0],
                 [235, 16, 235, 0], [16, 16, 235, 0], [235, 16, 16, 0]], dtype=np.uint8)
BOX = 48  # side of the moving square, in pixels


@attrs.define(frozen=True)
class PatternParams:
    width: int = api.setting(640, doc="Width of the test card in pixels.", min=16, max=8192)
    height: int = api.setting(480, doc="Height of the test card in pixels.", min=16, max=8192)
    rate: float = api.setting(30.0, doc="Frames published per second (0: draw once and stay still).", min=0, max=1000)
    speed: float = api.setting(120.0, doc="Speed of the moving square in pixels per second.", min=0, max=10000)
    cpu_load: float = api.setting(0.0, doc="A synthetic CPU load (0..1) to report, for effect demos and tests.",
                              min=0.0, max=1.0)


def draw_card(width: int, height: int) -> np.ndarray:
    """The still part of the card: colour bars with a dark grid every 32 pixels."""
    frame = api.new_framebuffer(width, height)
    columns = (np.arange(width) * len(BARS)) // width
    frame[:, :] = BARS[columns][None, :, :]
    frame[::32, :, :3] = 40
    frame[:, ::32, :3] = 40
    return frame


class PatternSource(api.FrameSource):
    """Publishes the test card with a moving square at ``params.rate`` frames per second."""

    def __init__(self, ctx: api.TileContext, params: PatternParams) -> None:
        super().__init__(ctx, params)
        self.capabilities = api.Capabilities(telemetry=self)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._size = (params.width, params.height)
        self._resize_to: tuple[int, int] | None = None
        self.frames = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"pattern-{self.ctx.name}", daemon=True)
        self._thread.start()
        self.ctx.report_state(api.TileState.RUNNING)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self.ctx.report_state(api.TileState.STOPPED)

    def telemetry(self) -> dict[str, float]:
        """The scripted load from the params (a test card has no real CPU to measure)."""
        return {"cpu_load": self.params.cpu_load}

    def resize(self, width: int, height: int) -> None:
        """Change the card's size on the next frame (as a guest mode switch would)."""
        self._resize_to = (width, height)

    def _run(self) -> None:
        width, height = self._size
        card = draw_card(width, height)
        frame = card.copy()
        self.ctx.mailbox.publish(frame)
        params = self.params
        start = time.monotonic()
        previous = api.Rect(0, 0, 0, 0)
        interval = 1.0 / params.rate if params.rate > 0 else None
        deadline = start
        while interval is not None and not self._stop.is_set():
            deadline += interval
            self._stop.wait(max(0.0, deadline - time.monotonic()))
            if self._resize_to is not None:
                width, height = self._resize_to
                self._resize_to = None
                card = draw_card(width, height)
                frame = card.copy()
                previous = api.Rect(0, 0, 0, 0)
            box = self._box_at(time.monotonic() - start, width, height)
            frame[previous.y:previous.y + previous.h, previous.x:previous.x + previous.w] = \
                card[previous.y:previous.y + previous.h, previous.x:previous.x + previous.w]
            frame[box.y:box.y + box.h, box.x:box.x + box.w, :3] = 255
            self.frames += 1
            counter = api.Rect(0, height - 8, min(width, 256), 8)
            frame[counter.y:, :counter.w, :3] = (self.frames * 7) % 256
            self.ctx.mailbox.publish(frame, previous.union(box).union(counter) if previous.w else box.union(counter))
            previous = box

    def _box_at(self, seconds: float, width: int, height: int) -> api.Rect:
        """Where the square is ``seconds`` after start: bouncing along a diagonal."""
        side = min(BOX, width, height)
        span_x, span_y = max(1, width - side), max(1, height - side)
        distance = seconds * self.params.speed
        x = int(abs((distance % (2 * span_x)) - span_x))
        y = int(abs(((distance * 0.7) % (2 * span_y)) - span_y))
        return api.Rect(x, y, side, side)
