"""The frame-to-texture contract: how a frame source hands pixels to the renderer.

A frame source owns a tile's framebuffer (a ``numpy`` array of shape ``(h, w, 4)``,
``uint8``, bytes in B, G, R, X order: QEMU's ``PIXMAN_x8r8g8b8`` in memory).  It
writes into that array from any thread it likes and then calls
:meth:`FrameMailbox.publish` with the rectangles it changed.  The renderer, on the
main loop, calls :meth:`FrameMailbox.take` and uploads only the dirty union.

Why this shape:

* *Latest frame wins.*  The mailbox holds one reference to the newest buffer and
  one merged dirty rectangle; a publish never waits for the renderer and nothing
  queues up, however slowly the renderer draws.
* *No copies.*  The renderer reads straight from the source's buffer (a torn read
  is repaired by the next damage rectangle, exactly as with QEMU's shared-memory
  scanout, which is a live buffer too).
* *Size changes at any time.*  A source that changes size allocates a *new* array
  and publishes it; the renderer keeps a reference to the old one until it has
  taken the new one, so nothing is freed under its feet.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

BYTES_PER_PIXEL = 4


class Rect(NamedTuple):
    """A rectangle in framebuffer pixels: ``x, y`` is the top-left corner."""

    x: int
    y: int
    w: int
    h: int

    def union(self, other: Rect) -> Rect:
        x0 = min(self.x, other.x)
        y0 = min(self.y, other.y)
        x1 = max(self.x + self.w, other.x + other.w)
        y1 = max(self.y + self.h, other.y + other.h)
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def clip(self, width: int, height: int) -> Rect | None:
        """This rectangle cut to a ``width`` x ``height`` surface, or None if empty."""
        x0 = max(self.x, 0)
        y0 = max(self.y, 0)
        x1 = min(self.x + self.w, width)
        y1 = min(self.y + self.h, height)
        if x1 <= x0 or y1 <= y0:
            return None
        return Rect(x0, y0, x1 - x0, y1 - y0)


def new_framebuffer(width: int, height: int) -> np.ndarray:
    """A black BGRX framebuffer of the given size."""
    return np.zeros((height, width, BYTES_PER_PIXEL), dtype=np.uint8)


class Frame(NamedTuple):
    """What :meth:`FrameMailbox.take` hands the renderer."""

    pixels: np.ndarray  # (h, w, 4) uint8, BGRX; may be a view with a row stride
    dirty: Rect  # the union of everything changed since the last take
    resized: bool  # True when the size differs from the previous take (or first take)
    serial: int  # how many publishes this take covers in total (for update-rate stats)


class FrameMailbox:
    """A one-slot, latest-wins hand-over of frames from a source to the renderer.

    ``publish`` may be called from any thread; ``take`` from the main loop only.
    ``on_ready`` (set by the shell) is called after a publish that found the mailbox
    empty, so the main loop is woken once per batch rather than once per publish.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pixels: np.ndarray | None = None
        self._dirty: Rect | None = None
        self._taken_shape: tuple[int, int] | None = None
        self._published = 0
        self.on_ready: Callable[[], None] | None = None

    @property
    def published(self) -> int:
        """How many frames were published in total (monotonic)."""
        return self._published

    @property
    def pending(self) -> bool:
        """Whether a published change waits to be taken."""
        return self._dirty is not None

    def publish(self, pixels: np.ndarray, dirty: Rect | None = None) -> None:
        """Hand over ``pixels`` with ``dirty`` changed (None: the whole frame)."""
        if pixels.ndim != 3 or pixels.shape[2] != BYTES_PER_PIXEL or pixels.dtype != np.uint8:
            raise ValueError(f"frame must be (h, w, 4) uint8, got {pixels.shape} {pixels.dtype}")
        height, width = pixels.shape[:2]
        whole = Rect(0, 0, width, height)
        rect = whole if dirty is None else dirty.clip(width, height)
        with self._lock:
            was_empty = self._dirty is None
            if (height, width) != self._taken_shape:
                rect = whole  # a new size is uploaded in full
            self._pixels = pixels
            if rect is not None:
                self._dirty = rect if self._dirty is None else self._dirty.union(rect)
                self._dirty = self._dirty.clip(width, height)
            self._published += 1
        if was_empty and self._dirty is not None and self.on_ready is not None:
            self.on_ready()

    def take(self) -> Frame | None:
        """The newest frame and its dirty union, or None when nothing changed."""
        with self._lock:
            if self._dirty is None or self._pixels is None:
                return None
            pixels, dirty = self._pixels, self._dirty
            shape = pixels.shape[:2]
            resized = shape != self._taken_shape
            self._taken_shape = shape
            self._dirty = None
            return Frame(pixels, dirty, resized, self._published)

    def peek_pixels(self) -> np.ndarray | None:
        """The newest published buffer (for screenshots and tests), without taking it."""
        with self._lock:
            return self._pixels
