"""Zoom-aware streaming: how often each tile's frames are uploaded, and when the map is redrawn.

A tile drawn smaller than its guest screen shows only a fraction of the guest's
pixels, so uploading and redrawing it at the guest's full rate buys nothing a user
can see.  The tile renderer asks :meth:`StreamingPolicy.interval` per tile:

* a tile outside the view: never (``None``).  Its mailbox keeps merging damage
  rectangles (the source's framebuffer stays current), so the first upload after
  it comes back into view is one upload of everything that changed: it catches up
  at once;
* streaming off, the focused tile, a tile drawn at one screen pixel per guest pixel
  or more, or a tile whose guest size is not known yet: every frame (``0``);
* any other tile: ``fps * scale**2`` uploads a second (``scale``: screen pixels per
  guest pixel, so the rate follows the fraction of the guest's pixels that are
  shown), at least :data:`MIN_RATE`, as a whole power-of-two multiple of the frame
  interval.  Those intervals start on shared absolute time slots, so tiles of
  similar size upload on the same frame and one redraw serves them all.

Redraws (:meth:`StreamingPolicy.frame_needed`): with streaming on, the shell draws
a frame only when something on screen may have changed: a texture was uploaded,
the camera, focus, tiles or a shader changed, input arrived, the HUD or an error is
shown, or an effect animates.  A frame is drawn at least every
:data:`IDLE_REDRAW` seconds anyway, so anything this list misses is late, never lost.
Between frames an idle map is not ticked at all (:meth:`StreamingPolicy.idle_until`,
:mod:`geometry_os.pacing`): once nothing was drawn, nothing is pending, nothing
animates and no input came for :data:`ACTIVE_GRACE` seconds, the next tick is the
idle redraw, or the slot of a tile whose frame waits for it.  A new frame, input
(:meth:`StreamingPolicy.poke`) or a state change wakes the loop at once; a change
nothing announces (a layer's ``state()``) shows within :data:`IDLE_REDRAW`.
When only tile textures changed, the frame is drawn inside a scissor box around the
changed pixels (:attr:`StreamingPolicy.region`): on a software renderer a frame's
cost is its shaded pixels, and a text cursor blinking is 9x16 of them, not the
whole window; when that box lies inside one tile's (opaque) image,
:attr:`StreamingPolicy.region_opaque` tells layers under the tiles (the map grid)
that they need not draw.  A layer whose picture changes by itself has a ``state()``
method (compared every frame; a change redraws everything) or calls
``shell.streaming.poke()``.
Numbers and the on/off comparison are in docs/performance.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

MIN_RATE = 2.0  # uploads per second of a visible, rate-limited tile, at the least
IDLE_REDRAW = 0.5  # seconds: the longest the map goes without a redraw
ACTIVE_GRACE = 1.0  # seconds after input during which the map ticks at the frame rate
                    # (the guest answers input with cursor moves nothing announces)

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in screen pixels (y down), end exclusive


class StreamingPolicy:
    """Upload intervals per tile and redraw decisions for one shell (main thread only)."""

    def __init__(self, enabled: bool, fps: int) -> None:
        self.enabled = enabled
        self.fps = fps
        self._slots: dict[str, int] = {}  # tile name -> the last slot it uploaded in
        self._pending = True  # something changed since the last frame drawn
        self._full = True  # ... and it may be anywhere on screen (else only in _damage)
        self._damage: Box | None = None  # union of the changes since the last frame
        self._images: list[Box] = []  # the images those changes are in
        self.region: tuple[int, int, int, int] | None = None  # scissor box of the frame to draw, or None
        self.region_opaque = False  # the region lies inside one opaque tile image
        self._drawn_at = -math.inf
        self._signature: tuple[Any, ...] = ()
        self._slot_ends: dict[str, float] = {}  # tile -> when the slot it may not upload in ends
        self._poked_at = -math.inf
        self.wake: Callable[[], None] = lambda: None  # set by the shell: ends the pacer's idle wait

    # ---------------------------------------------------------------- uploads
    def interval(self, visible: bool, focused: bool, scale: float | None) -> float | None:
        """Seconds between uploads of a tile (0: every frame; None: not at all).

        ``scale`` is the tile's on-screen size in screen pixels per guest pixel (None
        when no frame has been shown yet).
        """
        if not visible and self.enabled:
            return None
        if not self.enabled or focused:
            return 0.0
        if scale is None or scale >= 1.0:
            return 0.0
        frame = 1.0 / self.fps
        rate = max(MIN_RATE, self.fps * scale * scale)
        steps = 2 ** math.ceil(math.log2(max(1.0, self.fps / rate) - 1e-9))
        return min(frame * steps, 1.0 / MIN_RATE) if steps > 1 else 0.0

    def due(self, tile: str, interval: float | None, now: float) -> bool:
        """Whether ``tile`` may upload now: it has not uploaded in the current slot."""
        if interval is None:
            self._slot_ends[tile] = math.inf  # out of view: its frames wait until it comes back
            return False
        if interval <= 0:
            return True
        slot = int(now / interval)
        if self._slots.get(tile) != slot:
            return True
        self._slot_ends[tile] = (slot + 1) * interval
        return False

    def uploaded(self, tile: str, interval: float | None, now: float, damage: Box | None = None,
                 image: Box | None = None) -> None:
        """``tile``'s texture changed: record its slot; the next frame must be drawn.

        ``damage`` is where on screen it changed and ``image`` the screen pixels its
        opaque image covers (x0, y0, x1, y1, y down, end exclusive); None: anywhere (a
        new size moves the image and its title).
        """
        if interval:
            self._slots[tile] = int(now / interval)
        self._pending = True
        if damage is None or image is None:
            self._full = True
            return
        d = self._damage
        self._damage = damage if d is None else (min(d[0], damage[0]), min(d[1], damage[1]),
                                                 max(d[2], damage[2]), max(d[3], damage[3]))
        self._images.append(image)

    def poke(self) -> None:
        """Input arrived (or anything else the policy cannot see): redraw everything next frame."""
        self._pending = True
        self._full = True
        self._poked_at = time.monotonic()
        self.wake()

    # ---------------------------------------------------------------- redraws
    def frame_needed(self, shell: Any, now: float | None = None) -> bool:
        """Whether the shell must draw a frame now (see the module docstring).

        When it must, :attr:`region` is the scissor box that holds every change
        (only tile textures changed), or None: draw everything.  Off, and in a bounded
        run (``--frames``, screenshots), every frame is drawn, in full.
        """
        now = time.monotonic() if now is None else now
        self.region = None
        self.region_opaque = False
        if self.enabled and shell.options.frames is None:
            signature = self._state(shell)
            anywhere = (self._full or signature != self._signature or shell.camera.animating or shell.hud_visible
                        or self._effects_animate(shell) or bool(shell.errors())
                        or now - self._drawn_at >= IDLE_REDRAW)
            if not (anywhere or self._pending):
                return False
            if not anywhere and self._damage is not None:
                self.region = _scissor(self._damage, shell.camera.width, shell.camera.height)
                self.region_opaque = any(_inside(self._damage, image) for image in self._images)
            self._signature = signature
        self._pending = self._full = False
        self._damage = None
        self._images.clear()
        self._drawn_at = now
        return True

    def idle_until(self, shell: Any, now: float) -> float | None:
        """Until when the shell need not tick (None: tick at the frame rate).

        Only with streaming on, outside bounded runs, with nothing pending or animating,
        no HUD or error on screen and no input for ACTIVE_GRACE seconds; then until the
        idle redraw, or earlier the slot end of a tile whose frame waits to be uploaded.
        """
        if (not self.enabled or shell.options.frames is not None or self._pending
                or now - self._poked_at < ACTIVE_GRACE):
            return None
        if shell.camera.animating or shell.hud_visible or self._effects_animate(shell) or shell.errors():
            return None
        until = self._drawn_at + IDLE_REDRAW
        for tile in shell.tiles:
            if tile.ctx.mailbox.pending and not tile.covered:
                until = min(until, self._slot_ends.get(tile.name, now))
        return until

    def draw_due(self, now: float, interval: float) -> bool:
        """Whether a new frame waits to be drawn and drawing it now keeps frames ``interval``
        apart: the shell then draws at once instead of at its next deadline."""
        return self.enabled and self._pending and now - self._drawn_at >= interval

    @staticmethod
    def _state(shell: Any) -> tuple[Any, ...]:
        """What the map looks like apart from textures and animation."""
        camera = shell.camera
        tiles = tuple((t.spec, t.ctx.state, t.ctx.reason, t.too_large) for t in shell.tiles)
        programs = shell.programs.generations()
        effects = tuple((id(e), e.params) for e in shell.effects)  # any parameter, not only uniforms
        # layers that draw more than textures (the guest cursor) say what they look like
        layers = tuple(layer.state() for _, layer in shell.layers if hasattr(layer, "state"))
        return (camera.version, camera.width, camera.height, id(shell.focused), tiles, programs, effects, layers)

    @staticmethod
    def _effects_animate(shell: Any) -> bool:
        """Whether an active effect may change the picture by itself from frame to frame (the
        effect chains work it out: per-tile uniforms, the clock, frame counters, feedback)."""
        return any(e.animates for e in shell.effects)


def _scissor(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """A box of screen pixels (y down) as a GL scissor box (x, y up, w, h), clipped."""
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
    return x0, height - max(y0, y1), max(0, x1 - x0), max(0, y1 - y0)


def _inside(box: Box, outer: Box) -> bool:
    return outer[0] <= box[0] and outer[1] <= box[1] and box[2] <= outer[2] and box[3] <= outer[3]
