"""A domain without a display we can stream (SPICE only, say): libvirt's screenshot API and ``sendKey``.

Each screenshot is a QEMU ``screendump`` that libvirt streams to us (a PNG with QEMU
>= 7.1): too costly for a live screen, good enough to see what a VM is doing.  The
rate follows the tile's size on screen like a streaming display's (4 a second when
focused or shown at full size, down to one every 2 s, none while hidden); a frame
that did not change is not published, one that did is published with the box
around the change.

Keys go through ``virDomainSendKey`` with QEMU key numbers (libvirt's ``qnum``
code set, the numbers the rest of Geometry OS uses).  sendKey presses and releases
a set of keys at once, so modifiers are held back: Shift, Ctrl, Alt and Meta join
the next other key pressed while they are down ("ctrl+c" is one sendKey of both),
and a modifier pressed and released alone is sent alone.  There is no pointer: libvirt
has no API for one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from geometry_os import api

from . import loop
from .display import update_interval
from .errors import LibvirtFailure

log = logging.getLogger(__name__)

FASTEST = 0.25  # seconds between screenshots of a focused or full-size tile
MIN_RATE = 0.5  # screenshots a second of a visible tile, at the least
MAX_SCREENSHOT = 64 << 20  # bytes: a PNG (or PPM) of a 16384x16384 screen fits; more is refused
MAX_SIDE = 16384
HOLD_MS = 30  # how long sendKey holds the keys down

#: Modifier keys (QEMU key numbers): shift, shift_r, ctrl, ctrl_r, alt, alt_r, meta_l, meta_r.
MODIFIERS = frozenset({0x2A, 0x36, 0x1D, 0x9D, 0x38, 0xB8, 0xDB, 0xDC})
VIR_KEYCODE_SET_QNUM = 9


def decode_screenshot(data: bytes) -> np.ndarray:
    """A screenshot (PNG or PPM, whatever libvirt streamed) as a BGRX framebuffer; ValueError (one line)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
                raise ValueError(f"screenshot of {width}x{height} pixels")
            rgb = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(f"screenshot is not an image libvirt sends ({exc})") from None
    frame = api.new_framebuffer(width, height)
    frame[..., 0], frame[..., 1], frame[..., 2] = rgb[..., 2], rgb[..., 1], rgb[..., 0]
    return frame


