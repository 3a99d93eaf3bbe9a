"""The frame path, engine-owned: mailbox -> streaming policy -> texture -> tile state.

Every tile's pixels take this path, whatever plugin made them: the source publishes
into its tile's :class:`~geometry_os.frames.FrameMailbox` from any thread; on the main
loop, :meth:`FramePath.upload` takes the frames that zoom-aware streaming says are due
(:mod:`geometry_os.streaming`; never those of a tile a layer marks ``covered``), uploads
their dirty rectangles into the tile's :class:`~geometry_os.render.texture.StreamTexture`
and records the tile's frame size.
Renderer plugins only *draw* ``tile.texture``; pointer mapping (``tile.guest_pixel``)
reads ``tile.frame_size``.  So a blocked or replaced renderer never breaks input.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from geometry_os.frames import Frame, FrameMailbox, Rect
from geometry_os.render.texture import StreamTexture
from geometry_os.streaming import Box, StreamingPolicy

if TYPE_CHECKING:
    from geometry_os.camera import Camera
    from geometry_os.tiles import Tile

SAME_CHECK_PIXELS = 128 * 128  # damage rectangles up to this size are compared before upload
SAME_CHECK_RECTS = 8  # per tile


class FramePath:
    """Uploads of every tile's frames (main thread: it owns the GL context)."""

    def __init__(self, policy: StreamingPolicy) -> None:
        self.policy = policy
        self._patches: dict[str, dict[Rect, np.ndarray]] = {}  # tile -> small rects last uploaded
        self._taken: dict[FrameMailbox, int] = {}  # a tile's mailbox -> its publish count when last taken

    def upload(self, tiles: Sequence[Tile], camera: Camera, focused: Tile | None, whole_images: bool) -> None:
        """Upload the frames that are due.  ``whole_images``: a tile effect runs, so any
        change redraws a tile's whole image (curvature moves pixels within the tile).

        A tile that is not due keeps its frame in its mailbox, which merges later damage
        into it; an untaken mailbox also stops waking the main loop.
        """
        policy = self.policy
        view = camera.visible_world()
        now = time.monotonic()
        taken = self._taken
        for tile in tiles:
            # Nothing published since the last take: the common case, and all it costs (this
            # runs on every tick and every wake, for every tile).
            mailbox = tile.ctx.mailbox
            published = mailbox.published
            if tile.covered or taken.get(mailbox) == published:  # covered: its mailbox merges meanwhile
                continue
            fw = tile.frame_size[0]
            scale = tile.image_rect.w * camera.zoom / fw if fw else None
            interval = policy.interval(tile.footprint.intersects(view), tile is focused, scale)
            if not policy.due(tile.name, interval, now):
                continue
            frame = mailbox.take()
            taken[mailbox] = published if frame is None else frame.serial
            if frame is None or self._unchanged(tile, frame):
                continue
            if tile.texture is None:
                tile.texture = StreamTexture()
            rect = tile.texture.upload(frame)
            tile.too_large = rect is None
            height, width = frame.pixels.shape[:2]
            moved = rect is None or tile.frame_size != (width, height)  # the image rect and labels change
            tile.frame_size = (width, height)
            if moved or rect is None or not policy.enabled:  # streaming off: where it changed is not used
                policy.uploaded(tile.name, interval, now)
            else:
                policy.uploaded(tile.name, interval, now, *screen_damage(tile, rect, camera, whole_images))

    def forget(self, tile: Tile) -> None:
        """Release a tile's texture and what was remembered of it (the tile is going away)."""
        if tile.texture is not None:
            tile.texture.delete()
            tile.texture = None
        self._patches.pop(tile.name, None)
        self._taken.pop(tile.ctx.mailbox, None)

    def _unchanged(self, tile: Tile, frame: Frame) -> bool:
        """Whether ``frame`` only repeats small damage rectangles with the pixels already uploaded.

        QEMU re-sends damage for pixels that did not change: an idle VGA text console
        reports its cursor cell on every 30 ms refresh, and each upload would cost a
        redraw of the whole map.  Small rectangles (the last few per tile) are kept and
        compared; a larger upload drops the ones it overlaps.
        """
        d = frame.dirty
        patches = self._patches.setdefault(tile.name, {})
        if frame.resized or tile.texture is None:
            patches.clear()
            return False
        patch = frame.pixels[d.y:d.y + d.h, d.x:d.x + d.w]
        if d.w * d.h > SAME_CHECK_PIXELS:
            for rect in [r for r in patches if _overlap(r, d)]:
                del patches[rect]
            return False
        if d in patches and np.array_equal(patches[d], patch):
            return True
        for rect in [r for r in patches if _overlap(r, d)]:
            del patches[rect]
        if len(patches) >= SAME_CHECK_RECTS:
            del patches[next(iter(patches))]
        patches[d] = patch.copy()
        return False


def screen_damage(tile: Tile, rect: Rect, camera: Camera, whole_image: bool) -> tuple[Box, Box]:
    """Where on screen an upload of ``rect`` (guest pixels) shows, and the pixels the
    tile's image covers: two (x0, y0, x1, y1) boxes of whole screen pixels.

    Two pixels more on each side of the rectangle for linear filtering; the whole
    image when ``whole_image``.  Nothing outside the image's pixels changes: a pixel
    belongs to the image when its centre is inside the quad (GL's rule).
    """
    r = tile.image_rect
    fw, fh = tile.frame_size
    if whole_image:
        rect = Rect(0, 0, fw, fh)
    qx0, qy0 = camera.world_to_screen(r.x, r.y)
    qx1, qy1 = camera.world_to_screen(r.x + r.w, r.y + r.h)
    image = (math.ceil(qx0 - 0.5), math.ceil(qy0 - 0.5), math.ceil(qx1 - 0.5), math.ceil(qy1 - 0.5))
    x0, y0 = camera.world_to_screen(r.x + rect.x * r.w / fw, r.y + rect.y * r.h / fh)
    x1, y1 = camera.world_to_screen(r.x + (rect.x + rect.w) * r.w / fw, r.y + (rect.y + rect.h) * r.h / fh)
    damage = (max(image[0], math.floor(x0) - 2), max(image[1], math.floor(y0) - 2),
              min(image[2], math.ceil(x1) + 2), min(image[3], math.ceil(y1) + 2))
    return damage, image


def _overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h
