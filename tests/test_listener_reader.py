"""The listener connection's reader (plugins/qemu/listener_reader.py) on a real socketpair.

Messages are marshalled by dbus-fast (what QEMU's GDBus sends is the same wire
format), written to one end, and the reader is called on the other end the way the
event loop calls it when the socket is readable.  Frame calls must arrive decoded
with their pixels as a view of the reader's buffer; everything else as dbus-fast
Messages with their fds; a stream that is not D-Bus must end the connection once,
with a one-line reason, and leave no fd open.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.constants import MessageFlag

from geometry_os.plugins.qemu import listener_reader as lr

PATH = "/org/qemu/Display1/Listener"
IFACE = "org.qemu.Display1.Listener"
MAP_IFACE = "org.qemu.Display1.Listener.Unix.Map"
NO_REPLY = MessageFlag.NO_REPLY_EXPECTED


def wire(member, signature="", body=(), *, iface=IFACE, flags=NO_REPLY, fds=(), serial=7) -> bytes:
    msg = Message(path=PATH, interface=iface, member=member, signature=signature, body=list(body),
                  flags=flags, unix_fds=list(fds), serial=serial)
    return bytes(msg._marshall(negotiate_unix_fd=True))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Harness:
    """A reader on one end of a socketpair, recording what it hands out."""

    def __init__(self) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.ours.setblocking(False)
        self.theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        self.frames: list[tuple] = []
        self.messages: list[Message] = []
        self.ended: list[Exception | None] = []
        calls = {(PATH, IFACE, "Scanout", "uuuuay"): self.frame("Scanout"),
                 (PATH, IFACE, "Update", "iiiiuuay"): self.frame("Update"),
                 (PATH, MAP_IFACE, "UpdateMap", "iiii"): self.frame("UpdateMap")}
        self.reader = lr.ListenerReader(self.ours, self.messages.append, self.ended.append, calls)

    def frame(self, member):
        def handler(*args):
            if args and isinstance(args[-1], memoryview):
                assert not args[-1].readonly  # a view of the reader's own buffer, not a copy
                args = (*args[:-1], bytes(args[-1]))  # valid during the call only
            self.frames.append((member, *args))
        return handler

    def drain(self) -> None:
        """Call the reader while the socket is readable, as the event loop (level-triggered) does."""
        while not self.ended and select.select([self.ours], [], [], 0)[0]:
            self.reader()

    def send(self, data: bytes, fds=()) -> None:
        if fds:
            self.theirs.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))])
        else:
            self.theirs.sendall(data)

    def close(self) -> None:
        self.theirs.close()
        if not self.ended:
            self.reader()
        self.ours.close()
        for msg in self.messages:
            for fd in msg.unix_fds:
                os.close(fd)


@pytest.fixture
def harness():
    h = Harness()
    yield h
    h.close()


def test_frame_calls_arrive_decoded_without_a_message(harness):
    pixels = bytes(range(256)) * 4
    harness.send(wire("Scanout", "uuuuay", [16, 16, 64, 0x20020888, pixels])
                 + wire("Update", "iiiiuuay", [-3, 2, 4, 1, 16, 0x20020888, pixels[:16]])
                 + wire("UpdateMap", "iiii", [1, -2, 3, 2**31 - 1], iface=MAP_IFACE))
    harness.reader()
    assert harness.frames == [("Scanout", 16, 16, 64, 0x20020888, pixels),
                              ("Update", -3, 2, 4, 1, 16, 0x20020888, pixels[:16]),
                              ("UpdateMap", 1, -2, 3, 2**31 - 1)]
    assert harness.messages == [] and harness.ended == []


def test_other_calls_become_messages(harness):
    # A frame call that expects a reply, or on another interface, goes the general way.
    harness.send(wire("Update", "iiiiuuay", [0, 0, 1, 1, 4, 0x20020888, b"abcd"], flags=MessageFlag.NONE)
                 + wire("Update", "iiiiuuay", [0, 0, 1, 1, 4, 0x20020888, b"abcd"], iface="org.example.Other")
                 + wire("GetAll", "s", [IFACE], iface="org.freedesktop.DBus.Properties", flags=MessageFlag.NONE)
                 + wire("CursorDefine", "iiiiay", [1, 1, 0, 0, b"\1\2\3\4"]))
    harness.reader()
    assert harness.frames == []
    assert [(m.member, m.interface, m.body) for m in harness.messages] == [
        ("Update", IFACE, [0, 0, 1, 1, 4, 0x20020888, b"abcd"]),
        ("Update", "org.example.Other", [0, 0, 1, 1, 4, 0x20020888, b"abcd"]),
        ("GetAll", "org.freedesktop.DBus.Properties", [IFACE]),
        ("CursorDefine", IFACE, [1, 1, 0, 0, b"\1\2\3\4"])]
    assert harness.messages[0].message_type is MessageType.METHOD_CALL


def test_fds_go_with_the_message_that_announced_them(harness):
    memfds = [os.memfd_create("t"), os.memfd_create("t")]
    try:
        for i, fd in enumerate(memfds):
            os.write(fd, f"surface {i}".encode())
            harness.send(wire("UpdateMap", "iiii", [i, 0, 1, 1], iface=MAP_IFACE))
            harness.send(wire("ScanoutMap", "huuuuu", [0, 0, 8, 8, 32, 0x20020888], iface=MAP_IFACE, fds=[0]),
                         fds=[fd])
        harness.drain()  # a read ends after a message's fds: the loop calls again
    finally:
        for fd in memfds:
            os.close(fd)
    assert [f[1] for f in harness.frames] == [0, 1]
    maps = harness.messages
    assert [m.member for m in maps] == ["ScanoutMap", "ScanoutMap"]
    assert [os.pread(m.unix_fds[0], 9, 0) for m in maps] == [b"surface 0", b"surface 1"]


def test_a_large_frame_arrives_in_pieces_and_whole(harness):
    # 4 MB through a socket whose other end writes it as it is read: many partial reads.
    harness.theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 << 10)
    pixels = os.urandom(1024 * 1024 * 4)
    data = wire("Scanout", "uuuuay", [1024, 1024, 4096, 0x20020888, pixels])
    writer = threading.Thread(target=harness.send, args=(data,))
    writer.start()
    while not harness.frames:
        harness.reader()  # as the loop calls it: whenever the socket may be readable
    writer.join()
    assert len(harness.frames) == 1 and harness.frames[0][:5] == ("Scanout", 1024, 1024, 4096, 0x20020888)
    assert harness.frames[0][5] == pixels
    # The next small message lands after it, in the same buffer.
    harness.send(wire("UpdateMap", "iiii", [1, 2, 3, 4], iface=MAP_IFACE))
    harness.reader()
    assert harness.frames[-1] == ("UpdateMap", 1, 2, 3, 4)


def test_a_message_split_anywhere_is_put_back_together(harness):
    stream = (wire("Update", "iiiiuuay", [5, 6, 2, 1, 8, 0x20020888, bytes(range(8))])
              + wire("Disable") + wire("UpdateMap", "iiii", [9, 9, 9, 9], iface=MAP_IFACE))
    for cut in range(1, len(stream)):
        harness.frames.clear()
        harness.messages.clear()
        harness.send(stream[:cut])
        harness.reader()
        harness.send(stream[cut:])
        harness.reader()
        assert [f[0] for f in harness.frames] == ["Update", "UpdateMap"], cut
        assert [m.member for m in harness.messages] == ["Disable"], cut
    assert harness.ended == []


def test_a_big_endian_message_is_read(harness):
    # dbus-fast only writes little-endian; a peer may write big-endian (the spec allows both).
    def field(code, kind, value):
        raw = value.encode()
        return struct.pack(">BB1sx", code, 1, kind.encode()) + struct.pack(">I", len(raw)) + raw + b"\0"
    fields = field(1, "o", PATH)
    fields += b"\0" * (-len(fields) & 7) + field(3, "s", "Disable")
    header = struct.pack(">cBBBIII", b"B", 1, NO_REPLY.value, 1, 0, 5, len(fields)) + fields
    harness.send(header + b"\0" * (-len(header) & 7))
    harness.reader()
    assert [(m.member, m.path, m.serial) for m in harness.messages] == [("Disable", PATH, 5)]


@pytest.mark.parametrize("data, reason", [
    (b"X" * 16, "not a D-Bus message (endianness byte 0x58)"),
    (b"l\x01\x00\x02" + bytes(12), "D-Bus protocol version 2 (1 expected)"),
    (b"l\x09\x00\x01" + bytes(12), "D-Bus message of unknown type 9"),
    (b"l\x01\x00\x01" + struct.pack("<III", 2**31, 1, 0), "a D-Bus message of 2147483664 bytes"),
    (b"l\x01\x00\x01" + struct.pack("<III", 0, 1, 2**30), "1073741824 bytes of header fields"),
    (b"l\x01\x00\x01" + struct.pack("<III", 0, 1, 8) + b"\x01\x01v\x00\x00\x00\x00\x00",
     "header field 1 of type 'v'"),
    (b"l\x01\x00\x01" + struct.pack("<III", 0, 1, 8) + b"\x01\x01s\x00\xff\x00\x00\x00",
     "header field 1: string runs past the header"),
    (b"l\x01\x00\x01" + struct.pack("<III", 0, 1, 8) + b"\x01\x01u\x00\x05\x00\x00\x00",
     "header field 1 of type 'u', not 'o'"),
    (b"l\x01\x00\x01" + struct.pack("<III", 0, 1, 8) + b"\x09\x01u\x00\x01\x00\x00\x00",
     "a message announcing 1 fds, 0 received"),
])
def test_a_stream_that_is_not_dbus_ends_the_connection_with_one_line(harness, data, reason):
    harness.send(data)
    harness.reader()
    assert len(harness.ended) == 1 and isinstance(harness.ended[0], lr.ProtocolError)
    assert str(harness.ended[0]).startswith(reason) and "\n" not in str(harness.ended[0])
    harness.reader()  # called again by a loop that has not removed it yet: nothing happens
    assert len(harness.ended) == 1


def test_a_body_that_does_not_match_its_signature_ends_the_connection(harness):
    good = wire("CursorDefine", "iiiiay", [1, 1, 0, 0, b"\1\2\3\4"])
    bad = good[:-8] + struct.pack("<I", 10**6) + good[-4:]  # the array claims more than the body holds
    harness.send(bad)
    harness.reader()
    assert len(harness.ended) == 1 and str(harness.ended[0]).startswith("unreadable D-Bus message")


def test_end_of_file_mid_message_is_reported_as_eof_and_closes_unclaimed_fds(harness):
    before = open_fds()
    memfd = os.memfd_create("t")
    harness.send(wire("ScanoutMap", "huuuuu", [0, 0, 8, 8, 32, 0x20020888], iface=MAP_IFACE, fds=[0])[:40],
                 fds=[memfd])
    os.close(memfd)
    harness.reader()
    assert harness.ended == [] and open_fds() == before + 1  # the fd waits for its message
    harness.theirs.shutdown(socket.SHUT_WR)
    harness.reader()
    assert len(harness.ended) == 1 and type(harness.ended[0]) is EOFError
    assert open_fds() == before


def test_remembered_headers_are_bounded(harness):
    for i in range(lr.HEADER_CACHE + 20):
        harness.send(wire(f"Member{i}"))
        harness.reader()
    assert len(harness.messages) == lr.HEADER_CACHE + 20
    assert len(harness.reader._headers) == lr.HEADER_CACHE


def test_in_place_decoding_checks_the_body_length():
    decoder = lr.InPlace("iiiiuuay")
    body = memoryview(struct.pack("<iiiiIII", -1, 2, 3, 4, 5, 6, 3) + b"xyz")
    assert decoder.decode(body, 0, len(body))[:6] == (-1, 2, 3, 4, 5, 6)
    assert decoder.decode(body, 0, len(body) - 1) is None
    assert decoder.decode(body, 0, 10) is None
    with pytest.raises(ValueError):
        lr.InPlace("ias")
