"""Time dilation: machines out of view for a while are paused, and resumed as the view nears them.

A tile opts in with ``offscreen: pause`` in its scene entry (``offscreen_grace`` seconds
out of view first).  "Near" is the visible world grown by :data:`NEAR_MARGIN` of its size
on every side, plus where an animated camera is going: a tile is resumed while it is
still off screen, so it is usually running again before it shows.  The policy only ever
resumes machines it paused itself; a pause a user asked for (the menu, the Pause key,
``geos vm pause``) is never undone.  docs/controls.md is the user's side.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
import weakref
from typing import Any

from geometry_os import api
from geometry_os.plugins.desktop.layer import TextPool, font_size
from geometry_os.render.solid import SolidRects

log = logging.getLogger(__name__)

#: How far beyond the window a tile counts as near, as a fraction of the view's size per side.
NEAR_MARGIN = 0.5
#: What the badge of a machine paused by this policy says.
BADGE = "paused (off screen)"
BADGE_COLOR = (0.25, 0.35, 0.60, 1.0)


def near_region(camera: api.Camera) -> api.WorldRect:
    """The world the view is at or about to be at: its rectangle grown by :data:`NEAR_MARGIN` per side."""
    view = camera.visible_world()
    mx, my = view.w * NEAR_MARGIN, view.h * NEAR_MARGIN
    return api.WorldRect(view.x - mx, view.y - my, view.w + 2 * mx, view.h + 2 * my)


def _lifecycle(tile: api.Tile) -> api.Lifecycle | None:
    return tile.source.capabilities.lifecycle if tile.source is not None else None


class OffscreenPolicy:
    """Pauses and resumes the machines of one map by where they are (main thread only)."""

    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.away_since: dict[str, float] = {}  # tile -> when it left the near region
        self.paused: dict[str, bool] = {}  # tiles this policy paused -> whether they were seen paused since
        self.busy: dict[str, concurrent.futures.Future[Any]] = {}  # tile -> its pause or resume under way

    def regions(self) -> list[api.WorldRect]:
        """Where the view is and, while the camera flies, where it will land."""
        camera = self.shell.camera
        regions = [near_region(camera)]
        target = camera.animation_target
        if target is not None:
            landed = api.Camera(camera.width, camera.height, *target)
            regions.append(near_region(landed))
        return regions

    def badge(self, tile: api.Tile) -> str | None:
        """What the tile's badge says instead of its state, or None."""
        return BADGE if tile.name in self.paused and tile.ctx.state is api.TileState.PAUSED else None

    def update(self, now: float) -> None:
        """Pause the machines away for their grace time, resume the paused ones that came near."""
        regions = self.regions()
        names = set()
        for tile in self.shell.tiles:
            names.add(tile.name)
            self._settle(tile, now)
            machine = _lifecycle(tile)
            if machine is None or tile.name in self.busy:
                continue
            near = any(tile.footprint.intersects(region) for region in regions)
            if near or tile.spec.offscreen != "pause":
                self.away_since.pop(tile.name, None)
                if tile.name in self.paused:
                    self._resume(tile, machine)
                continue
            since = self.away_since.setdefault(tile.name, now)
            if (tile.ctx.state is api.TileState.RUNNING and tile.name not in self.paused
                    and now - since >= tile.spec.offscreen_grace):
                self._pause(tile, machine)
        for gone in set(self.away_since) - names:
            del self.away_since[gone]
        for gone in set(self.paused) - names:
            del self.paused[gone]

    def _settle(self, tile: api.Tile, now: float) -> None:
        """Take note of a pause or resume that finished, and of a machine someone else resumed.
        A pause that failed is tried again after another grace time."""
        future = self.busy.get(tile.name)
        if future is not None:
            if not future.done():
                return
            del self.busy[tile.name]
            if future.exception() is not None:
                log.warning("time dilation: %s: %s", tile.name, future.exception())
                self.paused.pop(tile.name, None)
                self.away_since[tile.name] = now
                return
        if tile.name not in self.paused:
            return
        if tile.ctx.state is api.TileState.PAUSED:
            self.paused[tile.name] = True  # the guest's STOP may reach the badge after the pause's answer
        elif self.paused[tile.name]:
            # resumed (or stopped) by someone else: the user's word wins, the grace time starts again
            del self.paused[tile.name]
            self.away_since.pop(tile.name, None)

    def _pause(self, tile: api.Tile, machine: api.Lifecycle) -> None:
        log.info("time dilation: pausing %s (off screen for %.0f s)", tile.name, tile.spec.offscreen_grace)
        self.paused[tile.name] = False
        self.busy[tile.name] = machine.pause()

    def _resume(self, tile: api.Tile, machine: api.Lifecycle) -> None:
        del self.paused[tile.name]
        if tile.ctx.state is not api.TileState.PAUSED:
            return
        log.info("time dilation: resuming %s (near the view)", tile.name)
        self.busy[tile.name] = machine.resume()


class DilationLayer:
    """Runs the policy once per frame drawn (at least twice a second: the shell's idle redraw)
    and draws the badges of the machines it paused."""

    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.policy = policy_of(shell)
        self.rects = SolidRects(shell)
        self.text = TextPool()

    def state(self) -> tuple[str, ...]:
        """The badges drawn (a change redraws the map)."""
        return tuple(sorted(self.policy.paused))

    def draw(self) -> None:
        self.policy.update(time.monotonic())
        camera = self.shell.camera
        self.rects.clear()
        self.text.begin()
        view = camera.visible_world()
        size = font_size(api.TITLE_BAR_HEIGHT * camera.zoom)
        for tile in self.shell.tiles:
            badge = self.policy.badge(tile)
            if badge is None or size is None or not tile.footprint.intersects(view):
                continue  # a title bar too small to read: a card (cards.py) says it
            r = tile.rect
            inset = 5.0
            x0 = r.x + r.w - min(r.w * 0.45, 150.0) - inset
            self.rects.add(x0, r.y - api.TITLE_BAR_HEIGHT + inset, r.x + r.w - inset, r.y - inset, BADGE_COLOR)
            sx, sy = camera.world_to_screen(r.x + r.w - inset - 3, r.y - api.TITLE_BAR_HEIGHT / 2)
            self.text.add(badge, sx, camera.height - sy, max(6, size - 2), anchor_x="right")
        self.rects.draw(camera.matrix())
        self.text.draw()

    def delete(self) -> None:
        self.text.delete()


_POLICIES: weakref.WeakKeyDictionary[Any, OffscreenPolicy] = weakref.WeakKeyDictionary()


def policy_of(shell: api.ShellView) -> OffscreenPolicy:
    """The time dilation policy of ``shell`` (made on first use; cards read its badges)."""
    policy = _POLICIES.get(shell)
    if policy is None:
        policy = _POLICIES[shell] = OffscreenPolicy(shell)
    return policy
