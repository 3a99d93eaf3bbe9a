"""World <-> screen math and camera motion.  Rendering and hit-testing both use this.

Coordinates:

* *World*: unbounded; one unit is one guest pixel at zoom 1; y grows downwards
  (like a framebuffer), so a tile at ``(x, y)`` with size ``(w, h)`` covers
  ``x..x+w`` and ``y..y+h``.
* *Screen*: window pixels, origin at the top-left corner, y downwards.  (pyglet's
  event coordinates have y upwards; engine/events.py converts them on arrival.)

The camera is ``(x, y)`` — the world point at the centre of the window — and
``zoom`` — screen pixels per world unit.  Motion (zoom steps, fly-to, fit-all) is
animated towards a target with an ease-out curve; :meth:`update` advances it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

MIN_ZOOM = 0.02
MAX_ZOOM = 32.0


class WorldRect(NamedTuple):
    x: float
    y: float
    w: float
    h: float

    def contains(self, wx: float, wy: float) -> bool:
        return self.x <= wx < self.x + self.w and self.y <= wy < self.y + self.h

    def intersects(self, other: WorldRect) -> bool:
        return (self.x < other.x + other.w and other.x < self.x + self.w
                and self.y < other.y + other.h and other.y < self.y + self.h)


def bounds(rects: Iterable[WorldRect]) -> WorldRect | None:
    """The smallest rectangle holding all ``rects`` (None if there are none)."""
    rects = list(rects)
    if not rects:
        return None
    x0 = min(r.x for r in rects)
    y0 = min(r.y for r in rects)
    x1 = max(r.x + r.w for r in rects)
    y1 = max(r.y + r.h for r in rects)
    return WorldRect(x0, y0, x1 - x0, y1 - y0)


def ease_out(t: float) -> float:
    """Cubic ease-out: fast start, gentle arrival."""
    return 1.0 - (1.0 - t) ** 3


def clamp_zoom(zoom: float) -> float:
    return min(MAX_ZOOM, max(MIN_ZOOM, zoom))


class Camera:
    """The view onto the world: centre, zoom, viewport size, and animated motion."""

    def __init__(self, width: int, height: int, x: float = 0.0, y: float = 0.0, zoom: float = 1.0) -> None:
        self.width, self.height = width, height
        self.x, self.y, self.zoom = x, y, clamp_zoom(zoom)
        self._anim: tuple[tuple[float, float, float], tuple[float, float, float], float, float] | None = None
        self.version = 0  # bumped on every change, so layers can cache screen positions

    # ------------------------------------------------------------ conversions
    def world_to_screen(self, wx: float, wy: float) -> tuple[float, float]:
        return ((wx - self.x) * self.zoom + self.width / 2, (wy - self.y) * self.zoom + self.height / 2)

    def screen_to_world(self, sx: float, sy: float) -> tuple[float, float]:
        return ((sx - self.width / 2) / self.zoom + self.x, (sy - self.height / 2) / self.zoom + self.y)

    def rect_to_screen(self, rect: WorldRect) -> tuple[float, float, float, float]:
        sx, sy = self.world_to_screen(rect.x, rect.y)
        return sx, sy, rect.w * self.zoom, rect.h * self.zoom

    def visible_world(self) -> WorldRect:
        x0, y0 = self.screen_to_world(0, 0)
        return WorldRect(x0, y0, self.width / self.zoom, self.height / self.zoom)

    def matrix(self) -> tuple[float, ...]:
        """World -> clip space, column-major 4x4 (for a ``mat4`` uniform)."""
        sx = 2.0 * self.zoom / self.width
        sy = -2.0 * self.zoom / self.height
        return (sx, 0.0, 0.0, 0.0,
                0.0, sy, 0.0, 0.0,
                0.0, 0.0, 1.0, 0.0,
                -self.x * sx, -self.y * sy, 0.0, 1.0)

    # ------------------------------------------------------------------ motion
    def resize(self, width: int, height: int) -> None:
        self.width, self.height = max(1, width), max(1, height)
        self.version += 1

    def set(self, x: float, y: float, zoom: float) -> None:
        """Jump (no animation)."""
        self._anim = None
        self.x, self.y, self.zoom = x, y, clamp_zoom(zoom)
        self.version += 1

    def pan_pixels(self, dx: float, dy: float) -> None:
        """Move the view by screen pixels (a drag of ``dx, dy`` moves the world with the pointer)."""
        self._anim = None
        self.x -= dx / self.zoom
        self.y -= dy / self.zoom
        self.version += 1

    def zoom_target_about(self, factor: float, sx: float, sy: float) -> tuple[float, float, float]:
        """The camera after zooming by ``factor`` so that the world point under ``(sx, sy)`` stays put."""
        base = self._anim[1] if self._anim else (self.x, self.y, self.zoom)
        zoom = clamp_zoom(base[2] * factor)
        # the world point under the cursor, as seen from the target camera's centre
        wx = (sx - self.width / 2) / base[2] + base[0]
        wy = (sy - self.height / 2) / base[2] + base[1]
        return (wx - (sx - self.width / 2) / zoom, wy - (sy - self.height / 2) / zoom, zoom)

    def zoom_about(self, factor: float, sx: float, sy: float, duration: float = 0.15) -> None:
        self.animate_to(*self.zoom_target_about(factor, sx, sy), duration=duration)

    def fit_target(self, rect: WorldRect, margin: float = 0.06) -> tuple[float, float, float]:
        """The camera that shows ``rect`` whole, centred, with a margin around it."""
        usable_w = self.width * (1 - 2 * margin)
        usable_h = self.height * (1 - 2 * margin)
        zoom = clamp_zoom(min(usable_w / max(rect.w, 1e-6), usable_h / max(rect.h, 1e-6)))
        return rect.x + rect.w / 2, rect.y + rect.h / 2, zoom

    def fly_to(self, rect: WorldRect, duration: float = 0.45) -> None:
        self.animate_to(*self.fit_target(rect), duration=duration)

    def animate_to(self, x: float, y: float, zoom: float, duration: float) -> None:
        target = (x, y, clamp_zoom(zoom))
        if duration <= 0:
            self.set(*target)
            return
        # zoom is interpolated in log space so that a zoom-out feels as fast as a zoom-in
        self._anim = ((self.x, self.y, self.zoom), target, 0.0, duration)

    @property
    def animating(self) -> bool:
        return self._anim is not None

    @property
    def animation_target(self) -> tuple[float, float, float] | None:
        """Where an animation will leave the camera (x, y, zoom), or None when it is still."""
        return self._anim[1] if self._anim is not None else None

    def update(self, dt: float) -> bool:
        """Advance the animation by ``dt`` seconds; True while the camera moves."""
        if self._anim is None:
            return False
        start, target, elapsed, duration = self._anim
        elapsed = min(duration, elapsed + dt)
        t = ease_out(elapsed / duration)
        self.x = start[0] + (target[0] - start[0]) * t
        self.y = start[1] + (target[1] - start[1]) * t
        self.zoom = math.exp(math.log(start[2]) + (math.log(target[2]) - math.log(start[2])) * t)
        self._anim = None if elapsed >= duration else (start, target, elapsed, duration)
        self.version += 1
        return True
