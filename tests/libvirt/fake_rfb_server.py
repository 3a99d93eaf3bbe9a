"""A fake RFB server, for fault injection and fuzzing only: it runs a valid handshake on one end of a
socketpair, then sends whatever bytes a test scripts, and records what the client sent.

Real behaviour is tested against QEMU (test_rfb_qemu.py); this peer exists to send what
a real server would not.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable

from geometry_os.plugins.libvirt.rfb.client import RfbClient

# The format a server would announce (ours, as it happens; the client replaces it anyway).
SERVER_PIXEL_FORMAT = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)


# Client message type -> size, for those whose size is fixed.
_CLIENT_MESSAGE_SIZES = {0: 20, 3: 10, 4: 8, 5: 6, 255: 12}


def server_init(width: int, height: int, name: bytes = b"fake") -> bytes:
    return struct.pack(">HH", width, height) + SERVER_PIXEL_FORMAT + struct.pack(">I", len(name)) + name


class FakeRfbServer:
    """The server end: ``handshake()`` then ``send()``; ``received`` collects the client's bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received = bytearray()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(sock=self.sock)

    async def handshake(self, width: int = 64, height: int = 48, version: bytes = b"RFB 003.008\n",
                        name: bytes = b"fake") -> None:
        """A 3.8 (or 3.7) handshake with security None; afterwards the client's bytes are collected."""
        assert self.reader is not None and self.writer is not None
        self.writer.write(version)
        await self.reader.readexactly(12)
        self.writer.write(b"\x01\x01")  # one security type: None
        await self.reader.readexactly(1)
        if version == b"RFB 003.008\n":
            self.writer.write(b"\x00\x00\x00\x00")
        await self.reader.readexactly(1)  # ClientInit
        self.writer.write(server_init(width, height, name))
        self._drain_task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        assert self.reader is not None
        while chunk := await self.reader.read(65536):
            self.received += chunk

    def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    async def wait_received(self, predicate: Callable[[bytes], bool], timeout: float = 5.0) -> None:
        """Wait until the client's bytes satisfy ``predicate``."""
        async def poll() -> None:
            while not predicate(bytes(self.received)):
                await asyncio.sleep(0.005)
        await asyncio.wait_for(poll(), timeout)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._drain_task is not None:
            self._drain_task.cancel()


async def connected(client: RfbClient, width: int = 64, height: int = 48) -> FakeRfbServer:
    """A fake server and ``client`` connected over a socketpair, handshake done."""
    client_sock, server_sock = socket.socketpair()
    server = FakeRfbServer(server_sock)
    await server.open()
    await asyncio.gather(client.start(client_sock), server.handshake(width, height))
    return server


def client_messages(data: bytes) -> list[tuple[int, bytes]]:
    """Split what a client sent into (message type, whole message); a trailing partial one is left out."""
    messages = []
    pos = 0
    while pos < len(data):
        kind = data[pos]
        if kind == 2:  # SetEncodings: its size is in its header
            if pos + 4 > len(data):
                break
            size = 4 + 4 * struct.unpack_from(">H", data, pos + 2)[0]
        else:
            size = _CLIENT_MESSAGE_SIZES[kind]
        if pos + size > len(data):
            break
        messages.append((kind, data[pos:pos + size]))
        pos += size
    return messages
