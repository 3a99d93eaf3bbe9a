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
Numbers and the on/off comparison are in docs/performance.md.
"""

from __future__ import annotations

import math
import time
from typing import Any

MIN_RATE = 2.0  # uploads per second of a visible, rate-limited tile, at the least
IDLE_REDRAW = 0.5  # seconds: the longest the map goes without a redraw


class StreamingPolicy:
    """Upload intervals per tile and redraw decisions for one shell (main thread only)."""

    def __init__(self, enabled: bool, fps: int) -> None:
        self.enabled = enabled
        self.fps = fps
        self._slots: dict[str, int] = {}  # tile name -> the last slot it uploaded in
        self._pending = True  # something changed since the last frame drawn
        self._drawn_at = -math.inf
        self._signature: tuple[Any, ...] = ()
        self._animated_key: tuple[Any, ...] | None = None
        self._animated = False

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
            return False
        return interval <= 0 or self._slots.get(tile) != int(now / interval)

    def uploaded(self, tile: str, interval: float | None, now: float) -> None:
        """``tile``'s texture changed: record its slot; the next frame must be drawn."""
        if interval:
            self._slots[tile] = int(now / interval)
        self._pending = True

    def poke(self) -> None:
        """Input arrived (or anything else the policy cannot see): draw the next frame."""
        self._pending = True

    # ---------------------------------------------------------------- redraws
    def frame_needed(self, shell: Any, now: float | None = None) -> bool:
        """Whether the shell must draw a frame now (see the module docstring)."""
        if not self.enabled or shell.options.frames is not None:
            return True  # a bounded run (--frames, screenshots) draws every frame it counts
        now = time.monotonic() if now is None else now
        signature = self._state(shell)
        needed = (self._pending or signature != self._signature or shell.camera.animating
                  or shell.hud_visible or self._effects_animate(shell) or bool(shell.errors())
                  or now - self._drawn_at >= IDLE_REDRAW)
        if needed:
            self._pending = False
            self._signature = signature
            self._drawn_at = now
        return needed

    @staticmethod
    def _state(shell: Any) -> tuple[Any, ...]:
        """What the map looks like apart from textures and animation."""
        camera = shell.camera
        tiles = tuple((t.spec, t.ctx.state, t.ctx.reason, t.too_large) for t in shell.tiles)
        programs = tuple(p.generation for p in shell.programs.values())
        effects = tuple((id(e), tuple(e.uniforms().items())) for e in shell.effects)
        return (camera.version, camera.width, camera.height, id(shell.focused), tiles, programs, effects)

    def _effects_animate(self, shell: Any) -> bool:
        """Whether an active effect may change the picture by itself from frame to frame."""
        key = tuple(id(e) for e in shell.effects)
        if key != self._animated_key:
            self._animated_key = key
            self._animated = any(_animates(e.kind) for e in shell.effects)
        return self._animated


def _animates(kind: Any) -> bool:
    """Screen effects and effects with per-tile uniforms may animate; a tile effect
    animates if its shader reads the time."""
    if kind.stage != "tile" or kind.per_tile is not None:
        return True
    try:
        return "u_time" in kind.shader.read_text(encoding="utf-8")
    except OSError:
        return True
