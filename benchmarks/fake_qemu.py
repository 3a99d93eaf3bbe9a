"""A synthetic QEMU display peer: speaks QEMU's ``-display dbus,p2p=yes`` protocol to a
:class:`plugins.qemu.dbus_display.DisplayClient` over a socket, at a controlled rate.

It plays QEMU's part of every step the client depends on (see
/work/shared/notes/qemu-dbus-display.md): the SASL *server* on both connections,
``GetAll`` answers for the VM, console, mouse and keyboard objects,
``RegisterListener(h)`` followed by the listener handshake and a ``GetAll`` on the
client's listener object, then frames: an inline ``Scanout`` and ``Update``s, or
a shared-memory ``ScanoutMap`` (a memfd) and ``UpdateMap`` damage rectangles.
Frames go out with NO_REPLY_EXPECTED, as QEMU sends them.

Run as a child process so that its marshalling does not share the client's
interpreter (``python -m benchmarks.fake_qemu --fd N ...``); it prints one JSON line
with the monotonic send time of every frame message, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
import uuid

import numpy as np
from dbus_fast import Message, MessageType, Variant
from dbus_fast.constants import MessageFlag

from geometry_os.plugins.qemu import dbus_display as dd
from geometry_os.plugins.qemu import display_listener as dl
from geometry_os.plugins.qemu.p2p_bus import P2PMessageBus
from geometry_os.plugins.qemu.pixels import PIXMAN_X8R8G8B8

NO_REPLY = MessageFlag.NO_REPLY_EXPECTED


class ServerBus(P2PMessageBus):
    """The QEMU end of a p2p connection: SASL server (EXTERNAL, unix fds), no Hello."""

    async def _authenticate(self) -> None:
        guid = uuid.uuid4().hex
        if await self._read_bytes(1) != b"\0":
            raise ConnectionError("SASL: no leading NUL byte")
        while True:
            line = await self._read_line()
            if line.startswith("AUTH EXTERNAL"):
                await self._loop.sock_sendall(self._sock, f"OK {guid}\r\n".encode())
            elif line == "NEGOTIATE_UNIX_FD":
                await self._loop.sock_sendall(self._sock, b"AGREE_UNIX_FD\r\n")
            elif line == "BEGIN":
                return
            else:
                await self._loop.sock_sendall(self._sock, b"ERROR\r\n")

    async def _read_bytes(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = await self._loop.sock_recv(self._sock, count - len(data))
            if not chunk:
                raise ConnectionError("SASL: peer closed")
            data += chunk
        return data

    async def _read_line(self) -> str:
        # One byte at a time: the first D-Bus message may follow BEGIN in the same packet.
        line = b""
        while not line.endswith(b"\r\n"):
            line += await self._read_bytes(1)
        return line[:-2].decode()


def props(**values: Variant) -> dict[str, Variant]:
    return dict(values)


class FakeQemu:
    """One fake VM with one graphic console of ``width`` x ``height``."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.listener: ServerBus | None = None
        self.listener_ready = asyncio.get_running_loop().create_future()
        self.console = dd.CONSOLE_PATH.format(0)

    async def serve(self, sock: socket.socket) -> ServerBus:
        bus = ServerBus(sock)
        bus.add_message_handler(self._on_display_call)
        await bus.connect()
        return bus

    def _on_display_call(self, msg: Message) -> Message | bool:
        if msg.message_type is not MessageType.METHOD_CALL:
            return False
        if msg.interface == dl.PROPS_IFACE and msg.member == "GetAll":
            answers = {
                (dd.VM_PATH, dd.VM_IFACE): props(Name=Variant("s", "fake"), UUID=Variant("s", str(uuid.uuid4())),
                                                 ConsoleIDs=Variant("au", [0])),
                (self.console, dd.CONSOLE_IFACE): props(
                    Label=Variant("s", "fake-vga"), Type=Variant("s", "Graphic"), Head=Variant("u", 0),
                    Width=Variant("u", self.width), Height=Variant("u", self.height),
                    Interfaces=Variant("as", [dd.CONSOLE_IFACE, dd.KEYBOARD_IFACE, dd.MOUSE_IFACE])),
                (self.console, dd.MOUSE_IFACE): props(IsAbsolute=Variant("b", False)),
                (self.console, dd.KEYBOARD_IFACE): props(Modifiers=Variant("u", 0)),
            }
            answer = answers.get((msg.path, msg.body[0]))
            if answer is None:
                return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownInterface", msg.body[0])
            return Message.new_method_return(msg, "a{sv}", [answer])
        if msg.interface == dd.CONSOLE_IFACE and msg.member == "RegisterListener":
            sock = socket.socket(fileno=msg.unix_fds[0])
            asyncio.ensure_future(self._connect_listener(sock))
            return Message.new_method_return(msg)
        return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", msg.member)

    async def _connect_listener(self, sock: socket.socket) -> None:
        # QEMU: reply first, then the SASL handshake, then a synchronous GetAll.
        try:
            bus = ServerBus(sock)
            await bus.connect()
            reply = await bus.call(Message(path=dl.LISTENER_PATH, interface=dl.PROPS_IFACE, member="GetAll",
                                           signature="s", body=[dl.LISTENER_IFACE]))
            interfaces = reply.body[0]["Interfaces"].value if reply.message_type is MessageType.METHOD_RETURN else []
            self.listener = bus
            self.listener_ready.set_result(list(interfaces))
        except Exception as exc:  # noqa: BLE001 - any failure is reported to the waiting stream() call
            self.listener_ready.set_exception(exc)

    async def send(self, member: str, signature: str, body: list, iface: str = dl.LISTENER_IFACE) -> float:
        """A no-reply call written with asyncio's ``sock_sendall``, which waits while the
        socket is full (dbus-fast's own writer treats a full socket as an error).

        Returns when its first byte went out (after marshalling, which QEMU does in C).
        """
        bus = self.listener
        data = Message(path=dl.LISTENER_PATH, interface=iface, member=member, signature=signature, body=body,
                       flags=NO_REPLY, serial=bus.next_serial())._marshall(True)
        sent = time.monotonic()
        await asyncio.get_running_loop().sock_sendall(bus._sock, data)
        return sent

    async def call(self, member: str, signature: str, body: list, iface: str, fds: list[int]) -> Message:
        return await self.listener.call(Message(path=dl.LISTENER_PATH, interface=iface, member=member,
                                                signature=signature, body=body, unix_fds=fds))


