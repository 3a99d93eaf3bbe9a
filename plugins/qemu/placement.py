"""Where a VM is heard from: its tile's place on screen as a gain and a stereo pan.

* **pan** follows the tile's centre across the window: -1 at the left edge, 0 in the
  middle, 1 at the right edge (equal-power panning is the mixer's, :mod:`.mixer`);
* **gain** follows how much of the window the tile covers: a tile that fills the window
  plays at full volume, one a tenth of its width at about a third; never below
  :data:`MIN_GAIN` while any of it is on screen, and silent once it is not;
* **focus** brings a tile to the front: the focused VM plays at full volume and half
  way to the middle, and the others are ducked by :data:`DUCK` meanwhile.

Pure arithmetic on screen rectangles, so the map's layer calls it every frame it draws.
"""

from __future__ import annotations

import math

MIN_GAIN = 0.15
DUCK = 0.5


def placement(rect: tuple[float, float, float, float], window: tuple[float, float], *,
              focused: bool = False, other_focused: bool = False) -> tuple[float, float]:
    """(gain 0..1, pan -1..1) of a tile at ``rect`` (x, y, w, h in window pixels) in a ``window`` (w, h)."""
    x, y, w, h = rect
    width, height = window
    visible_w = max(0.0, min(x + w, width) - max(x, 0.0))
    visible_h = max(0.0, min(y + h, height) - max(y, 0.0))
    if visible_w <= 0 or visible_h <= 0 or width <= 0 or height <= 0:
        return 0.0, 0.0
    pan = max(-1.0, min(1.0, (x + w / 2 - width / 2) / (width / 2)))
    cover = min(1.0, visible_w * visible_h / (width * height))
    gain = max(MIN_GAIN, min(1.0, math.sqrt(cover)))
    if focused:
        return 1.0, pan / 2
    return (gain * DUCK if other_focused else gain), pan
