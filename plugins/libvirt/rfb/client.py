"""An asyncio RFB client: a VNC server's screen as Geometry OS frames, and input back into it.

(Over 400 lines on purpose: the message loop, update flow control and input share the
connection's state; the handshake, DES, ZRLE, Tight and the cursor are their own modules.)

It speaks over a stream socket that is already connected, because that is what we
get: libvirt's ``openGraphicsFD`` hands over a connected socket, and so does an SSH
tunnel.  :meth:`RfbClient.start` runs the handshake and asks for our pixel format
(B, G, R, X in memory: the tile framebuffer's own) and encodings;
:meth:`RfbClient.run` then reads server messages until the server closes, decoding
every rectangle into one ``(h, w, 4)`` uint8 array and publishing it to a
:class:`~geometry_os.api.FrameMailbox` rectangle by rectangle (a new array when the
size changes).

Flow control: one incremental update request is outstanding at a time; the next is
sent when an update with pixels arrives, but not sooner than
:attr:`RfbClient.update_interval` after the previous request (the rate-limit hook,
:meth:`RfbClient.set_update_interval`, lets a small or hidden tile slow it down or
pause it).  A request that stays unanswered for :data:`RENEW_AFTER` seconds is sent
again, for servers that answer a request with a pseudo-rectangle only.

Input follows QEMU's numbering: keys are QEMU key numbers (XT scancodes, 0xE0 keys as
``0x80 | code``) sent as QEMU extended key events and paced by a
:class:`~geometry_os.api.KeyPacer`; buttons are QEMU's (0 left, 1 middle, 2 right,
3/4 wheel up/down, 7/8 wheel left/right).  The input methods may be called from any
thread; everything else runs on the client's event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import socket
import struct
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from geometry_os import api
from geometry_os.api import new_framebuffer

from .cursor import decode_cursor, payload_size
from .handshake import ServerInit, handshake
from .protocol import (
    BYTES_PER_PIXEL,
    CUT_TEXT_CHUNK,
    MAX_CURSOR,
    MAX_CUT_TEXT,
    PIXEL_ENCODINGS,
    PIXEL_FORMAT,
    PSEUDO_ENCODINGS,
    QEMU_EXTENDED_KEY_EVENT_SUBTYPE,
    ClientMsg,
    Encoding,
    RfbError,
    ServerMsg,
    check_size,
    read_exactly,
    s32,
    u16,
    u32,
)
from .tight import TightDecoder
from .zrle import ZrleDecoder, max_compressed

log = logging.getLogger(__name__)

DEFAULT_UPDATE_INTERVAL = 1 / 60  # seconds between update requests: at most 60 updates a second
RENEW_AFTER = 1.0  # seconds after which an unanswered update request is sent again
HANDSHAKE_TIMEOUT = 10.0
READ_BUFFER = 1 << 20  # asyncio stream buffer: large rectangles arrive in fewer wake-ups

#: QEMU button number -> RFB button-mask bit (QEMU's VNC server has no bit for side/extra).
BUTTON_BITS = {0: 0x01, 1: 0x02, 2: 0x04, 3: 0x08, 4: 0x10, 7: 0x20, 8: 0x40}
#: In QEMU's relative pointer mode a pointer event carries (0x7FFF + dx, 0x7FFF + dy).
RELATIVE_ORIGIN = 0x7FFF

# Extended desktop size status: anything but 0 answers a SetDesktopSize (we send none).
_EDS_OK = 0


class RfbClient:
    """One VNC connection: frames into ``mailbox``, input out; see the module docstring.

    ``encodings`` are the pixel encodings to offer, in order of preference (a subset
    of :data:`~.protocol.PIXEL_ENCODINGS`; the pseudo-encodings are always offered).
    ``password`` answers VNC authentication; ``shared`` keeps the server's other
    clients connected.
    """

    def __init__(self, mailbox: api.FrameMailbox, *, password: str | None = None,
                 encodings: Sequence[Encoding] = PIXEL_ENCODINGS, shared: bool = True,
                 update_interval: float = DEFAULT_UPDATE_INTERVAL,
                 key_interval: float = api.KEY_INTERVAL) -> None:
        unknown = [e for e in encodings if e not in PIXEL_ENCODINGS]
        if unknown or not encodings:
            raise ValueError(f"encodings must be a non-empty subset of {[e.name for e in PIXEL_ENCODINGS]}")
        self.mailbox = mailbox
        self.password = password
        self.encodings = tuple(encodings)
        self.shared = shared
        self.key_interval = key_interval
        self.server: ServerInit | None = None
        #: Rectangles received, by encoding name (pseudo-encodings included), and updates.
        self.stats: Counter[str] = Counter()
        # Read from other threads: immutable values swapped whole.
        self._fb: np.ndarray | None = None
        self._cursor: api.Cursor | None = None
        self._absolute = True  # plain RFB pointers are absolute; QEMU says otherwise if so
        self._qemu_keys = False  # the server acknowledged QEMU extended key events
        self._leds = 0
        self._pointer_pos: tuple[int, int] | None = None
        self._update_interval = update_interval
        # Event-loop state.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pacer: api.KeyPacer | None = None
        self._zrle = ZrleDecoder()
        self._tight = TightDecoder()
        self._buttons = 0
        self._outstanding_since: float | None = None  # loop time of the unanswered request
        self._last_request = -math.inf
        self._request_timer: asyncio.TimerHandle | None = None
        self._renew_timer: asyncio.TimerHandle | None = None
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self, sock: socket.socket, timeout: float = HANDSHAKE_TIMEOUT) -> ServerInit:
        """Handshake on the connected ``sock`` (the client owns it from now on); returns ServerInit."""
        self._loop = asyncio.get_running_loop()
        self._reader, self._writer = await asyncio.open_connection(sock=sock, limit=READ_BUFFER)
        try:
            server = await asyncio.wait_for(
                handshake(self._reader, self._writer, password=self.password, shared=self.shared), timeout)
        except TimeoutError:
            self.close()
            raise RfbError(f"no RFB handshake within {timeout:g} s") from None
        except BaseException:
            self.close()
            raise
        self.server = server
        self._set_framebuffer(new_framebuffer(server.width, server.height))
        offered = [*self.encodings, *PSEUDO_ENCODINGS]
        self._writer.write(struct.pack(">B3x", ClientMsg.SET_PIXEL_FORMAT) + PIXEL_FORMAT
                           + struct.pack(f">BxH{len(offered)}i", ClientMsg.SET_ENCODINGS, len(offered), *offered))
        self._pacer = api.KeyPacer(self._loop, self._send_key, self.key_interval)
        self._request(incremental=False)
        return server

    async def run(self) -> None:
        """Read and apply server messages until the server closes the connection or :meth:`close` is
        called (then return).  Raises :class:`RfbError` on anything malformed; closes the connection
        either way.
        """
        reader = self._reader
        if reader is None:
            raise RuntimeError("RfbClient.run before start")
        self._schedule_renew()
        try:
            while True:
                try:
                    kind = (await reader.readexactly(1))[0]
                except asyncio.IncompleteReadError:
                    log.debug("VNC server closed the connection")
                    return
                except ConnectionError as exc:
                    raise RfbError(f"connection lost ({exc.strerror or type(exc).__name__})") from None
                await self._message(kind, reader)
        except RfbError:
            if self._closed:  # close() was called: the cut-off message is ours, not the server's fault
                return
            raise
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection and drop queued keys (event-loop thread; idempotent)."""
        if self._closed:
            return
        self._closed = True
        for timer in (self._request_timer, self._renew_timer):
            if timer is not None:
                timer.cancel()
        if self._pacer is not None:
            self._pacer.close("the VNC connection is closed")
        if self._writer is not None:
            self._writer.close()

    # -------------------------------------------------------------- what it shows

    @property
    def framebuffer(self) -> np.ndarray | None:
        """The current framebuffer, (h, w, 4) uint8 BGRX (the array published to the mailbox)."""
        return self._fb

    @property
    def cursor(self) -> api.Cursor | None:
        """The server's cursor image (a new object when it changes), or None when hidden or not sent."""
        return self._cursor

    @property
    def cursor_pos(self) -> api.CursorPos | None:
        """Where the cursor is drawn: an RFB client draws it at its own pointer, so our last position."""
        pos = self._pointer_pos
        if pos is None or not self._absolute:
            return None
        return api.CursorPos(pos[0], pos[1], self._cursor is not None)

    @property
    def is_absolute(self) -> bool:
        """Whether the guest's pointer is absolute (QEMU's pointer motion change; plain RFB is absolute)."""
        return self._absolute

    @property
    def keyboard_modifiers(self) -> int:
        """The guest's lock LEDs from QEMU's LED state: Scroll = 1, Num = 2, Caps = 4."""
        return self._leds

    @property
    def accepts_key_numbers(self) -> bool:
        """Whether the server acknowledged QEMU extended key events (needed to send keys)."""
        return self._qemu_keys

    @property
    def update_interval(self) -> float:
        return self._update_interval

    def set_update_interval(self, seconds: float) -> None:
        """The least time between two update requests (``math.inf`` pauses updates); any thread."""
        if seconds < 0 or math.isnan(seconds):
            raise ValueError(f"update interval must be >= 0 seconds, not {seconds}")
        self._post(self._apply_update_interval, seconds)

    # ---------------------------------------------------------------------- input

    def key_press(self, qnum: int) -> None:
        if self._pacer is not None:
            self._pacer.press(qnum)

    def key_release(self, qnum: int) -> None:
        if self._pacer is not None:
            self._pacer.release(qnum)

    def send_keys(self, events: Sequence[api.KeyEvent]) -> concurrent.futures.Future[None]:
        """Queue key events; the future is done once the last one was written (or fails with why not)."""
        if self._pacer is None:
            failed: concurrent.futures.Future[None] = concurrent.futures.Future()
            failed.set_exception(ConnectionError("the VNC connection is not started"))
            return failed
        return self._pacer.send(events)

    def mouse_set_abs(self, x: int, y: int) -> None:
        self._post(self._move_abs, int(x), int(y))

    def mouse_rel(self, dx: int, dy: int) -> None:
        self._post(self._move_rel, int(dx), int(dy))

    def mouse_press(self, button: int) -> None:
        self._post(self._button, int(button), True)

    def mouse_release(self, button: int) -> None:
        self._post(self._button, int(button), False)

    # ----------------------------------------------------------- server messages

    async def _message(self, kind: int, reader: asyncio.StreamReader) -> None:
        if kind == ServerMsg.FRAMEBUFFER_UPDATE:
            await self._update(reader)
        elif kind == ServerMsg.SET_COLOUR_MAP_ENTRIES:  # meaningless in true colour: read and drop
            head = await read_exactly(reader, 5, "SetColourMapEntries")
            await read_exactly(reader, 6 * u16(head, 3), "colour map entries")
        elif kind == ServerMsg.BELL:
            log.debug("bell")
        elif kind == ServerMsg.SERVER_CUT_TEXT:
            await self._drop_cut_text(reader)
        else:
            raise RfbError(f"unknown server message type {kind}")

    async def _drop_cut_text(self, reader: asyncio.StreamReader) -> None:
        length = u32(await read_exactly(reader, 7, "ServerCutText"), 3)
        if length > MAX_CUT_TEXT:  # the extended clipboard's negative lengths land here too
            raise RfbError(f"ServerCutText of {length} bytes, more than the {MAX_CUT_TEXT} accepted")
        while length:
            chunk = min(length, CUT_TEXT_CHUNK)
            await read_exactly(reader, chunk, "ServerCutText")
            length -= chunk

    async def _update(self, reader: asyncio.StreamReader) -> None:
        count = u16(await read_exactly(reader, 3, "FramebufferUpdate"), 1)
        answered = count == 0
        resized = False
        for _ in range(count):
            head = await read_exactly(reader, 12, "rectangle header")
            x, y, w, h, encoding = u16(head, 0), u16(head, 2), u16(head, 4), u16(head, 6), s32(head, 8)
            if encoding == Encoding.LAST_RECT:
                self.stats["LAST_RECT"] += 1
                break
            try:
                self.stats[Encoding(encoding).name] += 1
            except ValueError:
                raise RfbError(f"rectangle in unknown encoding {encoding}") from None
            if encoding >= 0:
                await self._pixels(reader, encoding, x, y, w, h)
                answered = True
            else:
                resized |= await self._pseudo(reader, encoding, x, y, w, h)
        self.stats["updates"] += 1
        if resized:  # the old request described the old size: ask for all of the new one
            self._request(incremental=False)
        elif answered:
            self._answered()

    async def _pixels(self, reader: asyncio.StreamReader, encoding: int, x: int, y: int, w: int, h: int) -> None:
        fb = self._fb
        assert fb is not None  # set in start
        height, width = fb.shape[:2]
        if x + w > width or y + h > height:
            raise RfbError(f"{Encoding(encoding).name} ({encoding}) rectangle {w}x{h} at {x},{y} is outside the "
                           f"{width}x{height} framebuffer")
        out = fb[y:y + h, x:x + w]
        if encoding == Encoding.RAW:
            data = await read_exactly(reader, w * h * BYTES_PER_PIXEL, "Raw pixels")
            out[:] = np.frombuffer(data, dtype=np.uint8).reshape(h, w, BYTES_PER_PIXEL)
        elif encoding == Encoding.COPYRECT:
            src = await read_exactly(reader, 4, "CopyRect source")
            sx, sy = u16(src, 0), u16(src, 2)
            if sx + w > width or sy + h > height:
                raise RfbError(f"CopyRect source {w}x{h} at {sx},{sy} is outside the {width}x{height} framebuffer")
            out[:] = fb[sy:sy + h, sx:sx + w]  # numpy copies first when the two overlap
        elif encoding == Encoding.ZRLE:
            length = u32(await read_exactly(reader, 4, "ZRLE length"))
            if length > max_compressed(w, h):
                raise RfbError(f"ZRLE: {length} compressed bytes for a {w}x{h} rectangle (at most "
                               f"{max_compressed(w, h)})")
            self._zrle.decode(await read_exactly(reader, length, "ZRLE data"), out)
        elif encoding == Encoding.TIGHT:
            await self._tight.decode(reader, out)
        self.mailbox.publish(fb, api.Rect(x, y, w, h))

    async def _pseudo(self, reader: asyncio.StreamReader, encoding: int, x: int, y: int, w: int, h: int) -> bool:
        """Apply one pseudo-rectangle; True when it resized the framebuffer."""
        if encoding == Encoding.DESKTOP_SIZE:
            return self._resize(w, h)
        if encoding == Encoding.EXTENDED_DESKTOP_SIZE:
            screens = (await read_exactly(reader, 4, "ExtendedDesktopSize"))[0]
            await read_exactly(reader, 16 * screens, "ExtendedDesktopSize screens")
            if y != _EDS_OK:  # x is the reason, y the status of a resize request
                log.debug("ExtendedDesktopSize status %d (reason %d) ignored", y, x)
                return False
            return self._resize(w, h)
        if encoding == Encoding.CURSOR:
            if not (w <= MAX_CURSOR and h <= MAX_CURSOR):
                raise RfbError(f"cursor of {w}x{h} pixels, more than {MAX_CURSOR} per side")
            payload = await read_exactly(reader, payload_size(w, h), "cursor image")
            self._cursor = decode_cursor(payload, w, h, x, y) if w and h else None
        elif encoding == Encoding.QEMU_POINTER_MOTION_CHANGE:
            self._absolute = x != 0
            log.debug("pointer is %s", "absolute" if self._absolute else "relative")
        elif encoding == Encoding.QEMU_EXTENDED_KEY_EVENT:
            self._qemu_keys = True
        elif encoding == Encoding.QEMU_LED_STATE:
            self._leds = (await read_exactly(reader, 1, "LED state"))[0] & 0x7
        return False

    def _resize(self, width: int, height: int) -> bool:
        """Take the server's new size; False when it is the size we have (QEMU repeats it after every
        non-incremental request)."""
        check_size(width, height, "desktop resize")
        old = self._fb
        if old is not None and old.shape[:2] == (height, width):
            return False
        fb = new_framebuffer(width, height)
        if old is not None:  # keep what overlaps until the server repaints
            h, w = min(height, old.shape[0]), min(width, old.shape[1])
            fb[:h, :w] = old[:h, :w]
        log.debug("framebuffer resized to %dx%d", width, height)
        self._set_framebuffer(fb)
        return True

    def _set_framebuffer(self, fb: np.ndarray) -> None:
        self._fb = fb
        self.mailbox.publish(fb, None)

    # ------------------------------------------------------------ update requests

    def _request(self, incremental: bool) -> None:
        fb = self._fb
        loop = self._loop
        if fb is None or loop is None or self._writer is None or self._closed:
            return
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None
        height, width = fb.shape[:2]
        self._writer.write(struct.pack(">BBHHHH", ClientMsg.FRAMEBUFFER_UPDATE_REQUEST, int(incremental),
                                       0, 0, width, height))
        self._outstanding_since = self._last_request = loop.time()

    def _answered(self) -> None:
        """An update answered our request: ask for the next one, no sooner than the interval allows."""
        self._outstanding_since = None
        self._schedule_request()

    def _schedule_request(self) -> None:
        loop = self._loop
        if loop is None or self._closed or self._request_timer is not None or self._outstanding_since is not None:
            return
        if math.isinf(self._update_interval):
            return  # paused until set_update_interval says otherwise
        delay = self._last_request + self._update_interval - loop.time()
        if delay <= 0:
            self._request(incremental=True)
        else:
            self._request_timer = loop.call_later(delay, self._request, True)

    def _apply_update_interval(self, seconds: float) -> None:
        self._update_interval = seconds
        if self._request_timer is not None:  # re-time the waiting request
            self._request_timer.cancel()
            self._request_timer = None
        self._schedule_request()

    def _schedule_renew(self) -> None:
        loop = self._loop
        if loop is not None and not self._closed:
            self._renew_timer = loop.call_later(RENEW_AFTER, self._renew)

    def _renew(self) -> None:
        since = self._outstanding_since
        if since is not None and self._loop is not None and self._loop.time() - since >= RENEW_AFTER:
            log.debug("update request unanswered for %.1f s: sending it again", self._loop.time() - since)
            self._request(incremental=True)
        self._schedule_renew()

    # ----------------------------------------------------------------- input out

    def _post(self, function: Callable[..., None], *args: Any) -> None:
        """Run ``function`` on the event loop; dropped when not connected."""
        loop = self._loop
        if loop is None or self._closed:
            return
        try:
            loop.call_soon_threadsafe(function, *args)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _write(self, data: bytes) -> bool:
        writer = self._writer
        if writer is None or self._closed or writer.is_closing():
            return False
        writer.write(data)
        return True

    def _send_key(self, pressed: bool, qnum: int) -> None:
        """KeyPacer's sender (event loop); raising fails the key batch with the reason."""
        if not self._qemu_keys:
            raise RfbError("the VNC server did not accept QEMU extended key events, so keys cannot be sent")
        # keysym 0: QEMU uses the key number unless it runs with a -k keymap (docs/vnc.md).
        if not self._write(struct.pack(">BBHII", ClientMsg.QEMU, QEMU_EXTENDED_KEY_EVENT_SUBTYPE,
                                       int(pressed), 0, qnum)):
            raise ConnectionError("the VNC connection is closed")

    def _pointer_event(self, x: int, y: int) -> None:
        self._write(struct.pack(">BBHH", ClientMsg.POINTER_EVENT, self._buttons, x, y))

    def _clamp_to_screen(self, x: int, y: int) -> tuple[int, int]:
        fb = self._fb
        height, width = (1, 1) if fb is None else fb.shape[:2]
        return min(max(x, 0), width - 1), min(max(y, 0), height - 1)

    def _move_abs(self, x: int, y: int) -> None:
        if not self._absolute:
            log.debug("absolute move to %d,%d dropped: the guest's pointer is relative", x, y)
            return
        self._pointer_pos = self._clamp_to_screen(x, y)
        self._pointer_event(*self._pointer_pos)

    def _move_rel(self, dx: int, dy: int) -> None:
        if self._absolute:  # a plain RFB pointer: move our own position
            x, y = self._pointer_pos or (0, 0)
            self._move_abs(x + dx, y + dy)
            return
        limit_low, limit_high = -RELATIVE_ORIGIN, 0xFFFF - RELATIVE_ORIGIN
        self._pointer_event(RELATIVE_ORIGIN + min(max(dx, limit_low), limit_high),
                            RELATIVE_ORIGIN + min(max(dy, limit_low), limit_high))

    def _button(self, button: int, pressed: bool) -> None:
        bit = BUTTON_BITS.get(button)
        if bit is None:
            log.debug("button %d has no RFB equivalent", button)
            return
        self._buttons = self._buttons | bit if pressed else self._buttons & ~bit
        if self._absolute:
            self._pointer_event(*(self._pointer_pos or (0, 0)))
        else:
            self._pointer_event(RELATIVE_ORIGIN, RELATIVE_ORIGIN)