def changed_box(old: np.ndarray | None, new: np.ndarray) -> api.Rect | None:
    """The box around the pixels that differ (the whole frame for a new size; None: no change)."""
    if old is None or old.shape != new.shape:
        return api.Rect(0, 0, new.shape[1], new.shape[0])
    diff = (old != new).any(axis=2)
    rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
    if not len(rows):
        return None
    return api.Rect(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


class ScreenshotDisplay:
    """A tile fed by screenshots, with keys through sendKey; runs on the libvirt loop."""

    def __init__(self, name: str, mailbox: api.FrameMailbox, domain: Any, stream: Callable[[], Any],
                 on_closed: Callable[[str], None], note: str) -> None:
        self.name = name
        self.mailbox = mailbox
        self.domain = domain
        self.note = note
        self._new_stream = stream  # () -> virStream of the domain's connection
        self._on_closed = on_closed
        self._interval = FASTEST
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._frame: np.ndarray | None = None
        self._held: list[int] = []  # modifiers down, in the order pressed
        self._used = False  # a key went out with the held modifiers
        # sendKey calls in order, one at a time, off the loop.
        self._keys_out = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"libvirt-keys-{name}")
        self._pacer = api.KeyPacer(loop.loop(), self._send_key)
        self.shots = 0

    @property
    def label(self) -> str:
        return f"screenshots, {1 / self._interval:.1f}/s" if math.isfinite(self._interval) else "screenshots, paused"

    async def open(self) -> None:
        """Take the first screenshot (LibvirtFailure when libvirt cannot) and keep taking them."""
        await self._take()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), None if math.isinf(self._interval) else self._interval)
                continue  # woken: the interval changed, wait the new one
            except TimeoutError:
                pass
            try:
                await self._take()
            except (LibvirtFailure, ValueError) as exc:
                self._on_closed(f"screenshot failed: {exc}")
                return

    async def _take(self) -> None:
        data = await loop.blocking(self._shoot)
        frame = await loop.blocking(decode_screenshot, data)
        box = changed_box(self._frame, frame)
        self.shots += 1
        if box is None:
            return
        if self._frame is not None and self._frame.shape == frame.shape:
            self._frame[box.y:box.y + box.h, box.x:box.x + box.w] = frame[box.y:box.y + box.h, box.x:box.x + box.w]
            self.mailbox.publish(self._frame, box)
        else:
            self._frame = frame
            self.mailbox.publish(frame, None)

    def _shoot(self) -> bytes:
        """One screenshot's bytes (call pool)."""
        import libvirt

        stream = self._new_stream()
        try:
            self.domain.screenshot(stream, 0, 0)
            chunks, size = [], 0
            while chunk := stream.recv(1 << 18):
                if not isinstance(chunk, bytes):  # -2: would block, impossible on a blocking stream
                    raise LibvirtFailure("screenshot stream stalled")
                size += len(chunk)
                if size > MAX_SCREENSHOT:
                    raise LibvirtFailure(f"screenshot larger than {MAX_SCREENSHOT >> 20} MiB")
                chunks.append(chunk)
            stream.finish()
        except libvirt.libvirtError as exc:
            _abort(stream)
            raise LibvirtFailure(str(exc).splitlines()[0] if str(exc) else "screenshot failed") from None
        except BaseException:
            _abort(stream)
            raise
        return b"".join(chunks)

    # ------------------------------------------------------------------- keys
    @property
    def keyboard_modifiers(self) -> int:
        return 0  # libvirt does not report the guest's LEDs

    def key_press(self, qnum: int) -> None:
        self._pacer.press(qnum)

    def key_release(self, qnum: int) -> None:
        self._pacer.release(qnum)

    def send_keys(self, events: Sequence[api.KeyEvent]) -> concurrent.futures.Future[None]:
        return self._pacer.send(events)

    def _send_key(self, pressed: bool, qnum: int) -> None:
        """The pacer's sender (libvirt loop): hold modifiers back, send other keys with them."""
        if qnum in MODIFIERS:
            if pressed:
                if qnum not in self._held:
                    self._held.append(qnum)
                self._used = False
                return
            if qnum in self._held:
                if not self._used:
                    self._sendkey([*self._held])
                self._held.remove(qnum)
            return
        if pressed:
            self._used = True
            self._sendkey([*self._held, qnum])

    def _sendkey(self, keys: list[int]) -> None:
        def send() -> None:
            try:
                self.domain.sendKey(VIR_KEYCODE_SET_QNUM, HOLD_MS, keys, len(keys), 0)
            except Exception as exc:
                log.warning("%s: sendKey %s failed: %s", self.name, [hex(k) for k in keys], exc)

        self._keys_out.submit(send)

    # ---------------------------------------------------------------- pointer
    @property
    def is_absolute(self) -> bool:
        return False

    def mouse_set_abs(self, x: int, y: int) -> None:
        """No pointer through libvirt (dropped)."""

    def mouse_rel(self, dx: int, dy: int) -> None:
        """No pointer through libvirt (dropped)."""

    def mouse_press(self, button: int) -> None:
        """No pointer through libvirt (dropped)."""

    def mouse_release(self, button: int) -> None:
        """No pointer through libvirt (dropped)."""

    @property
    def cursor(self) -> api.Cursor | None:
        return None

    @property
    def cursor_pos(self) -> api.CursorPos | None:
        return None

    # ------------------------------------------------------------------- rate
    def set_view(self, visible: bool, focused: bool, scale: float | None) -> None:
        interval = update_interval(visible, focused, scale, FASTEST, MIN_RATE)
        if interval != self._interval:
            loop.call_soon(self._set_interval, interval)

    def _set_interval(self, interval: float) -> None:
        self._interval = interval
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._pacer.close("the screenshot display is closed")
        self._keys_out.shutdown(wait=False)


def _abort(stream: Any) -> None:
    try:
        stream.abort()
    except Exception as exc:  # the stream ended or its connection went
        log.debug("aborting a screenshot stream failed: %r", exc)
