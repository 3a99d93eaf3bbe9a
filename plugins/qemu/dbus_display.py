"""The QEMU D-Bus display client: frames, cursor and input for one VM.

One :class:`DisplayClient` per VM.  It owns a thread running its own asyncio loop,
and that loop only ever does D-Bus work, so it never stalls: QEMU sends frames with
NO_REPLY_EXPECTED and no flow control, so a reader that pauses makes QEMU buffer
(+1 GB in 8 s was measured).  Facts behind the design are in
/work/shared/notes/qemu-dbus-display.md; the protocol is QEMU's
``ui/dbus-display1.xml``.

Connections (both peer-to-peer, both with QEMU as the SASL *server* and us as the
SASL client, see :mod:`.p2p_bus`):

1. the *display* connection, a socket the caller handed to QEMU with QMP
   ``add_client`` before :meth:`DisplayClient.start`: we call methods on
   ``/org/qemu/Display1/VM`` and ``/org/qemu/Display1/Console_N`` and receive their
   PropertiesChanged signals;
2. the *listener* connection, a second socketpair passed in
   ``Console.RegisterListener(h)``: QEMU replies to the call, then blocks its main
   loop in a synchronous SASL handshake, then synchronously calls
   ``Properties.GetAll`` on our ``/org/qemu/Display1/Listener`` object.  So the
   message handler is installed before reading starts, we authenticate while the
   call is in flight, and the properties are answered from memory.  Every wait
   is bounded: while we stall, the VM and QMP are frozen.

Frames arrive inline (``Scanout``/``Update``) or, when our ``Interfaces`` property
lists ``org.qemu.Display1.Listener.Unix.Map`` (QEMU >= 9.2), as a shared memfd
(``ScanoutMap``) followed by damage rectangles (``UpdateMap``).  Either way the
result is published to the tile's :class:`~geometry_os.frames.FrameMailbox`.

Malformed messages are logged (rate-limited) and dropped; nothing a peer sends
raises out of the handlers.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import mmap
import os
import socket
import threading
from typing import Any, Callable, NamedTuple

import numpy as np
from dbus_fast import Message, MessageType, Variant
from dbus_fast.constants import MessageFlag

from geometry_os.frames import FrameMailbox, Rect, new_framebuffer

from . import pixels
from .p2p_bus import P2PMessageBus

log = logging.getLogger(__name__)

VM_PATH = "/org/qemu/Display1/VM"
CONSOLE_PATH = "/org/qemu/Display1/Console_{}"
LISTENER_PATH = "/org/qemu/Display1/Listener"
VM_IFACE = "org.qemu.Display1.VM"
CONSOLE_IFACE = "org.qemu.Display1.Console"
KEYBOARD_IFACE = "org.qemu.Display1.Keyboard"
#: Seconds between key events sent to QEMU.  A PS/2 keyboard holds 16 bytes; a burst
#: (Shift+key is 4 events in under a millisecond from X) overflows it while a TCG
#: guest is busy, and QEMU drops the rest.  QEMU's own VNC server paces keys the same
#: way (``key-delay-ms``, 10 ms).
KEY_DELAY = 0.010
MOUSE_IFACE = "org.qemu.Display1.Mouse"
LISTENER_IFACE = "org.qemu.Display1.Listener"
UNIX_MAP_IFACE = "org.qemu.Display1.Listener.Unix.Map"
PROPS_IFACE = "org.freedesktop.DBus.Properties"

# Bounds on every wait during the handshake; QEMU's main loop is frozen while the
# listener handshake is pending, so these are short.
CONNECT_TIMEOUT = 5.0
CALL_TIMEOUT = 5.0

MAX_CURSOR = 1024  # pixels per side; larger CursorDefine messages are dropped
_NO_REPLY = MessageFlag.NO_REPLY_EXPECTED.value


class Cursor(NamedTuple):
    """The guest's mouse cursor image: BGRA bytes (pixman ARGB32 in memory), w*h*4."""

    width: int
    height: int
    hot_x: int
    hot_y: int
    pixels: bytes


class CursorPos(NamedTuple):
    x: int
    y: int
    visible: bool


class DisplayStats:
    """Counters, written on the display thread, read anywhere (plain ints)."""

    def __init__(self) -> None:
        self.scanouts = 0  # inline full frames
        self.updates = 0  # inline damage rectangles
        self.scanout_maps = 0  # shared-memory surfaces
        self.update_maps = 0  # shared-memory damage rectangles
        self.inline_bytes = 0
        self.frames = 0  # publishes to the mailbox
        self.dropped = 0  # malformed or unsupported messages
        self.inputs = 0  # input calls QEMU accepted
        self.input_errors = 0  # input calls QEMU refused (e.g. "Mouse is not absolute")

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class DisplayError(Exception):
    """The display connection could not be set up."""


