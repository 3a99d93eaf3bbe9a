"""A fake QEMU ``-display dbus,p2p=yes`` for fault injection, fuzzing and benchmarks.

It is the far end of a DisplayClient's sockets and plays QEMU's side of the
protocol closely enough for the real client code to run unchanged: the SASL
*server* (EXTERNAL, unix fds), ``GetAll`` on the VM and console objects,
``RegisterListener(h)`` followed by the listener handshake (SASL server on the
passed socket, then a ``GetAll`` call on the client's listener object).  Then the
caller sends listener calls, well-formed or not, and reads the client's replies.
Real guests go through real QEMU (tests/qemu); this fake is for what QEMU cannot be
made to do on demand.

Faults: ``stall=`` stops answering at one handshake step (QEMU frozen, or a peer
that never finishes), :meth:`FakeDisplayPeer.drop` cuts both connections,
:meth:`FakeDisplayPeer.send_raw` writes arbitrary bytes on the listener
connection.  Input calls the client makes on the display connection are recorded
in :attr:`FakeDisplayPeer.inputs`.

Benchmarks: run as a child process (so that its marshalling does not share the
client's interpreter), ``python -m tests.fakes.display_peer --fd N ...`` serves
the connected socket N and streams frames at a fixed rate (:func:`stream`): an
inline ``Scanout`` then ``Update`` s, or a shared-memory ``ScanoutMap`` (a memfd)
then ``UpdateMap`` damage rectangles, all sent with NO_REPLY_EXPECTED as QEMU
sends them.  It prints one JSON line with the monotonic send time of every frame
message, in order (benchmarks/frame_path.py).

Blocking sockets and one thread: the display connection is served on the peer's
thread; the listener connection belongs to the caller's thread once :attr:`ready`.
"""

from __future__ import annotations

import argparse
import array
import itertools
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from dbus_fast import Message, MessageType, Variant
from dbus_fast._private.unmarshaller import Unmarshaller
from dbus_fast.constants import MessageFlag

# QEMU's names, written out here rather than taken from the client: the fake plays QEMU.
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
PIXMAN_X8R8G8B8 = 0x20020888


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


def send(sock: socket.socket, msg: Message) -> float:
    """Write ``msg`` (with its fds); the monotonic time its first byte went out, after marshalling.

    A blocking write: it waits while the socket is full, as QEMU's writer does.
    """
    data = bytes(msg._marshall(negotiate_unix_fd=True))
    sent = time.monotonic()
    if msg.unix_fds:
        fds = array.array("i", msg.unix_fds)
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
    else:
        sock.sendall(data)
    return sent


def receive(reader: Unmarshaller) -> Message:
    """The next message (blocking); EOFError when the peer closed."""
    while True:
        msg = reader.unmarshall()
        if msg is not None:
            return msg


class FakeDisplayPeer:
    """QEMU's side of one VM's D-Bus display; give :attr:`client_sock` to ``DisplayClient.start``.

    ``sock``: serve this connected socket instead (the client has the other end);
    :attr:`client_sock` is None then.
    """

    def __init__(self, width: int = 64, height: int = 48, *, stall: str | None = None,
                 console_type: str = "Graphic", sock: socket.socket | None = None) -> None:
        if stall is not None and stall not in STALL_POINTS:
            raise ValueError(f"stall must be one of {STALL_POINTS}")
        self.width, self.height = width, height
        self.stall = stall
        self.console_type = console_type
        self.client_sock: socket.socket | None
        if sock is None:
            self.client_sock, self._sock = socket.socketpair()
        else:
            self.client_sock, self._sock = None, sock
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
        except Exception as exc:  # any other failure is reported to the test through .error
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

    def post(self, member: str, signature: str = "", body: Sequence[Any] = (), *,
             iface: str | None = LISTENER_IFACE) -> float:
        """Send ``member`` to the client's listener with NO_REPLY_EXPECTED, as QEMU sends frames;
        the monotonic time it went out."""
        if self.listener is None:
            raise PeerError("no listener registered")
        return send(self.listener, Message(path=LISTENER_PATH, interface=iface, member=member, signature=signature,
                                           body=list(body), serial=next(self._serial),
                                           flags=MessageFlag.NO_REPLY_EXPECTED))

    def call(self, member: str, signature: str = "", body: Sequence[Any] = (), *,
             iface: str | None = LISTENER_IFACE, fds: Sequence[int] = (), reply: bool = True,
             timeout: float = 5.0) -> Message | None:
        """Call ``member`` on the client's listener object; its reply when ``reply``.

        ``fds`` are sent with the message (and stay open here).  Without ``reply``
        the message goes out with NO_REPLY_EXPECTED (:meth:`post`).
        """
        if self.listener is None or self._listener_reader is None:
            raise PeerError("no listener registered")
        if not reply:
            self.post(member, signature, body, iface=iface)
            return None
        msg = Message(path=LISTENER_PATH, interface=iface, member=member, signature=signature,
                      body=list(body), unix_fds=list(fds), serial=next(self._serial))
        send(self.listener, msg)
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


# ------------------------------------------------------------------ benchmarks

