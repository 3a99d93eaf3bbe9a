"""The QEMU D-Bus display client: the connection that carries frames, cursor and input of one VM.

(Over 400 lines on purpose: the connection, its handshake and the calls on it share
one state; the listener, the surface and key pacing are in their own modules already.)

One :class:`DisplayClient` per VM.  It owns a thread running its own asyncio loop,
and that loop only ever does D-Bus work, so it never stalls: QEMU sends frames with
NO_REPLY_EXPECTED and no flow control, so a reader that pauses makes QEMU buffer
(+1 GB in 8 s was measured).  docs/qemu.md ("How the screen travels") has the
protocol facts this relies on; the protocol is QEMU's ``ui/dbus-display1.xml``.

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
   message handler (:class:`~.display_listener.Listener`) is installed before
   reading starts, we authenticate while the call is in flight, and the properties
   are answered from memory.  Every wait is bounded: while we stall, the VM and
   QMP are frozen.

Frames land in a :class:`~.display_surface.Surface`.  Keys go out through a
:class:`~geometry_os.api.KeyPacer` on this client's loop (the project's one pacing
mechanism); pointer calls go out at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from dbus_fast import Message, MessageType, Variant
from dbus_fast.auth import Authenticator

from geometry_os.api import Cursor, CursorPos, FrameMailbox, KeyPacer

from .display_listener import PROPS_IFACE, Listener
from .display_surface import DisplayStats, Surface
from .listener_reader import ListenerReader
from .p2p_bus import P2PMessageBus

log = logging.getLogger(__name__)

T = TypeVar("T")

VM_PATH = "/org/qemu/Display1/VM"
CONSOLE_PATH = "/org/qemu/Display1/Console_{}"
VM_IFACE = "org.qemu.Display1.VM"
CONSOLE_IFACE = "org.qemu.Display1.Console"
KEYBOARD_IFACE = "org.qemu.Display1.Keyboard"
MOUSE_IFACE = "org.qemu.Display1.Mouse"

# Bounds on every wait during the handshake; QEMU's main loop is frozen while the
# listener handshake is pending, so these are short.
CONNECT_TIMEOUT = 5.0
CALL_TIMEOUT = 5.0

# QEMU's send buffer on the listener connection: room for a whole inline frame, so
# QEMU writes it in one go and we read it in one go instead of ~200 KB at a time.
# The kernel caps it at net.core.wmem_max (4 MiB here, 208 KiB on a stock kernel).
LISTENER_SNDBUF = 8 * 1024 * 1024


UNSUPPORTED = "org.qemu.Display1.Error.Unsupported"


class DisplayError(Exception):
    """The display connection could not be set up."""


class Unsupported(DisplayError):
    """QEMU refused a call this VM's devices cannot do (SetUIInfo on a display without modes)."""


