"""Fuzzing the listener connection's reader (plugins/qemu/listener_reader.py), a new D-Bus wire parser.

A stream of listener calls (frame calls and others, with random arguments, some
with a memfd) is marshalled by dbus-fast, then maybe damaged: cut short, bytes
overwritten, random bytes inserted.  It reaches the reader over a real socketpair
in random pieces, and the writer closes.

Properties: the reader never raises; the connection ends exactly once, with
EOFError or a one-line ProtocolError; nothing is handed out after that; no fd is
left open; and an undamaged stream is delivered exactly as dbus-fast's own parser
reads it, in order (a differential test against the library it replaces).
"""

from __future__ import annotations

import os
import socket
import struct

from dbus_fast import Message
from dbus_fast._private.unmarshaller import Unmarshaller
from dbus_fast.constants import MessageFlag
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from geometry_os.plugins.qemu import listener_reader as lr

PATH = "/org/qemu/Display1/Listener"
IFACE = "org.qemu.Display1.Listener"
MAP_IFACE = "org.qemu.Display1.Listener.Unix.Map"
FRAMES = {(PATH, IFACE, "Scanout", "uuuuay"), (PATH, IFACE, "Update", "iiiiuuay"),
          (PATH, MAP_IFACE, "UpdateMap", "iiii")}
CALLS = [("Scanout", "uuuuay", IFACE), ("Update", "iiiiuuay", IFACE), ("UpdateMap", "iiii", MAP_IFACE),
         ("ScanoutMap", "huuuuu", MAP_IFACE), ("MouseSet", "iii", IFACE), ("CursorDefine", "iiiiay", IFACE),
         ("Disable", "", IFACE), ("GetAll", "s", "org.freedesktop.DBus.Properties"), ("Update", "iiiiuuay", None)]

i32 = st.integers(-2**31, 2**31 - 1)
u32 = st.integers(0, 2**32 - 1)


@st.composite
def call(draw):
    member, signature, iface = draw(st.sampled_from(CALLS))
    values = {"i": i32, "u": u32, "h": st.just(0), "s": st.text(st.characters(exclude_characters="\0"), max_size=6),
              "Y": st.binary(max_size=300)}
    body = [draw(values[code]) for code in signature.replace("ay", "Y")]
    flags = draw(st.sampled_from([MessageFlag.NO_REPLY_EXPECTED] * 3 + [MessageFlag.NONE]))
    msg = Message(path=PATH, interface=iface, member=member, signature=signature, body=body, flags=flags,
                  unix_fds=[0] if "h" in signature else [], serial=draw(st.integers(1, 2**32 - 1)))
    return bytes(msg._marshall(negotiate_unix_fd=True)), "h" in signature


@st.composite
def damage(draw, size):
    """None (the stream as it is), or one way of breaking it."""
    kind = draw(st.sampled_from(["none", "none", "cut", "flip", "insert"]))
    if kind == "none" or size == 0:
        return None
    at = draw(st.integers(0, size - 1))
    if kind == "cut":
        return ("cut", at, b"")
    return (kind, at, draw(st.binary(min_size=1, max_size=8)))


def expected(stream: bytes) -> list[tuple]:
    """What dbus-fast's own parser reads from an undamaged stream, in the reader's terms."""
    out, pos = [], 0
    while pos < len(stream):
        msg = Unmarshaller(_Chunk(stream[pos:]), None, True).unmarshall()
        pos += _length(stream, pos)
        key = (msg.path, msg.interface, msg.member, msg.signature)
        kind = "frame" if key in FRAMES and msg.flags & MessageFlag.NO_REPLY_EXPECTED else "message"
        out.append((kind, msg.member, tuple(bytes(v) if isinstance(v, bytearray | bytes) else v for v in msg.body)))
    return out


def _length(stream: bytes, pos: int) -> int:
    body_len, _, fields_len = struct.unpack_from("<III", stream, pos + 4)
    return 16 + fields_len + (-fields_len & 7) + body_len


class _Chunk:
    """A stream dbus-fast's Unmarshaller reads one message from."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def run_stream(parts: list[tuple[bytes, bool]], broken, pieces: list[int]) -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    got: list[tuple] = []
    ended: list[Exception | None] = []
    received_fds: list[int] = []

    def frame(member):
        def handler(*args):
            assert not ended
            got.append(("frame", member, tuple(bytes(a) if isinstance(a, memoryview) else a for a in args)))
        return handler

    def process(msg: Message) -> None:
        assert not ended
        received_fds.extend(msg.unix_fds)
        got.append(("message", msg.member, tuple(bytes(v) if isinstance(v, bytearray | bytes) else v
                                                 for v in msg.body)))

    reader = lr.ListenerReader(ours, process, ended.append, {key: frame(key[2]) for key in FRAMES})
    before = open_fds()
    stream = b"".join(data for data, _ in parts)
    fd_at = []  # where each fd travels: with the first byte of its message
    pos = 0
    for data, has_fd in parts:
        if has_fd:
            fd_at.append(pos)
        pos += len(data)
    if broken is not None:
        kind, at, extra = broken
        stream = {"cut": stream[:at], "flip": stream[:at] + extra + stream[at + len(extra):],
                  "insert": stream[:at] + extra + stream[at:]}[kind][:len(stream) + 8]
    try:
        # Send in pieces, cutting also where fds go so each fd rides with its message's first byte.
        cuts = sorted({min(len(stream), max(0, c)) for c in pieces} | {p for p in fd_at if p < len(stream)}
                      | {len(stream)})
        start = 0
        for cut in cuts:
            if cut <= start:
                continue
            chunk = stream[start:cut]
            if start in fd_at:
                memfd = os.memfd_create("fuzz")
                theirs.sendmsg([chunk], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", memfd))])
                os.close(memfd)
            else:
                theirs.sendall(chunk)
            start = cut
            reader()
        theirs.close()
        for _ in range(4 * len(parts) + 2):  # as the loop would: a read stops after each message's fd
            reader()
        assert len(ended) == 1
        event(f"{broken[0] if broken else 'intact'} stream: {type(ended[0]).__name__}")
        assert type(ended[0]) in (EOFError, lr.ProtocolError), repr(ended[0])
        assert "\n" not in str(ended[0])
        if broken is None:
            assert type(ended[0]) is EOFError
            assert got == expected(b"".join(data for data, _ in parts))
    finally:
        for fd in received_fds:
            os.close(fd)
        ours.close()
    assert open_fds() == before - 2  # both ends are closed; nothing else stayed open


@given(parts=st.lists(call(), min_size=1, max_size=6), data=st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_stream_is_read_or_ends_the_connection_cleanly(parts, data):
    size = sum(len(d) for d, _ in parts)
    broken = data.draw(damage(size))
    pieces = data.draw(st.lists(st.integers(0, size), max_size=6))
    run_stream(parts, broken, pieces)
