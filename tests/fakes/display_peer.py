"""A fake QEMU ``-display dbus,p2p=yes``: the far end of a DisplayClient's sockets.

It plays QEMU's side of the protocol closely enough for the real client code to run
unchanged: the SASL *server* (EXTERNAL, unix fds), ``GetAll`` on the VM and console
objects, ``RegisterListener(h)`` followed by the listener handshake (SASL server on
the passed socket, then a ``GetAll`` call on the client's listener object).  Then a
test sends listener calls, well-formed or not, and reads the client's replies.

Faults: ``stall=`` stops answering at one handshake step (QEMU frozen, or a peer
that never finishes), :meth:`drop` cuts both connections, :meth:`send_raw` writes
arbitrary bytes on the listener connection.  Input calls the client makes on the
display connection are recorded in :attr:`inputs`.

Blocking sockets and one thread: the display connection is served on the peer's
thread; the listener connection belongs to the test's thread once :attr:`ready`.
"""

from __future__ import annotations

import array
import itertools
import os
import socket
import threading
from collections.abc import Sequence
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast._private.unmarshaller import Unmarshaller
from dbus_fast.constants import MessageFlag

VM_PATH = "/org/qemu/Display1/VM"
CONSOLE_PATH = "/org/qemu/Display1/Console_0"
LISTENER_PATH = "/org/qemu/Display1/Listener"
LISTENER_IFACE = "org.qemu.Display1.Listener"
UNIX_MAP_IFACE = "org.qemu.Display1.Listener.Unix.Map"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
CONSOLE_IFACE = "org.qemu.Display1.Console"
KEYBOARD_IFACE = "org.qemu.Display1.Keyboard"
MOUSE_IFACE = "org.qemu.Display1.Mouse"

# Handshake steps at which ``stall`` stops answering.
STALL_POINTS = ("auth", "getall", "register", "listener_auth")


class PeerError(Exception):
    """The client did not answer as expected."""


def sasl_server(sock: socket.socket) -> None:
    """Accept any EXTERNAL client and agree to unix fds; returns after BEGIN.

    Reads a byte at a time: the first D-Bus message follows BEGIN immediately and
    must be left in the socket for the message reader.
    """
    if sock.recv(1) != b"\0":
        raise PeerError("SASL: no leading NUL byte")
    while True:
        line = bytearray()
        while not line.endswith(b"\r\n"):
            byte = sock.recv(1)
            if not byte:
                raise EOFError("SASL: peer closed")
            line += byte
        command = line.decode().strip().split(" ")[0]
        if command == "AUTH":
            sock.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
        elif command == "NEGOTIATE_UNIX_FD":
            sock.sendall(b"AGREE_UNIX_FD\r\n")
        elif command == "BEGIN":
            return
        else:
            sock.sendall(b"ERROR\r\n")


def send(sock: socket.socket, msg: Message) -> None:
    data = bytes(msg._marshall(negotiate_unix_fd=True))
    if msg.unix_fds:
        fds = array.array("i", msg.unix_fds)
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
    else:
        sock.sendall(data)


def receive(reader: Unmarshaller) -> Message:
    """The next message (blocking); EOFError when the peer closed."""
    while True:
        msg = reader.unmarshall()
        if msg is not None:
            return msg