def patches(rect: tuple[int, int], count: int = 4) -> list[np.ndarray]:
    """The payloads :func:`stream` sends, in turn: their content does not matter, the bytes moved do."""
    rw, rh = rect
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (rh, rw, 4), dtype=np.uint8) for _ in range(count)]


def stream(peer: FakeDisplayPeer, *, shm: bool, rect: tuple[int, int], rate: float,
           seconds: float) -> dict[str, Any]:
    """Once the client registered, send ``rate`` damage rectangles of ``rect`` a second for ``seconds``.

    Returns the send time of every frame message (the first surface included) and
    where the last patch went (``x``, ``y``, index into :func:`patches`), for the
    benchmark to check the client's framebuffer.
    """
    if not peer.ready.wait(10):
        raise PeerError("the client did not register its listener within 10 s")
    if shm and UNIX_MAP_IFACE not in (peer.listener_props or {}).get("Interfaces", []):
        raise PeerError("the client did not offer Unix.Map")
    w, h = peer.width, peer.height
    stride = w * 4
    rw, rh = rect
    payloads = patches(rect)
    sent: list[float] = []
    if shm:
        memfd = os.memfd_create("fake-qemu-surface")
        os.ftruncate(memfd, stride * h)
        surface = np.memmap(f"/proc/self/fd/{memfd}", dtype=np.uint8, mode="r+", shape=(h, w, 4))
        surface[:] = np.random.default_rng(2).integers(0, 256, (h, w, 4), dtype=np.uint8)
        sent.append(time.monotonic())
        reply = peer.call("ScanoutMap", "huuuuu", [0, 0, w, h, stride, PIXMAN_X8R8G8B8], iface=UNIX_MAP_IFACE,
                          fds=[memfd])
        os.close(memfd)
        if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
            raise PeerError(f"ScanoutMap refused: {reply.body if reply else None}")
    else:
        sent.append(peer.post("Scanout", "uuuuay", [w, h, stride, PIXMAN_X8R8G8B8, bytes(stride * h)]))
    count = int(rate * seconds)
    start = time.monotonic() + 0.2
    positions = [((i * 97) % max(1, w - rw + 1), (i * 53) % max(1, h - rh + 1)) for i in range(count)]
    for i, (x, y) in enumerate(positions):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the update rate is what is being simulated
        patch = payloads[i % len(payloads)]
        if shm:
            surface[y:y + rh, x:x + rw] = patch  # the guest draws, then QEMU sends the damage
            sent.append(peer.post("UpdateMap", "iiii", [x, y, rw, rh], iface=UNIX_MAP_IFACE))
        else:
            sent.append(peer.post("Update", "iiiiuuay", [x, y, rw, rh, rw * 4, PIXMAN_X8R8G8B8, patch.tobytes()]))
    peer.sync(timeout=30)  # the client has handled every frame
    last = {"x": positions[-1][0], "y": positions[-1][1], "patch": (count - 1) % len(payloads)} if count else None
    return {"sent": sent, "last": last}


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake QEMU display streaming frames to a DisplayClient "
                                                 "(benchmarks/frame_path.py).")
    parser.add_argument("--fd", type=int, required=True, help="connected stream socket to serve on")
    parser.add_argument("--mode", choices=("inline", "shm"), default="inline")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--rect", type=lambda s: tuple(int(v) for v in s.split("x")), default=(1024, 768),
                        help="damage rectangle WxH of every update")
    parser.add_argument("--rate", type=float, default=30.0, help="updates per second")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    peer = FakeDisplayPeer(args.width, args.height, sock=socket.socket(fileno=args.fd))
    try:
        result = stream(peer, shm=args.mode == "shm", rect=args.rect, rate=args.rate, seconds=args.seconds)
    finally:
        peer.close()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


# ------------------------------------------------------------ fault injection

def shrink_after_map(peer: FakeDisplayPeer, *, size: int = 0) -> None:
    """A broken or hostile QEMU: a ``ScanoutMap`` of the whole console, then the memfd cut to
    ``size`` bytes (``ftruncate``) and an ``UpdateMap`` of all of it.

    A client that had mapped the memfd would take SIGBUS reading the lost pages.
    Returns once the client handled the damage (a round trip).
    """
    if not peer.ready.wait(10):
        raise PeerError("the client did not register its listener within 10 s")
    w, h = peer.width, peer.height
    memfd = os.memfd_create("fake-qemu-surface")
    try:
        os.ftruncate(memfd, w * 4 * h)
        os.pwrite(memfd, b"\x80" * (w * 4 * h), 0)
        reply = peer.call("ScanoutMap", "huuuuu", [0, 0, w, h, w * 4, PIXMAN_X8R8G8B8], iface=UNIX_MAP_IFACE,
                          fds=[memfd])
        if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
            raise PeerError(f"ScanoutMap refused: {reply.body if reply else None}")
        os.ftruncate(memfd, size)
        peer.post("UpdateMap", "iiii", [0, 0, w, h], iface=UNIX_MAP_IFACE)
        peer.sync()
    finally:
        os.close(memfd)


if __name__ == "__main__":
    main()