def _expects_reply(msg: Message) -> bool:
    return not (msg.flags.value & _NO_REPLY)


class DisplayClient:
    """Frames, cursor and input of one VM over QEMU's p2p D-Bus display.

    ``shm`` advertises the Unix.Map listener interface (QEMU >= 9.2 then shares the
    surface memory instead of copying pixels).  Callbacks run on the display thread
    and must be quick: ``on_disabled(bool)`` when the guest turns the display off or
    on again, ``on_closed(reason)`` when QEMU's side goes away.
    """

    def __init__(self, name: str, mailbox: FrameMailbox, *, shm: bool = True,
                 on_disabled: Callable[[bool], None] | None = None,
                 on_closed: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.mailbox = mailbox
        self.shm = shm
        self.on_disabled = on_disabled
        self.on_closed = on_closed
        self.stats = DisplayStats()
        self.vm_name: str | None = None
        self.console_id: int | None = None
        # Read from other threads: immutable values swapped atomically.
        self.cursor: Cursor | None = None
        self.cursor_pos: CursorPos | None = None
        self._is_absolute = False
        self._modifiers = 0
        self._console_size: tuple[int, int] | None = None  # (w, h) per Console props
        # Surface state, touched on the display thread only.
        self._fb: np.ndarray | None = None  # what we publish
        self._rows: np.ndarray | None = None  # mapped source rows (Unix.Map) or None
        self._fmt = pixels.PIXMAN_X8R8G8B8
        self._disabled = False
        self._rejected_formats: set[int] = set()
        self._frame_waiter: Callable[[], None] | None = None
        # Plumbing.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._bus: P2PMessageBus | None = None
        self._listener_bus: P2PMessageBus | None = None
        self._closing = False
        self._keys: collections.deque[tuple[str, int]] = collections.deque()  # display thread only
        self._key_timer: asyncio.TimerHandle | None = None
        self._expect_close = False  # QEMU is being stopped: its EOF is no news
        self._listener_handlers = {
            "Scanout": ("uuuuay", self._on_scanout),
            "Update": ("iiiiuuay", self._on_update),
            "ScanoutMap": ("huuuuu", self._on_scanout_map),
            "UpdateMap": ("iiii", self._on_update_map),
            "Disable": ("", self._on_disable),
            "MouseSet": ("iii", self._on_mouse_set),
            "CursorDefine": ("iiiiay", self._on_cursor_define),
            "ScanoutDMABUF": ("huuuutb", self._on_dmabuf),
            "UpdateDMABUF": ("iiii", self._on_dmabuf),
        }

    # ----------------------------------------------------------------- lifecycle

    def start(self, sock: socket.socket) -> concurrent.futures.Future:
        """Run the client on ``sock`` (already given to QEMU with ``add_client``).

        Returns at once; the future resolves when the listener is registered (the
        first frame follows) or fails with :class:`DisplayError`.  Takes ownership
        of ``sock``.
        """
        if self._thread is not None:
            raise RuntimeError("DisplayClient.start() called twice")
        ready: concurrent.futures.Future = concurrent.futures.Future()
        loop_started = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop_started.set()
            task = loop.create_task(self._connect(sock))
            task.add_done_callback(lambda t: _chain(t, ready))
            try:
                loop.run_forever()
            finally:
                try:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()

        self._thread = threading.Thread(target=main, name=f"qemu-display-{self.name}",
                                        daemon=True)
        self._thread.start()
        loop_started.wait()
        return ready

    def close(self, timeout: float = 3.0) -> None:
        """Disconnect and join the thread.  Idempotent; safe from any other thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or self._closing:
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
            return
        self._closing = True
        try:
            loop.call_soon_threadsafe(self._shutdown)
        except RuntimeError:  # loop already closed
            pass
        if thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("display thread of %s did not stop within %.1f s", self.name, timeout)

    def _shutdown(self) -> None:
        for bus in (self._listener_bus, self._bus):
            if bus is not None:
                try:
                    bus.disconnect()
                except Exception:  # already gone
                    log.debug("disconnect failed", exc_info=True)
        self._rows = None
        asyncio.get_running_loop().call_later(0.05, asyncio.get_running_loop().stop)

    def expect_close(self) -> None:
        """QEMU is about to be stopped on purpose: its disconnect is not an event."""
        self._expect_close = True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._closing

    # ---------------------------------------------------------------- connection

    async def _connect(self, sock: socket.socket) -> None:
        bus = P2PMessageBus(sock, auth_timeout=CONNECT_TIMEOUT)
        bus.add_message_handler(self._on_display_message)
        self._bus = bus
        try:
            await asyncio.wait_for(bus.connect(), CONNECT_TIMEOUT)
        except Exception as exc:
            raise DisplayError(f"D-Bus display connection failed: {_describe(exc)}") from exc
        vm = await self._get_all(VM_PATH, VM_IFACE)
        self.vm_name = _value(vm, "Name", "")
        console_ids = list(_value(vm, "ConsoleIDs", []))
        console = None
        for cid in console_ids:
            props = await self._get_all(CONSOLE_PATH.format(cid), CONSOLE_IFACE)
            if _value(props, "Type", "") == "Graphic":
                console = (cid, props)
                break
        if console is None:
            raise DisplayError("QEMU has no graphic console (display=none?)")
        cid, props = console
        self.console_id = cid
        width, height = _value(props, "Width", 0), _value(props, "Height", 0)
        if width and height:
            self._console_size = (width, height)
        interfaces = _value(props, "Interfaces", None)
        path = CONSOLE_PATH.format(cid)
        if interfaces is None or MOUSE_IFACE in interfaces:
            mouse = await self._get_all(path, MOUSE_IFACE, required=False)
            self._is_absolute = bool(_value(mouse, "IsAbsolute", False))
        if interfaces is None or KEYBOARD_IFACE in interfaces:
            kbd = await self._get_all(path, KEYBOARD_IFACE, required=False)
            self._modifiers = int(_value(kbd, "Modifiers", 0))
        await self._register_listener(path)
        log.info("display of %s connected: console %d (%s), %dx%d, shm %s", self.name, cid,
                 _value(props, "Label", "?"), width, height, "offered" if self.shm else "off")

    async def _register_listener(self, console_path: str) -> None:
        ours, theirs = socket.socketpair()
        lbus = P2PMessageBus(ours, auth_timeout=CONNECT_TIMEOUT)
        # Installed before any byte is read: QEMU calls GetAll right after SASL.
        lbus.add_message_handler(self._on_listener_message)
        self._listener_bus = lbus
        call = Message(path=console_path, interface=CONSOLE_IFACE, member="RegisterListener",
                       signature="h", body=[0], unix_fds=[theirs.fileno()])
        register = asyncio.ensure_future(self._bus.call(call))
        handshake = asyncio.ensure_future(lbus.connect())
        try:
            done, pending = await asyncio.wait({register, handshake}, timeout=CONNECT_TIMEOUT,
                                               return_when=asyncio.FIRST_EXCEPTION)
            for fut in pending:
                fut.cancel()
            if pending:
                raise DisplayError("RegisterListener handshake timed out")
            reply = register.result()
            handshake.result()
        except DisplayError:
            ours.close()
            raise
        except Exception as exc:
            ours.close()
            raise DisplayError(f"RegisterListener failed: {_describe(exc)}") from exc
        finally:
            theirs.close()
        if reply.message_type is MessageType.ERROR:
            ours.close()
            raise DisplayError(f"RegisterListener refused: {reply.error_name}: "
                               f"{reply.body[0] if reply.body else ''}")
        asyncio.ensure_future(self._watch_listener(lbus))

    async def _watch_listener(self, lbus: P2PMessageBus) -> None:
        reason = "display connection closed"
        try:
            await lbus.wait_for_disconnect()
        except Exception as exc:  # EOF from a QEMU that went away
            reason = f"display connection lost ({_describe(exc)})"
        if not self._closing:
            log.log(logging.DEBUG if self._expect_close else logging.INFO, "%s: %s",
                    self.name, reason)
            if self.on_closed is not None:
                self.on_closed(reason)

    async def _get_all(self, path: str, iface: str, *, required: bool = True) -> dict:
        msg = Message(path=path, interface=PROPS_IFACE, member="GetAll", signature="s",
                      body=[iface])
        try:
            reply = await asyncio.wait_for(self._bus.call(msg), CALL_TIMEOUT)
        except Exception as exc:
            raise DisplayError(f"GetAll {iface} on {path}: {_describe(exc)}") from exc
        if reply.message_type is MessageType.ERROR or reply.signature != "a{sv}":
            if required:
                raise DisplayError(f"GetAll {iface} on {path}: {reply.error_name or reply.signature}")
            return {}
        return reply.body[0]

    # ------------------------------------------------------------ display signals

    def _on_display_message(self, msg: Message) -> bool:
        """PropertiesChanged of our console (size), its Mouse and its Keyboard."""
        if (msg.message_type is not MessageType.SIGNAL or msg.interface != PROPS_IFACE
                or msg.member != "PropertiesChanged" or msg.signature != "sa{sv}as"):
            return False
        if self.console_id is None or msg.path != CONSOLE_PATH.format(self.console_id):
            return False
        iface, changed = msg.body[0], msg.body[1]
        if iface == MOUSE_IFACE and "IsAbsolute" in changed:
            self._is_absolute = bool(changed["IsAbsolute"].value)
            log.info("%s: mouse is %s", self.name, "absolute" if self._is_absolute else "relative")
        elif iface == KEYBOARD_IFACE and "Modifiers" in changed:
            self._modifiers = int(changed["Modifiers"].value)
        elif iface == CONSOLE_IFACE and ("Width" in changed or "Height" in changed):
            old = self._console_size or (0, 0)
            width = int(_value(changed, "Width", old[0]))
            height = int(_value(changed, "Height", old[1]))
            if width > 0 and height > 0:
                self._console_size = (width, height)
                self._follow_console_size()
        return False

    def _follow_console_size(self) -> None:
        """Inline surfaces follow the console size: Updates may come with no Scanout."""
        fb, size = self._fb, self._console_size
        if fb is None or self._rows is not None or size is None or self._disabled:
            return
        if (fb.shape[1], fb.shape[0]) != size:
            self._resize(*size)

    # ------------------------------------------------------------ listener calls

    def _on_listener_message(self, msg: Message) -> Message | bool:
        """Dispatch a call QEMU makes on our listener object; always close passed fds."""
        try:
            if msg.message_type is not MessageType.METHOD_CALL:
                return False
            if msg.path != LISTENER_PATH:
                return False
            if msg.interface == PROPS_IFACE:
                return self._on_properties(msg)
            if msg.interface not in (LISTENER_IFACE, UNIX_MAP_IFACE, None):
                return False
            entry = self._listener_handlers.get(msg.member)
            if entry is None:
                return False
            signature, handler = entry
            if msg.signature != signature:
                return self._reject(msg, f"{msg.member} with signature {msg.signature!r}")
            try:
                handler(msg, *msg.body)
            except (pixels.PixelError, ValueError, OSError, IndexError) as exc:
                return self._reject(msg, f"{msg.member}: {exc}")
            if _expects_reply(msg):
                return Message.new_method_return(msg)
            return True
        finally:
            for fd in msg.unix_fds or ():
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _reject(self, msg: Message, reason: str) -> Message | bool:
        self.stats.dropped += 1
        if self.stats.dropped <= 10 or self.stats.dropped % 1000 == 0:
            log.warning("%s: dropped %s (%d dropped so far)", self.name, reason,
                        self.stats.dropped)
        if _expects_reply(msg):
            return Message.new_error(msg, "org.qemu.Display1.Error.Invalid", reason)
        return True

    def _listener_properties(self) -> dict[str, Variant]:
        interfaces = [UNIX_MAP_IFACE] if self.shm else []
        return {"Interfaces": Variant("as", interfaces)}

    def _on_properties(self, msg: Message) -> Message:
        if msg.member == "GetAll" and msg.signature == "s":
            props = self._listener_properties() if msg.body[0] == LISTENER_IFACE else {}
            return Message.new_method_return(msg, "a{sv}", [props])
        if msg.member == "Get" and msg.signature == "ss":
            props = self._listener_properties() if msg.body[0] == LISTENER_IFACE else {}
            if msg.body[1] in props:
                return Message.new_method_return(msg, "v", [props[msg.body[1]]])
            return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownProperty",
                                     f"no property {msg.body[1]}")
        return Message.new_error(msg, "org.freedesktop.DBus.Error.NotSupported",
                                 "listener properties are read-only")

    def _check_format(self, fmt: int) -> None:
        if not pixels.is_supported(fmt):
            if fmt not in self._rejected_formats:
                self._rejected_formats.add(fmt)
                log.error("%s: QEMU sent %s, which Geometry OS cannot show; frames in it "
                          "are dropped", self.name, pixels.format_name(fmt))
            raise pixels.PixelError(f"unsupported {pixels.format_name(fmt)}")

    def _on_scanout(self, msg: Message, width: int, height: int, stride: int, fmt: int,
                    data: bytes) -> None:
        self.stats.scanouts += 1
        self.stats.inline_bytes += len(data)
        self._check_format(fmt)
        rows = pixels.rows_view(data, 0, width, height, stride, fmt)
        fb = self._fb
        if fb is None or self._rows is not None or fb.shape[:2] != (height, width):
            fb = new_framebuffer(width, height)
        pixels.convert_into(fb, rows, fmt)
        self._fb, self._rows, self._fmt = fb, None, fmt
        self._set_enabled()
        self._publish(fb, None)

    def _on_update(self, msg: Message, x: int, y: int, width: int, height: int, stride: int,
                   fmt: int, data: bytes) -> None:
        self.stats.updates += 1
        self.stats.inline_bytes += len(data)
        if self._fb is None or self._rows is not None:
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
        pixels.convert_into(fb[rect.y:rect.y + rect.h, rect.x:rect.x + rect.w], sub, fmt)
        self._publish(fb, rect)

    def _on_scanout_map(self, msg: Message, fd_index: int, offset: int, width: int,
                        height: int, stride: int, fmt: int) -> None:
        self.stats.scanout_maps += 1
        self._check_format(fmt)
        pixels.check_size(width, height)
        fd = msg.unix_fds[fd_index]
        needed = offset + stride * height
        size = os.fstat(fd).st_size
        if size < needed:
            raise pixels.PixelError(f"memfd of {size} bytes, {needed} needed for "
                                    f"{width}x{height} stride {stride} at offset {offset}")
        # Map from 0 (mmap offsets must be page-aligned); numpy applies ``offset``.
        # The fd is closed by the dispatcher; the mapping lives as long as any
        # array made from it (the mailbox may still hold the previous one).
        mapping = mmap.mmap(fd, needed, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
        rows = pixels.rows_view(mapping, offset, width, height, stride, fmt)
        if pixels.is_native(fmt):
            fb = pixels.as_bgrx(rows, fmt)
        else:
            fb = new_framebuffer(width, height)
            pixels.convert_into(fb, rows, fmt)
        self._fb, self._rows, self._fmt = fb, rows, fmt
        self._set_enabled()
        self._publish(fb, None)

    def _on_update_map(self, msg: Message, x: int, y: int, width: int, height: int) -> None:
        self.stats.update_maps += 1
        if self._rows is None or self._fb is None:
            raise ValueError("UpdateMap without a ScanoutMap")
        fb = self._fb
        rect = Rect(x, y, width, height).clip(fb.shape[1], fb.shape[0])
        if rect is None:
            raise ValueError(f"UpdateMap rect {width}x{height}+{x}+{y} outside the surface")
        if not pixels.is_native(self._fmt):
            bpp = pixels.bytes_per_pixel(self._fmt)
            sub = self._rows[rect.y:rect.y + rect.h, rect.x * bpp:(rect.x + rect.w) * bpp]
            pixels.convert_into(fb[rect.y:rect.y + rect.h, rect.x:rect.x + rect.w], sub,
                                self._fmt)
        self._publish(fb, rect)

    def _on_disable(self, msg: Message) -> None:
        log.info("%s: guest display disabled", self.name)
        fb = self._fb
        self._rows = None
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

    def _on_mouse_set(self, msg: Message, x: int, y: int, on: int) -> None:
        self.cursor_pos = CursorPos(x, y, bool(on))

    def _on_cursor_define(self, msg: Message, width: int, height: int, hot_x: int, hot_y: int,
                          data: bytes) -> None:
        if not (0 < width <= MAX_CURSOR and 0 < height <= MAX_CURSOR):
            raise ValueError(f"cursor size {width}x{height}")
        if len(data) < width * height * 4:
            raise ValueError(f"cursor data {len(data)} bytes < {width}x{height}x4")
        self.cursor = Cursor(width, height, hot_x, hot_y, bytes(data[:width * height * 4]))

    def _on_dmabuf(self, msg: Message, *args: Any) -> None:
        raise ValueError("DMABUF scanouts are not supported (the display runs with gl=off)")

    # ---------------------------------------------------------------- surfaces

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

    def _publish(self, fb: np.ndarray, rect: Rect | None) -> None:
        self.mailbox.publish(fb, rect)
        self.stats.frames += 1
        waiter = self._frame_waiter
        if waiter is not None:
            self._frame_waiter = None
            waiter()

    def notify_next_frame(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the display thread) after the next published frame."""
        self._frame_waiter = callback

    @property
    def transport(self) -> str | None:
        """How the current surface arrives: "shm", "inline", or None before any."""
        if self._fb is None:
            return None
        return "shm" if self._rows is not None else "inline"

    @property
    def console_size(self) -> tuple[int, int] | None:
        return self._console_size

    # ------------------------------------------------------------------- input

    @property
    def is_absolute(self) -> bool:
        """Whether the guest drives an absolute pointer (then use mouse_set_abs)."""
        return self._is_absolute

    @property
    def keyboard_modifiers(self) -> int:
        """Guest LED state: Scroll=1, Num=2, Caps=4."""
        return self._modifiers

    def key_press(self, qnum: int) -> None:
        self._queue_key("Press", qnum)

    def key_release(self, qnum: int) -> None:
        self._queue_key("Release", qnum)

    def _queue_key(self, member: str, qnum: int) -> None:
        """Keys go out in order, :data:`KEY_DELAY` apart (see there for why)."""
        loop = self._loop
        if loop is None or self._closing or self.console_id is None:
            return
        try:
            loop.call_soon_threadsafe(self._enqueue_key, member, int(qnum) & 0xFFFFFFFF)
        except RuntimeError:  # loop closed meanwhile
            pass

    def _enqueue_key(self, member: str, qnum: int) -> None:
        self._keys.append((member, qnum))
        if self._key_timer is None:
            self._send_next_key()

    def _send_next_key(self) -> None:
        if not self._keys:
            self._key_timer = None
            return
        member, qnum = self._keys.popleft()
        self._send_input(KEYBOARD_IFACE, member, "u", [qnum])
        self._key_timer = asyncio.get_running_loop().call_later(KEY_DELAY, self._send_next_key)

    def mouse_set_abs(self, x: int, y: int) -> None:
        size = self._console_size
        x, y = max(0, int(x)), max(0, int(y))
        if size is not None:  # QEMU refuses positions outside the console
            x, y = min(x, size[0] - 1), min(y, size[1] - 1)
        self._input(MOUSE_IFACE, "SetAbsPosition", "uu", [x, y])

    def mouse_rel(self, dx: int, dy: int) -> None:
        clamp = 2**31 - 1
        self._input(MOUSE_IFACE, "RelMotion", "ii",
                    [max(-clamp, min(clamp, int(dx))), max(-clamp, min(clamp, int(dy)))])

    def mouse_press(self, button: int) -> None:
        self._input(MOUSE_IFACE, "Press", "u", [int(button) & 0xFFFFFFFF])

    def mouse_release(self, button: int) -> None:
        self._input(MOUSE_IFACE, "Release", "u", [int(button) & 0xFFFFFFFF])

    def _input(self, iface: str, member: str, signature: str, body: list) -> None:
        """Queue a call on the display thread; never blocks, drops when not connected."""
        loop = self._loop
        if loop is None or self._closing or self.console_id is None:
            return
        try:
            loop.call_soon_threadsafe(self._send_input, iface, member, signature, body)
        except RuntimeError:  # loop closed meanwhile
            pass

    def _send_input(self, iface: str, member: str, signature: str, body: list) -> None:
        bus = self._bus
        if bus is None or not bus.connected:
            return
        msg = Message(path=CONSOLE_PATH.format(self.console_id), interface=iface,
                      member=member, signature=signature, body=body)

        def done(reply: Message | None, err: Exception | None) -> None:
            if err is not None or (reply is not None and reply.message_type is MessageType.ERROR):
                self.stats.input_errors += 1
                detail = err or (reply.body[0] if reply.body else reply.error_name)
                log.debug("%s: %s.%s%s failed: %s", self.name, iface, member, tuple(body), detail)
            else:
                self.stats.inputs += 1

        try:
            bus._call(msg, done)
        except Exception:
            log.debug("%s: could not send %s.%s", self.name, iface, member, exc_info=True)


def _value(props: dict, key: str, default: Any) -> Any:
    variant = props.get(key)
    return default if variant is None else variant.value


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    return str(exc) or type(exc).__name__


def _chain(task: asyncio.Task, ready: concurrent.futures.Future) -> None:
    if task.cancelled():
        ready.set_exception(DisplayError("display connection cancelled"))
    elif task.exception() is not None:
        exc = task.exception()
        ready.set_exception(exc if isinstance(exc, DisplayError)
                            else DisplayError(_describe(exc)))
    else:
        ready.set_result(None)