class FakeDisplayPeer:
    """QEMU's side of one VM's D-Bus display; give :attr:`client_sock` to ``DisplayClient.start``."""

    def __init__(self, width: int = 64, height: int = 48, *, stall: str | None = None,
                 console_type: str = "Graphic") -> None:
        if stall is not None and stall not in STALL_POINTS:
            raise ValueError(f"stall must be one of {STALL_POINTS}")
        self.width, self.height = width, height
        self.stall = stall
        self.console_type = console_type
        self.client_sock, self._sock = socket.socketpair()
        self.listener: socket.socket | None = None
        self.listener_props: dict[str, Any] | None = None  # the client's answer to GetAll
        self.inputs: list[tuple[str, str, list]] = []  # (interface, member, body) of input calls
        self.ready = threading.Event()  # the listener is registered and answered GetAll
        self.error: Exception | None = None  # what ended the peer's thread, if not EOF
        self._serial = itertools.count(1000)
        self._listener_reader: Unmarshaller | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-display-peer", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------- display side

    def _serve(self) -> None:
        try:
            if self.stall == "auth":
                self._stop.wait()
                return
            sasl_server(self._sock)
            reader = Unmarshaller(sock=self._sock, negotiate_unix_fd=True)
            while not self._stop.is_set():
                self._handle(receive(reader))
        except (EOFError, OSError):
            pass
        except Exception as exc:  # noqa: BLE001 - any failure is reported to the test through .error
            self.error = exc

    def _handle(self, msg: Message) -> None:
        try:
            if msg.message_type is not MessageType.METHOD_CALL:
                return
            if msg.member == "GetAll":
                if self.stall == "getall":
                    self._stop.wait()
                    return
                send(self._sock, Message.new_method_return(msg, "a{sv}", [self._props(msg)]))
            elif msg.member == "RegisterListener":
                self._register(msg)
            else:
                self.inputs.append((msg.interface, msg.member, list(msg.body)))
                if not msg.flags & MessageFlag.NO_REPLY_EXPECTED:
                    send(self._sock, Message.new_method_return(msg))
        finally:
            for fd in msg.unix_fds:  # kept ones were dup()ed
                os.close(fd)

    def _props(self, msg: Message) -> dict[str, Variant]:
        iface = msg.body[0]
        if msg.path == VM_PATH:
            return {"Name": Variant("s", "QEMU (fake)"), "ConsoleIDs": Variant("au", [0])}
        if iface == CONSOLE_IFACE:
            return {"Label": Variant("s", "fake"), "Type": Variant("s", self.console_type),
                    "Width": Variant("u", self.width), "Height": Variant("u", self.height),
                    "Interfaces": Variant("as", [CONSOLE_IFACE, KEYBOARD_IFACE, MOUSE_IFACE])}
        if iface == MOUSE_IFACE:
            return {"IsAbsolute": Variant("b", False)}
        if iface == KEYBOARD_IFACE:
            return {"Modifiers": Variant("u", 0)}
        return {}

    def _register(self, msg: Message) -> None:
        if self.stall == "register":
            self._stop.wait()
            return
        # Like QEMU: reply first, then authenticate the listener, then ask its properties.
        fd = msg.unix_fds[msg.body[0]]
        self.listener = socket.socket(fileno=os.dup(fd))
        send(self._sock, Message.new_method_return(msg))
        if self.stall == "listener_auth":
            self._stop.wait()
            return
        sasl_server(self.listener)
        self._listener_reader = Unmarshaller(sock=self.listener, negotiate_unix_fd=True)
        reply = self.call("GetAll", "s", [LISTENER_IFACE], iface=PROPS_IFACE)
        self.listener_props = {k: v.value for k, v in reply.body[0].items()}
        self.ready.set()

    # --------------------------------------------------------- listener side

    def call(self, member: str, signature: str = "", body: Sequence[Any] = (), *,
             iface: str | None = LISTENER_IFACE, fds: Sequence[int] = (), reply: bool = True,
             timeout: float = 5.0) -> Message | None:
        """Call ``member`` on the client's listener object; its reply when ``reply``.

        ``fds`` are sent with the message (and stay open here).  Without ``reply``
        the message goes out with NO_REPLY_EXPECTED, as QEMU sends frames.
        """
        if self.listener is None or self._listener_reader is None:
            raise PeerError("no listener registered")
        msg = Message(path=LISTENER_PATH, interface=iface, member=member, signature=signature,
                      body=list(body), unix_fds=list(fds), serial=next(self._serial),
                      flags=MessageFlag.NONE if reply else MessageFlag.NO_REPLY_EXPECTED)
        send(self.listener, msg)
        if not reply:
            return None
        self.listener.settimeout(timeout)
        try:
            while True:
                answer = receive(self._listener_reader)
                if answer.reply_serial == msg.serial:
                    return answer
        except TimeoutError:
            raise PeerError(f"no reply to {member} within {timeout} s") from None
        finally:
            if self.listener is not None:
                self.listener.settimeout(None)

    def sync(self, timeout: float = 5.0) -> None:
        """Return once the client has handled everything sent before (a round trip)."""
        self.call("Get", "ss", [LISTENER_IFACE, "Interfaces"], iface=PROPS_IFACE, timeout=timeout)

    def send_raw(self, data: bytes) -> None:
        """Write ``data`` as-is on the listener connection (garbage, truncated messages)."""
        self.listener.sendall(data)

    def drop(self) -> None:
        """Cut both connections, as a QEMU that goes away does."""
        for sock in (self.listener, self._sock):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self.drop()
        self._thread.join(5)
        for sock in (self.listener, self._sock, self.client_sock):
            if sock is not None:
                sock.close()
