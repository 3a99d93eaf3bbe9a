"""A VM's clipboard shared with the host: QEMU's D-Bus ``Clipboard`` interface and its vdagent.

With ``clipboard: true`` QEMU gets a ``qemu-vdagent`` chardev (clipboard on) on the
virtio-serial port ``com.redhat.spice.0`` (:mod:`.command`), which a guest's
``spice-vdagent`` speaks to.  QEMU relays between that agent and *one* registered
D-Bus peer; the protocol (QEMU's ``ui/dbus-display1.xml``, ``ui/dbus-clipboard.c``) is
the same interface on both sides, ``/org/qemu/Display1/Clipboard``:

* we export our object, then call QEMU's ``Register()``.  QEMU reads our properties
  and calls *our* ``Register()`` (its serials restart) before it answers; a second
  peer is refused ("Clipboard peer already registered!");
* ``Grab(u selection, u serial, as mimes)``: whoever copied owns the selection
  (0 clipboard, 1 primary, 2 secondary).  Grabs carry a serial and the higher one
  wins: ours is one above the highest we have seen, reset when QEMU calls Register;
* ``Request(u selection, as mimes) -> (s mime, ay data)``: only
  ``text/plain;charset=utf-8``.  QEMU's Request to us is synchronous (its main loop
  waits), so we answer from memory: the text we offered with our last grab;
  ours to QEMU waits for the guest's agent and fails after 5 s;
* ``Release(u selection)``: the owner gave it up.

Host to guest: :meth:`ClipboardClient.offer` (the map calls it with the host's text
when a VM with a shared clipboard gets the focus).  Guest to host: QEMU's Grab makes
us Request the text, which goes to :attr:`ClipboardClient.to_host`.  Whether a
guest agent listens shows on QMP's ``VSERPORT_CHANGE`` event for the port
(:attr:`ClipboardClient.agent`), which the tile menu reports.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from typing import Any

from dbus_fast import Message, MessageType

from .dbus_display import DisplayClient, DisplayError
from .display_listener import PROPS_IFACE
from .p2p_bus import P2PMessageBus

log = logging.getLogger(__name__)

PATH = "/org/qemu/Display1/Clipboard"
IFACE = "org.qemu.Display1.Clipboard"
MIME = "text/plain;charset=utf-8"
FAILED = "org.qemu.Display1.Error.Failed"
SELECTIONS = 3  # clipboard, primary, secondary
TIMEOUT = 5.0
REQUEST_TIMEOUT = 6.0  # QEMU gives the guest's agent 5 s
MAX_TEXT = 16 * 1024 * 1024  # bytes of text taken from a guest at most
AGENT_PORT = "vdagent0"  # the virtserialport's id (command.py): VSERPORT_CHANGE names it

SIGNATURES = {"Register": "", "Unregister": "", "Grab": "uuas", "Release": "u", "Request": "uas"}


class ClipboardError(Exception):
    """A clipboard call QEMU refused or that failed (one line)."""


async def _call(bus: P2PMessageBus, member: str, signature: str, body: list[Any],
                timeout: float = TIMEOUT) -> list[Any]:
    msg = Message(path=PATH, interface=IFACE, member=member, signature=signature, body=body)
    try:
        reply = await asyncio.wait_for(bus.call(msg), timeout)
    except TimeoutError:
        raise ClipboardError(f"{member}: no answer within {timeout:.0f} s") from None
    if reply is None or reply.message_type is MessageType.ERROR:
        detail = (reply.body[0] if reply.body else reply.error_name) if reply is not None else "no reply"
        raise ClipboardError(f"{member}: {detail}")
    return list(reply.body)


async def _fetch(bus: P2PMessageBus, selection: int) -> str:
    mime, data = await _call(bus, "Request", "uas", [selection, [MIME]], REQUEST_TIMEOUT)
    if mime != MIME:
        raise ClipboardError(f"Request: QEMU answered {mime!r}")
    return bytes(data[:MAX_TEXT]).decode("utf-8", errors="replace")


class ClipboardClient:
    r"""The clipboard peer of one VM, on its display connection (the only one QEMU serves in p2p mode).

    Its calls return :class:`concurrent.futures.Future`\ s (any thread); QEMU's calls on our
    object run on the display thread."""

    def __init__(self, name: str, display: DisplayClient) -> None:
        self.name = name
        self.display = display
        self.serial = 0  # the highest grab serial seen since QEMU last reset them
        self.registered = False
        self.agent = False  # a guest agent has the vdagent port open
        self.resets = 0  # QEMU's Register calls on us (serial resets)
        self.releases: list[int] = []  # selections QEMU told us were released
        self.grabs: list[tuple[int, int, list[str]]] = []  # QEMU's grabs on us: (selection, serial, mimes)
        self.to_host: Callable[[str], None] | None = None  # where the guest's copied text goes
        self._offered: dict[int, bytes] = {}  # selection -> the text we own there
        self._tasks: set[asyncio.Task[None]] = set()
        display.add_message_handler(self.handle)  # before the connection starts: QEMU calls it during Register

    def register(self) -> concurrent.futures.Future[None]:
        """Become QEMU's clipboard peer (ClipboardError when QEMU refuses: another peer is registered)."""
        async def register(bus: P2PMessageBus) -> None:
            await _call(bus, "Register", "", [])
            self.registered = True
            log.info("%s: clipboard registered with QEMU", self.name)
        return self.display.submit(register)

    def close(self) -> None:
        self.registered = False
        for task in list(self._tasks):
            task.cancel()

    # --------------------------------------------------------- what we call

    def offer(self, text: str, selection: int = 0) -> concurrent.futures.Future[int]:
        """Own ``selection`` with ``text`` (the guest may now paste it); the future has the grab's serial."""
        async def grab(bus: P2PMessageBus) -> int:
            self.serial += 1
            self._offered[selection] = text.encode()
            await _call(bus, "Grab", "uuas", [selection, self.serial, [MIME]])
            return self.serial
        return self.display.submit(grab)

    def release(self, selection: int = 0) -> concurrent.futures.Future[None]:
        async def release(bus: P2PMessageBus) -> None:
            self._offered.pop(selection, None)
            await _call(bus, "Release", "u", [selection])
        return self.display.submit(release)

    def fetch(self, selection: int = 0) -> concurrent.futures.Future[str]:
        """The text the guest copied into ``selection`` (ClipboardError: none, or no agent answered)."""
        return self.display.submit(lambda bus: _fetch(bus, selection))

    # ------------------------------------------------- what QEMU calls on us

    def handle(self, msg: Message) -> Message | bool:
        """QEMU's calls on our clipboard object (backend loop); never raises at the bus."""
        if msg.message_type is not MessageType.METHOD_CALL or msg.path != PATH:
            return False
        if msg.interface == PROPS_IFACE:
            if msg.member == "GetAll":
                return Message.new_method_return(msg, "a{sv}", [{}])
            return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownProperty", "no properties")
        member = msg.member or ""
        if msg.interface not in (IFACE, None) or member not in SIGNATURES:
            return False
        if msg.signature != SIGNATURES[member]:
            return Message.new_error(msg, FAILED, f"{member} with signature {msg.signature!r}")
        if member == "Register":
            self.serial = 0
            self.resets += 1
        elif member == "Grab":
            return self._grabbed(msg, *msg.body)
        elif member == "Release":
            self.releases.append(int(msg.body[0]))
        elif member == "Request":
            return self._requested(msg, *msg.body)
        return Message.new_method_return(msg)

    def _grabbed(self, msg: Message, selection: int, serial: int, mimes: list[str]) -> Message:
        if selection >= SELECTIONS:
            return Message.new_error(msg, FAILED, f"no selection {selection}")
        self.serial = max(self.serial, serial)
        self.grabs.append((selection, serial, list(mimes)))
        self._offered.pop(selection, None)  # the guest owns it now
        if MIME in mimes and selection == 0 and self.to_host is not None:
            task = asyncio.get_running_loop().create_task(self._copy_to_host(selection))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return Message.new_method_return(msg)

    async def _copy_to_host(self, selection: int) -> None:
        try:
            text = await asyncio.wrap_future(self.fetch(selection))
        except (ClipboardError, DisplayError) as exc:
            log.info("%s: the guest's clipboard could not be read: %s", self.name, exc)
            return
        if self.to_host is not None:
            self.to_host(text)

    def _requested(self, msg: Message, selection: int, mimes: list[str]) -> Message:
        data = self._offered.get(selection)
        if data is None:
            return Message.new_error(msg, FAILED, f"nothing offered in selection {selection}")
        if MIME not in mimes:
            return Message.new_error(msg, FAILED, f"only {MIME} is offered")
        return Message.new_method_return(msg, "say", [MIME, data])