class DisplayClient:
    """Frames, cursor and input of one VM over QEMU's p2p D-Bus display.

    ``shm`` advertises the Unix.Map listener interface (QEMU >= 9.2 then shares the
    surface memory instead of copying pixels).  Callbacks run on the display thread
    and must be quick: ``on_disabled(bool)`` when the guest turns the display off or
    on again, ``on_closed(reason)`` when QEMU's side goes away, ``on_fault(reason)`` when
    the shared surface cannot be read any more (QEMU shrank it).  ``auth`` logs in on
    the display connection (default: EXTERNAL with our uid; libvirt's ``openGraphicsFD``
    sockets carry libvirtd's credentials and need ``AuthExternal(UID_NOT_SPECIFIED)``).

    The connection is the VM's only one: in p2p mode QEMU serves its objects on the
    client connection added last, so the other channels (sound, clipboard) use this one
    too, through :meth:`add_message_handler` (before :meth:`start`) and :meth:`submit`.
    ``graphic=False`` (``display: none``) connects without looking for a screen.
    """

    def __init__(self, name: str, mailbox: FrameMailbox, *, shm: bool = True,
                 on_disabled: Callable[[bool], None] | None = None,
                 on_closed: Callable[[str], None] | None = None,
                 on_fault: Callable[[str], None] | None = None,
                 auth: Authenticator | None = None, graphic: bool = True) -> None:
        self.name = name
        self.auth = auth
        self.graphic = graphic
        self._handlers: list[Callable[[Message], Message | bool]] = []
        self.mailbox = mailbox
        self.on_closed = on_closed
        self.stats = DisplayStats()
        self.surface = Surface(name, mailbox, self.stats, on_disabled=on_disabled, on_fault=on_fault)
        self.listener = Listener(name, self.surface, shm=shm)
        self.vm_name: str | None = None
        self.console_id: int | None = None
        # Read from other threads: immutable values swapped atomically.
        self._is_absolute = False
        self._modifiers = 0
        # Plumbing.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._keys: KeyPacer | None = None
        self._bus: P2PMessageBus | None = None
        self._listener_bus: P2PMessageBus | None = None
        self._listener_watch: asyncio.Task[None] | None = None  # referenced: the loop keeps tasks weakly
        self._closing = False
        self._expect_close = False  # QEMU is being stopped: its EOF is no news

    # ----------------------------------------------------------------- lifecycle

    def start(self, sock: socket.socket) -> concurrent.futures.Future[None]:
        """Run the client on ``sock`` (already given to QEMU with ``add_client``).

        Returns at once; the future resolves when the listener is registered (the
        first frame follows) or fails with :class:`DisplayError`.  Takes ownership
        of ``sock``.
        """
        if self._thread is not None:
            raise RuntimeError("DisplayClient.start() called twice")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._keys = KeyPacer(loop, self._send_key)

        def main() -> None:
            asyncio.set_event_loop(loop)
            connect = loop.create_task(self._connect(sock))
            connect.add_done_callback(lambda task: _chain(task, ready))
            try:
                loop.run_forever()
            finally:
                try:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()

        self._thread = threading.Thread(target=main, name=f"qemu-display-{self.name}", daemon=True)
        self._thread.start()
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
        if self._keys is not None:
            self._keys.close("the display connection closed")
        for bus in (self._listener_bus, self._bus):
            if bus is not None:
                try:
                    bus.disconnect()
                except Exception as exc:  # already gone
                    log.debug("%s: disconnect failed: %r", self.name, exc)
        self.surface.release()
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, loop.stop)

    def expect_close(self) -> None:
        """QEMU is about to be stopped on purpose: its disconnect is not an event."""
        self._expect_close = True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._closing

    @property
    def connected(self) -> bool:
        """The listener is registered: input reaches the guest through this client."""
        return self.console_id is not None and self.running

    # ---------------------------------------------------------------- connection

    async def _connect(self, sock: socket.socket) -> None:
        bus = P2PMessageBus(sock, auth_timeout=CONNECT_TIMEOUT, auth=self.auth)
        bus.add_message_handler(self._on_display_message)
        for handler in self._handlers:
            bus.add_message_handler(handler)
        self._bus = bus
        try:
            await asyncio.wait_for(bus.connect(), CONNECT_TIMEOUT)
        except Exception as exc:
            raise DisplayError(f"D-Bus display connection failed: {_describe(exc)}") from exc
        vm = await self._get_all(bus, VM_PATH, VM_IFACE)
        self.vm_name = str(_value(vm, "Name", ""))
        if not self.graphic:
            log.info("display of %s connected (no screen)", self.name)
            return
        console = None
        for cid in _value(vm, "ConsoleIDs", []):
            props = await self._get_all(bus, CONSOLE_PATH.format(cid), CONSOLE_IFACE)
            if _value(props, "Type", "") == "Graphic":
                console = (int(cid), props)
                break
        if console is None:
            raise DisplayError("QEMU has no graphic console (display=none?)")
        cid, props = console
        self.console_id = cid  # from here on, signals of this console are ours and input goes to it
        width, height = int(_value(props, "Width", 0)), int(_value(props, "Height", 0))
        self.surface.set_console_size(width, height)
        interfaces = _value(props, "Interfaces", None)
        path = CONSOLE_PATH.format(cid)
        if interfaces is None or MOUSE_IFACE in interfaces:
            mouse = await self._get_all(bus, path, MOUSE_IFACE, required=False)
            self._is_absolute = bool(_value(mouse, "IsAbsolute", False))
        if interfaces is None or KEYBOARD_IFACE in interfaces:
            kbd = await self._get_all(bus, path, KEYBOARD_IFACE, required=False)
            self._modifiers = int(_value(kbd, "Modifiers", 0))
        await self._register_listener(bus, path)
        log.info("display of %s connected: console %d (%s), %dx%d, shm %s", self.name, cid,
                 _value(props, "Label", "?"), width, height, "offered" if self.listener.shm else "off")

    async def _register_listener(self, bus: P2PMessageBus, console_path: str) -> None:
        ours, theirs = socket.socketpair()
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, LISTENER_SNDBUF)
        lbus = P2PMessageBus(ours, auth_timeout=CONNECT_TIMEOUT, reader=self._listener_reader)
        # Installed before any byte is read: QEMU calls GetAll right after SASL.
        lbus.add_message_handler(self.listener.handle)
        self._listener_bus = lbus
        call = Message(path=console_path, interface=CONSOLE_IFACE, member="RegisterListener",
                       signature="h", body=[0], unix_fds=[theirs.fileno()])
        register = asyncio.ensure_future(bus.call(call))
        handshake = asyncio.ensure_future(lbus.connect())
        try:
            _, pending = await asyncio.wait({register, handshake}, timeout=CONNECT_TIMEOUT,
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
        if reply is None or reply.message_type is MessageType.ERROR:
            ours.close()
            detail = f"{reply.error_name}: {reply.body[0] if reply.body else ''}" if reply else "no reply"
            raise DisplayError(f"RegisterListener refused: {detail}")
        self._listener_watch = asyncio.get_running_loop().create_task(self._watch_listener(lbus))

    def _listener_reader(self, sock: socket.socket, process: Callable[[Message], None],
                         finalize: Callable[[Exception | None], None]) -> ListenerReader:
        """The listener connection's reader: frames decoded in place, the rest through dbus-fast."""
        return ListenerReader(sock, process, finalize, self.listener.frame_calls())

    async def _watch_listener(self, lbus: P2PMessageBus) -> None:
        reason = "display connection closed"
        try:
            await lbus.wait_for_disconnect()  # type: ignore[no-untyped-call]  # dbus-fast leaves it unannotated
        except Exception as exc:  # EOF or a reset from a QEMU that went away: the reason is reported
            reason = f"display connection lost ({_describe(exc)})"
        if not self._closing:
            log.log(logging.DEBUG if self._expect_close else logging.INFO, "%s: %s", self.name, reason)
            if self.on_closed is not None:
                self.on_closed(reason)

    async def _get_all(self, bus: P2PMessageBus, path: str, iface: str, *,
                       required: bool = True) -> dict[str, Variant]:
        msg = Message(path=path, interface=PROPS_IFACE, member="GetAll", signature="s", body=[iface])
        try:
            reply = await asyncio.wait_for(bus.call(msg), CALL_TIMEOUT)
        except Exception as exc:
            raise DisplayError(f"GetAll {iface} on {path}: {_describe(exc)}") from exc
        if reply is None or reply.message_type is MessageType.ERROR or reply.signature != "a{sv}":
            if required:
                detail = (reply.error_name or reply.signature) if reply is not None else "no reply"
                raise DisplayError(f"GetAll {iface} on {path}: {detail}")
            return {}
        props: dict[str, Variant] = reply.body[0]
        return props

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
            old = self.surface.console_size or (0, 0)
            self.surface.set_console_size(int(_value(changed, "Width", old[0])),
                                          int(_value(changed, "Height", old[1])))
        return False

    # ------------------------------------------------------------ what it shows

    def notify_next_frame(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the display thread) after the next published frame."""
        self.surface.notify_next_frame(callback)

    @property
    def transport(self) -> str | None:
        """How the current surface arrives: "shm", "inline", or None before any."""
        return self.surface.transport

    @property
    def console_size(self) -> tuple[int, int] | None:
        return self.surface.console_size

    @property
    def cursor(self) -> Cursor | None:
        return self.listener.cursor

    @property
    def cursor_pos(self) -> CursorPos | None:
        return self.listener.cursor_pos

    def add_message_handler(self, handler: Callable[[Message], Message | bool]) -> None:
        """Also serve ``handler`` on the connection (an object QEMU calls, like the clipboard's);
        before :meth:`start`: QEMU may call it as soon as it is registered."""
        self._handlers.append(handler)

    def submit(self, work: Callable[[P2PMessageBus], Coroutine[Any, Any, T]]) -> concurrent.futures.Future[T]:
        """Run ``work(bus)`` on the display thread's loop (any thread); the future has its result."""
        loop, bus = self._loop, self._bus
        if loop is None or bus is None or self._closing or not bus.connected:
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            future.set_exception(DisplayError(f"{self.name}: the display is not connected"))
            return future
        return asyncio.run_coroutine_threadsafe(work(bus), loop)

    def set_ui_info(self, width: int, height: int) -> concurrent.futures.Future[None]:
        """Ask the guest for a ``width`` x ``height`` mode (``Console.SetUIInfo``, any thread).

        The future fails with :class:`Unsupported` when the display device takes no mode from
        the host, with :class:`DisplayError` when QEMU is not reachable.
        Whether the guest follows shows later as a new console size."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop, cid = self._loop, self.console_id
        if loop is None or self._closing or cid is None:
            future.set_exception(DisplayError(f"{self.name}: the display is not connected"))
            return future
        # width/height in mm at about 96 dpi: guests read them as the monitor's physical size
        body = [round(width * 25.4 / 96), round(height * 25.4 / 96), 0, 0, int(width), int(height)]

        async def call() -> None:
            bus = self._bus
            if bus is None or not bus.connected:
                raise DisplayError(f"{self.name}: the display is not connected")
            msg = Message(path=CONSOLE_PATH.format(cid), interface=CONSOLE_IFACE, member="SetUIInfo",
                          signature="qqiiuu", body=body)
            reply = await asyncio.wait_for(bus.call(msg), CALL_TIMEOUT)
            if reply is None or reply.message_type is MessageType.ERROR:
                detail = (reply.body[0] if reply.body else reply.error_name) if reply is not None else "no reply"
                error = Unsupported if reply is not None and reply.error_name == UNSUPPORTED else DisplayError
                raise error(f"SetUIInfo {width}x{height}: {detail}")

        try:
            return asyncio.run_coroutine_threadsafe(call(), loop)
        except RuntimeError:  # the loop closed meanwhile
            future.set_exception(DisplayError(f"{self.name}: the display is closed"))
            return future

    # ------------------------------------------------------------------- input

    @property
    def is_absolute(self) -> bool:
        """Whether the guest drives an absolute pointer (then use mouse_set_abs)."""
        return self._is_absolute

    @property
    def keyboard_modifiers(self) -> int:
        """Guest LED state: Scroll=1, Num=2, Caps=4."""
        return self._modifiers

    @property
    def keys(self) -> KeyPacer | None:
        """The guest keyboard's queue (from :meth:`start` on): keys and sequences, paced."""
        return self._keys

    def _send_key(self, pressed: bool, qnum: int) -> None:
        """The KeyPacer's sender (display thread): one Keyboard call, unless not connected."""
        if self.console_id is None or self._bus is None or not self._bus.connected:
            raise ConnectionError(f"{self.name}: the display is not connected")
        self._send_input(KEYBOARD_IFACE, "Press" if pressed else "Release", "u", [qnum])

    def mouse_set_abs(self, x: int, y: int) -> None:
        size = self.surface.console_size
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

    def _input(self, iface: str, member: str, signature: str, body: list[int]) -> None:
        """Queue a call on the display thread; never blocks, drops when not connected."""
        loop = self._loop
        if loop is None or self._closing or self.console_id is None:
            return
        try:
            loop.call_soon_threadsafe(self._send_input, iface, member, signature, body)
        except RuntimeError:  # loop closed meanwhile
            pass

    def _send_input(self, iface: str, member: str, signature: str, body: list[int]) -> None:
        bus = self._bus
        if bus is None or not bus.connected:
            return
        msg = Message(path=CONSOLE_PATH.format(self.console_id), interface=iface,
                      member=member, signature=signature, body=body)

        def done(reply: Message | None, err: Exception | None) -> None:
            if err is None and (reply is None or reply.message_type is not MessageType.ERROR):
                self.stats.inputs += 1
                return
            self.stats.input_errors += 1
            detail = err if err is not None or reply is None else (reply.body[0] if reply.body else reply.error_name)
            log.debug("%s: %s.%s%s failed: %s", self.name, iface, member, tuple(body), detail)

        try:
            bus._call(msg, done)  # dbus-fast's callback form: no task per input event
        except Exception as exc:  # the connection is going away
            log.debug("%s: could not send %s.%s: %r", self.name, iface, member, exc)


def _value(props: dict[str, Variant], key: str, default: Any) -> Any:
    variant = props.get(key)
    return default if variant is None else variant.value


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _chain(task: asyncio.Task[None], ready: concurrent.futures.Future[None]) -> None:
    if task.cancelled():
        ready.set_exception(DisplayError("display connection cancelled"))
        return
    exc = task.exception()
    if exc is None:
        ready.set_result(None)
    else:
        ready.set_exception(exc if isinstance(exc, DisplayError) else DisplayError(_describe(exc)))
