"""Our ``/org/qemu/Display1/Listener`` object: the calls QEMU makes on it, checked and dispatched.

QEMU calls the listener for frames (``Scanout``, ``Update``, and with
``Listener.Unix.Map`` ``ScanoutMap``/``UpdateMap``), ``Disable``, and the guest's
cursor (``CursorDefine``, ``MouseSet``); the protocol is QEMU's
``ui/dbus-display1.xml``.  Frames go to the :class:`~.display_surface.Surface`; the
cursor is kept here.  Right after registration QEMU blocks its main loop on a
``Properties.GetAll`` of this object, so properties are answered from memory.

Malformed calls (a wrong signature, pixels that do not fit their description, an
unsupported format) are logged (rate-limited), counted in ``stats.dropped`` and
answered with ``org.qemu.Display1.Error.Invalid`` when QEMU waits for a reply;
nothing a peer sends raises out of :meth:`Listener.handle`, and every fd a message
carries is closed.  The one-way frame calls also come decoded, without a
``Message``, from :mod:`.listener_reader` (:meth:`Listener.frame_calls`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import partial
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.constants import MessageFlag

from geometry_os.api import Cursor, CursorPos

from . import pixels
from .display_surface import Surface

log = logging.getLogger(__name__)

LISTENER_PATH = "/org/qemu/Display1/Listener"
LISTENER_IFACE = "org.qemu.Display1.Listener"
UNIX_MAP_IFACE = "org.qemu.Display1.Listener.Unix.Map"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
INVALID = "org.qemu.Display1.Error.Invalid"

#: The listener methods we serve and their D-Bus signatures.
SIGNATURES = {
    "Scanout": "uuuuay",
    "Update": "iiiiuuay",
    "ScanoutMap": "huuuuu",
    "UpdateMap": "iiii",
    "Disable": "",
    "MouseSet": "iii",
    "CursorDefine": "iiiiay",
    "ScanoutDMABUF": "huuuutb",
    "UpdateDMABUF": "iiii",
}

MAX_CURSOR = 1024  # pixels per side; larger CursorDefine messages are dropped

#: The one-way calls QEMU sends at frame rate (interface, member), handed over decoded.
FRAME_CALLS = ((LISTENER_IFACE, "Scanout"), (LISTENER_IFACE, "Update"), (UNIX_MAP_IFACE, "UpdateMap"))


def expects_reply(msg: Message) -> bool:
    return not msg.flags & MessageFlag.NO_REPLY_EXPECTED


class Listener:
    """The listener object of one display connection; :meth:`handle` is its message handler.

    ``shm`` advertises ``Listener.Unix.Map`` (QEMU >= 9.2 then shares the surface
    memory instead of copying pixels).
    """

    def __init__(self, name: str, surface: Surface, *, shm: bool) -> None:
        self.name = name
        self.surface = surface
        self.stats = surface.stats
        self.shm = shm
        # Read from other threads: immutable values swapped whole.
        self.cursor: Cursor | None = None
        self.cursor_pos: CursorPos | None = None
        self._handlers: dict[str, Callable[..., None]] = {
            "Scanout": lambda msg, *body: surface.scanout(*body),
            "Update": lambda msg, *body: surface.update(*body),
            "ScanoutMap": self._scanout_map,
            "UpdateMap": lambda msg, *body: surface.update_map(*body),
            "Disable": lambda msg: surface.disable(),
            "MouseSet": self._mouse_set,
            "CursorDefine": self._cursor_define,
            "ScanoutDMABUF": self._dmabuf,
            "UpdateDMABUF": self._dmabuf,
        }

    def handle(self, msg: Message) -> Message | bool:
        """Dispatch a call QEMU makes on our listener object; always close passed fds."""
        try:
            if msg.message_type is not MessageType.METHOD_CALL or msg.path != LISTENER_PATH:
                return False
            if msg.interface == PROPS_IFACE:
                return self._properties(msg)
            if msg.interface not in (LISTENER_IFACE, UNIX_MAP_IFACE, None):
                return False
            member = msg.member or ""
            handler = self._handlers.get(member)
            if handler is None:
                return False
            if msg.signature != SIGNATURES[member]:
                return self._reject(msg, f"{member} with signature {msg.signature!r}")
            try:
                handler(msg, *msg.body)
            except (pixels.PixelError, ValueError, OSError, IndexError) as exc:
                return self._reject(msg, f"{member}: {exc}")
            return Message.new_method_return(msg) if expects_reply(msg) else True
        finally:
            for fd in msg.unix_fds or ():
                try:
                    os.close(fd)
                except OSError:
                    pass

    def frame_calls(self) -> dict[tuple[str, str, str, str], Callable[..., None]]:
        """The frame calls a reader may decode itself, by (path, interface, member, signature).

        Each handler takes the call's arguments (a byte array as a buffer that is only
        valid during the call) and, like :meth:`handle`, drops what it cannot use.
        """
        return {(LISTENER_PATH, iface, member, SIGNATURES[member]): partial(self._frame, member)
                for iface, member in FRAME_CALLS}

    def _frame(self, member: str, *args: Any) -> None:
        try:
            self._handlers[member](None, *args)
        except (pixels.PixelError, ValueError, OSError, IndexError) as exc:
            self._count_drop(f"{member}: {exc}")

    def _count_drop(self, reason: str) -> None:
        self.stats.dropped += 1
        if self.stats.dropped <= 10 or self.stats.dropped % 1000 == 0:
            log.warning("%s: dropped %s (%d dropped so far)", self.name, reason, self.stats.dropped)

    def _reject(self, msg: Message, reason: str) -> Message | bool:
        self._count_drop(reason)
        if expects_reply(msg):
            return Message.new_error(msg, INVALID, reason)
        return True

    def _listener_properties(self) -> dict[str, Variant]:
        interfaces = [UNIX_MAP_IFACE] if self.shm else []
        return {"Interfaces": Variant("as", interfaces)}

    def _properties(self, msg: Message) -> Message:
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

    def _scanout_map(self, msg: Message, fd_index: int, offset: int, width: int, height: int, stride: int,
                     fmt: int) -> None:
        # The fd is closed by handle(); the surface's mapping outlives it.
        self.surface.scanout_map(msg.unix_fds[fd_index], offset, width, height, stride, fmt)

    def _mouse_set(self, msg: Message, x: int, y: int, on: int) -> None:
        self.cursor_pos = CursorPos(x, y, bool(on))

    def _cursor_define(self, msg: Message, width: int, height: int, hot_x: int, hot_y: int, data: bytes) -> None:
        if not (0 < width <= MAX_CURSOR and 0 < height <= MAX_CURSOR):
            raise ValueError(f"cursor size {width}x{height}")
        if len(data) < width * height * 4:
            raise ValueError(f"cursor data {len(data)} bytes < {width}x{height}x4")
        self.cursor = Cursor(width, height, hot_x, hot_y, bytes(data[:width * height * 4]))

    def _dmabuf(self, msg: Message, *args: Any) -> None:
        raise ValueError("DMABUF scanouts are not supported (the display runs with gl=off)")