async def stream(sock: socket.socket, args: argparse.Namespace) -> dict:
    """Connect, then send ``args.rate`` damage rectangles a second for ``args.seconds``."""
    peer = FakeQemu(args.width, args.height)
    bus = await peer.serve(sock)
    interfaces = await asyncio.wait_for(peer.listener_ready, 10)
    shm = args.mode == "shm"
    if shm and dl.UNIX_MAP_IFACE not in interfaces:
        raise SystemExit("the client did not offer Unix.Map")
    w, h = args.width, args.height
    stride = w * 4
    rw, rh = args.rect
    rng = np.random.default_rng(1)
    # A few pre-made payloads: the content does not matter, the bytes moved do.
    patches = [rng.integers(0, 256, rh * rw * 4, dtype=np.uint8).tobytes() for _ in range(4)]
    sent: list[float] = []
    memfd = None
    if shm:
        memfd = os.memfd_create("fake-qemu-surface")
        os.ftruncate(memfd, stride * h)
        surface = np.memmap(f"/proc/self/fd/{memfd}", dtype=np.uint8, mode="r+", shape=(h, w, 4))
        surface[:] = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        sent.append(time.monotonic())
        reply = await peer.call("ScanoutMap", "huuuuu", [0, 0, w, h, stride, PIXMAN_X8R8G8B8], dl.UNIX_MAP_IFACE,
                                [memfd])
        if reply.message_type is not MessageType.METHOD_RETURN:
            raise SystemExit(f"ScanoutMap refused: {reply.body}")
    else:
        sent.append(await peer.send("Scanout", "uuuuay", [w, h, stride, PIXMAN_X8R8G8B8, bytes(stride * h)]))
    count = int(args.rate * args.seconds)
    interval = 1.0 / args.rate
    start = time.monotonic() + 0.2
    positions = [((i * 97) % max(1, w - rw + 1), (i * 53) % max(1, h - rh + 1)) for i in range(count)]
    for i, (x, y) in enumerate(positions):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if shm:
            patch = np.frombuffer(patches[i % 4], dtype=np.uint8).reshape(rh, rw, 4)
            surface[y:y + rh, x:x + rw] = patch  # the guest draws, then QEMU sends the damage
            sent.append(await peer.send("UpdateMap", "iiii", [x, y, rw, rh], iface=dl.UNIX_MAP_IFACE))
        else:
            sent.append(await peer.send("Update", "iiiiuuay", [x, y, rw, rh, rw * 4, PIXMAN_X8R8G8B8, patches[i % 4]]))
    await asyncio.sleep(0.5)
    last = {"x": positions[-1][0], "y": positions[-1][1], "patch": (count - 1) % 4} if count else None
    bus.disconnect()
    peer.listener.disconnect()
    return {"sent": sent, "last": last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="connected stream socket to serve on")
    parser.add_argument("--mode", choices=("inline", "shm"), default="inline")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--rect", type=lambda s: tuple(int(v) for v in s.split("x")), default=(1024, 768),
                        help="damage rectangle WxH of every update")
    parser.add_argument("--rate", type=float, default=30.0, help="updates per second")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    sock = socket.socket(fileno=args.fd)
    result = asyncio.run(stream(sock, args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
