"""The guest's screen as QEMU describes it: a BGRX framebuffer, published to the tile's mailbox.

QEMU hands a surface over in one of two ways (its ``ui/dbus-display1.xml``):

* inline: ``Scanout`` carries a whole frame, ``Update`` a damaged rectangle with its
  pixels.  After a guest mode switch, Updates for the new size can come with no new
  Scanout, so an inline surface follows the console size (the Console's
  ``Width``/``Height`` properties) and grows to fit an Update past its edge;
* shared memory (``Listener.Unix.Map``, QEMU >= 9.2): ``ScanoutMap`` passes a memfd
  holding QEMU's live surface, ``UpdateMap`` only says which rectangle changed.  The
  memfd is mapped with a guard (:mod:`.shared_surface`: a QEMU that shrinks it cannot
  SIGBUS the shell) and published as it is when its format is BGRX already (a torn
  read is repaired by the next damage rectangle), converted otherwise.  A memfd that
  shrank is reported once through ``on_fault`` with a one-line reason; what was lost
  reads as black.

A damage rectangle whose pixels did not change is not published: QEMU's text console
re-sends its cursor cell on every 30 ms refresh, blinking or not, and each publish wakes
the shell's main loop, so an idle text VM would cost the shell ~3% of a core for nothing.
Small rectangles (:data:`COMPARE_MAX_BYTES`) are compared with what they replace.  A shared
surface is QEMU's live memory, so the surface keeps a copy of what it last published to
compare with; a row published by a rectangle too big to compare has no such copy, so the
next small rectangle in it publishes its whole row and copies it.

``Disable`` (the guest turned its display off) publishes a black frame.  Formats are
converted by :mod:`.pixels`.  Nothing here knows D-Bus: a :class:`Surface` is fed
plain values, and malformed ones raise :class:`~.pixels.PixelError`, ``ValueError``
or ``OSError`` for the caller to log and drop; the surface is unchanged then.  A
surface is used from one thread (the display client's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from geometry_os.api import FrameMailbox, Rect, new_framebuffer

from . import pixels
from .shared_surface import SharedSurface, SurfaceLost

log = logging.getLogger(__name__)

COMPARE_MAX_BYTES = 64 << 10  # damage this small (a text cursor's rows) is compared before it is published


class DisplayStats:
    """Counters of one display connection, written on its thread, read anywhere (plain ints)."""

    def __init__(self) -> None:
        self.scanouts = 0  # inline full frames
        self.updates = 0  # inline damage rectangles
        self.scanout_maps = 0  # shared-memory surfaces
        self.update_maps = 0  # shared-memory damage rectangles
        self.inline_bytes = 0
        self.frames = 0  # publishes to the mailbox
        self.unchanged = 0  # damage rectangles whose pixels were the same (not published)
        self.dropped = 0  # malformed or unsupported messages
        self.inputs = 0  # input calls QEMU accepted
        self.input_errors = 0  # input calls QEMU refused (e.g. "Mouse is not absolute")

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class Surface:
    """One VM's framebuffer, kept from QEMU's scanouts and damage, published to ``mailbox``.

    ``on_disabled(bool)`` is called when the guest turns the display off (True) or
    shows a surface again (False); ``on_fault(reason)`` when the shared surface cannot
    be read any more (QEMU shrank its memfd), once per surface.
    """

    def __init__(self, name: str, mailbox: FrameMailbox, stats: DisplayStats | None = None, *,
                 on_disabled: Callable[[bool], None] | None = None,
                 on_fault: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.mailbox = mailbox
        self.stats = stats if stats is not None else DisplayStats()
        self.on_disabled = on_disabled
        self.on_fault = on_fault
        self._fb: npt.NDArray[np.uint8] | None = None  # what we publish
        self._shared: SharedSurface | None = None  # the shared surface (Unix.Map) or None
        self._published: npt.NDArray[np.uint8] | None = None  # shared rows as last published, to compare
        # which rows of _published hold what was published (1) or not (0); a bytearray, not
        # numpy: numpy's per-call cost, paid on every re-sent cursor cell, is ~40 us cold
        self._kept = bytearray()
        self._fmt = pixels.PIXMAN_X8R8G8B8
        self._disabled = False
        self._rejected_formats: set[int] = set()
        self._frame_waiter: Callable[[], None] | None = None
        self._console_size: tuple[int, int] | None = None  # (w, h): swapped whole, read from any thread

    # ------------------------------------------------------------------ state

    @property
    def transport(self) -> str | None:
        """How the current surface arrives: "shm", "inline", or None before any."""
        if self._fb is None:
            return None
        return "shm" if self._shared is not None else "inline"

    @property
    def console_size(self) -> tuple[int, int] | None:
        """The console's size as QEMU last reported it (``(width, height)``), or None."""
        return self._console_size

    def set_console_size(self, width: int, height: int) -> None:
        """The console's new size; an inline surface follows it (Updates may come with no Scanout)."""
        if width <= 0 or height <= 0:
            return
        self._console_size = (width, height)
        fb = self._fb
        if fb is None or self._shared is not None or self._disabled:
            return
        if (fb.shape[1], fb.shape[0]) != (width, height):
            self._resize(width, height)

    def notify_next_frame(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the surface's thread) after the next published frame."""
        self._frame_waiter = callback

    def release(self) -> None:
        """Let go of the framebuffer and the shared surface (the connection is closing); the
        frame last published stays readable in the mailbox.  A closed client can linger in
        a reference cycle until a full collection: it must not keep a screen's memory."""
        self._drop_shared()
        self._fb = None

    # ----------------------------------------------------------------- inline

    def scanout(self, width: int, height: int, stride: int, fmt: int, data: bytes) -> None:
        """A whole inline frame: ``height`` rows of ``stride`` bytes in pixman format ``fmt``."""
        self.stats.scanouts += 1
        self.stats.inline_bytes += len(data)
        self._check_format(fmt)
        rows = pixels.rows_view(data, 0, width, height, stride, fmt)
        fb = self._fb
        if fb is None or self._shared is not None or fb.shape[:2] != (height, width):
            fb = new_framebuffer(width, height)
        pixels.convert_into(fb, rows, fmt)
        self._drop_shared()
        self._fb, self._fmt = fb, fmt
        self._set_enabled()
        self._publish(fb, None)

    def update(self, x: int, y: int, width: int, height: int, stride: int, fmt: int, data: bytes) -> None:
        """New pixels for one rectangle of the inline surface."""
        self.stats.updates += 1
        self.stats.inline_bytes += len(data)
        if self._fb is None or self._shared is not None:
            raise ValueError("Update without an inline Scanout")
        self._check_format(fmt)
        rows = pixels.rows_view(data, 0, width, height, stride, fmt)
        fb_h, fb_w = self._fb.shape[:2]
        if x + width > fb_w or y + height > fb_h:
            # A mode switch with no Scanout: follow the console size, or grow.
            size = self._console_size
            if size is not None and size != (fb_w, fb_h) and x + width <= size[0] \
                    and y + height <= size[1]:
                self._resize(*size)
            else:
                self._resize(max(fb_w, x + width), max(fb_h, y + height))
        fb = self._fb
        rect = Rect(x, y, width, height).clip(fb.shape[1], fb.shape[0])
        if rect is None:
            raise ValueError(f"Update rect {width}x{height}+{x}+{y} outside the surface")
        bpp = pixels.bytes_per_pixel(fmt)
        sub = rows[rect.y - y:rect.y - y + rect.h, (rect.x - x) * bpp:(rect.x - x + rect.w) * bpp]
        target = fb[rect.y:rect.y + rect.h, rect.x:rect.x + rect.w]
        before = target.copy() if target.nbytes <= COMPARE_MAX_BYTES else None
        pixels.convert_into(target, sub, fmt)
        if before is not None and np.array_equal(before, target):
            self.stats.unchanged += 1
            return
        self._publish(fb, rect)

    # ---------------------------------------------------------- shared memory

    def scanout_map(self, fd: int, offset: int, width: int, height: int, stride: int, fmt: int) -> None:
        """QEMU's surface in the memfd ``fd`` from ``offset`` on.

        The caller keeps ``fd`` and may close it at once (the surface reads through a
        duplicate).
        """
        self.stats.scanout_maps += 1
        self._check_format(fmt)
        if offset < 0 or stride < 0:
            raise pixels.PixelError(f"negative offset {offset} or stride {stride}")
        try:
            shared = SharedSurface(fd, offset, width, height, stride, fmt)
        except SurfaceLost as exc:
            self._lost(exc)
            raise
        if pixels.is_native(fmt):
            fb = pixels.as_bgrx(shared.rows, fmt)
        else:
            fb = new_framebuffer(width, height)
            pixels.convert_into(fb, shared.rows, fmt)
        try:
            shared.check()
        except SurfaceLost as exc:
            shared.close()
            self._lost(exc)
            raise
        self._drop_shared()
        self._fb, self._shared, self._fmt = fb, shared, fmt
        # no copy yet: rows get theirs from the first small rectangle in them (memory untouched till then)
        self._published, self._kept = np.empty_like(shared.rows), bytearray(height)
        self._set_enabled()
        self._publish(fb, None)

    def update_map(self, x: int, y: int, width: int, height: int) -> None:
        """The shared surface changed in this rectangle: read its rows, publish it."""
        self.stats.update_maps += 1
        shared = self._shared
        if shared is None or self._fb is None:
            raise ValueError("UpdateMap without a ScanoutMap")
        fb = self._fb
        rect = Rect(x, y, width, height).clip(fb.shape[1], fb.shape[0])
        if rect is None:
            raise ValueError(f"UpdateMap rect {width}x{height}+{x}+{y} outside the surface")
        band = shared.rows[rect.y:rect.y + rect.h]
        if band.nbytes <= COMPARE_MAX_BYTES:
            changed = self._changed(band, rect)
        else:
            self._kept[rect.y:rect.y + rect.h] = bytes(rect.h)
            changed = rect
        if changed is not None and not pixels.is_native(self._fmt):
            bpp, c = pixels.bytes_per_pixel(self._fmt), changed
            sub = shared.rows[c.y:c.y + c.h, c.x * bpp:(c.x + c.w) * bpp]
            pixels.convert_into(fb[c.y:c.y + c.h, c.x:c.x + c.w], sub, self._fmt)
        try:
            shared.check()  # after reading: what was read may be zeros of a lost page
        except SurfaceLost as exc:
            self._lost(exc)
            raise
        if changed is None:
            self.stats.unchanged += 1
            return
        self._publish(fb, changed)

    def _changed(self, band: npt.NDArray[np.uint8], rect: Rect) -> Rect | None:
        """What to publish for a small damage rectangle of the shared surface (None: nothing changed).

        The rectangle is compared with the copy of what was last published there, which
        it then replaces (only the rectangle: QEMU's memory is read from another core's
        cache, so every byte read costs).  Rows without a copy are published whole and
        copied whole: QEMU may have drawn in them already what it announces next, which
        would then compare equal.
        """
        assert self._published is not None and self._fb is not None
        rows = slice(rect.y, rect.y + rect.h)
        if self._kept.find(0, rect.y, rect.y + rect.h) >= 0:
            self._published[rows] = band
            self._kept[rows] = b"\x01" * rect.h
            return Rect(0, rect.y, self._fb.shape[1], rect.h)
        bpp = pixels.bytes_per_pixel(self._fmt)
        columns = slice(rect.x * bpp, (rect.x + rect.w) * bpp)
        published, now = self._published[rows, columns], band[:, columns]
        if published.tobytes() == now.tobytes():  # two C calls (np.array_equal is ~10 Python-level steps)
            return None
        published[...] = now
        return rect

    def _drop_shared(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None
            self._published = None

    def _lost(self, exc: SurfaceLost) -> None:
        """The memfd shrank: stop reading it (the frame stays, black where it was lost) and say so once."""
        self._drop_shared()
        log.error("%s: %s", self.name, exc)
        if self.on_fault is not None:
            self.on_fault(str(exc))

    # ------------------------------------------------------------------ other

    def disable(self) -> None:
        """The guest turned its display off: a black frame of the same size."""
        log.info("%s: guest display disabled", self.name)
        fb = self._fb
        self._drop_shared()
        self._disabled = True
        if fb is not None:
            self._fb = new_framebuffer(fb.shape[1], fb.shape[0])
            self._publish(self._fb, None)
        if self.on_disabled is not None:
            self.on_disabled(True)

    def _set_enabled(self) -> None:
        if self._disabled:
            self._disabled = False
            if self.on_disabled is not None:
                self.on_disabled(False)

    def _check_format(self, fmt: int) -> None:
        if not pixels.is_supported(fmt):
            if fmt not in self._rejected_formats:
                self._rejected_formats.add(fmt)
                log.error("%s: QEMU sent %s, which Geometry OS cannot show; frames in it "
                          "are dropped", self.name, pixels.format_name(fmt))
            raise pixels.PixelError(f"unsupported {pixels.format_name(fmt)}")

    def _resize(self, width: int, height: int) -> None:
        """A new inline framebuffer of ``width`` x ``height`` keeping the old pixels."""
        pixels.check_size(width, height)
        old = self._fb
        fb = new_framebuffer(width, height)
        if old is not None:
            h, w = min(height, old.shape[0]), min(width, old.shape[1])
            fb[:h, :w] = old[:h, :w]
        log.debug("%s: inline surface resized to %dx%d", self.name, width, height)
        self._fb = fb
        self._publish(fb, None)

    def _publish(self, fb: npt.NDArray[np.uint8], rect: Rect | None) -> None:
        self.mailbox.publish(fb, rect)
        self.stats.frames += 1
        waiter = self._frame_waiter
        if waiter is not None:
            self._frame_waiter = None
            waiter()

