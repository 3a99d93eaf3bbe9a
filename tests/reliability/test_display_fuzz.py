"""Fuzzing the display client through a fake QEMU peer (hypothesis).

Every example is a fresh connection (tests/fakes/display_peer.py) and a sequence of
listener calls that are random and mostly malformed: wrong signatures, rectangles
out of range, strides smaller than rows, truncated payloads, unknown pixel formats,
memfds smaller than the surface, fd indexes with no fd, unknown members.  Each call
is sent expecting a reply, so the test knows it was handled.

Properties: the client always answers (its thread never dies), a refused call is
an error reply counted in ``stats.dropped`` and logged, and whatever frame the
mailbox holds can be read at its first and last pixel (a mapping that is too short
would fault there).  Raw garbage on the connection ends it with one report.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geometry_os.frames import FrameMailbox
from geometry_os.plugins.qemu import dbus_display as dd
from geometry_os.plugins.qemu import display_listener as dl
from geometry_os.plugins.qemu import pixels
from tests.fakes.display_peer import FakeDisplayPeer

FORMATS = [pixels.PIXMAN_X8R8G8B8, pixels.PIXMAN_A8R8G8B8, 0x20030888, 0x10020565, 0x18020888,
           0, 0x01010101, 0xFFFFFFFF]
SIGNATURES = ["", "s", "u", "ay", "iii", "iiii", "uuuay", "uuuuay", "iiiiuuay", "huuuuu",
              "iiiiay", "huuuutb", "uuuuuu", "hh"]
MEMBERS = ["Scanout", "Update", "ScanoutMap", "UpdateMap", "Disable", "MouseSet", "CursorDefine",
           "ScanoutDMABUF", "UpdateDMABUF", "Bogus"]
SIGNATURE_OF = dl.SIGNATURES

u32 = st.one_of(st.integers(0, 70), st.sampled_from([2**31 - 1, 2**31, 2**32 - 1, 16384, 16385]),
                st.integers(0, 2**32 - 1))
small = st.integers(-8, 40)
i32 = st.one_of(small, small, small, st.sampled_from([-2**31, 2**31 - 1, 16383, 16384]),
                st.integers(-2**31, 2**31 - 1))
u64 = st.integers(0, 2**64 - 1)


@st.composite
def surface(draw):
    """(width, height, stride, fmt, size): a valid surface, or one a little wrong."""
    exact = draw(st.integers(0, 3)) < 3  # hypothesis favours small draws: 0 is the valid case
    if exact:
        width, height = draw(st.integers(1, 24)), draw(st.integers(1, 16))
        fmt = draw(st.sampled_from(FORMATS[:5]))
    else:
        width, height = draw(st.integers(0, 24)), draw(st.integers(0, 16))
        fmt = draw(st.sampled_from(FORMATS) | st.integers(0, 2**32 - 1))
    bpp = pixels.bytes_per_pixel(fmt) if pixels.is_supported(fmt) else 4
    stride = max(0, width * bpp + draw(st.integers(0, 8) if exact else st.integers(-8, 16)))
    size = max(0, stride * height + (0 if exact else draw(st.integers(-40, 40))))
    return width, height, stride, fmt, size


def value(draw, code: str):
    if code == "u":
        return draw(u32)
    if code == "h":  # an index into the message's fds: one is sent
        return draw(st.sampled_from([0, 0, 1, 2**32 - 1]))
    if code == "i":
        return draw(i32)
    if code == "t":
        return draw(u64)
    if code == "b":
        return draw(st.booleans())
    if code == "s":
        return draw(st.text(max_size=8))
    raise AssertionError(code)


def body_for(draw, signature: str) -> list:
    body, i = [], 0
    while i < len(signature):
        if signature.startswith("ay", i):
            body.append(draw(st.binary(max_size=2048)))
            i += 2
        else:
            body.append(value(draw, signature[i]))
            i += 1
    return body


@st.composite
def listener_call(draw):
    """(member, signature, body, memfd size or None, interface) of one call."""
    member = draw(st.sampled_from(MEMBERS))
    right = SIGNATURE_OF.get(member, "")
    signature = right if draw(st.integers(0, 3)) < 3 else draw(st.sampled_from(SIGNATURES))
    memfd = None
    if signature == right and member == "UpdateMap" and draw(st.integers(0, 3)) < 3:
        body = [draw(small) for _ in range(4)]
    elif signature == right and member in ("Scanout", "Update", "ScanoutMap", "CursorDefine") \
            and draw(st.integers(0, 3)) < 3:
        width, height, stride, fmt, size = draw(surface())
        if member == "Scanout":
            body = [width, height, stride, fmt, bytes(size)]
        elif member == "Update":
            body = [draw(small), draw(small), width, height, stride, fmt, bytes(size)]
        elif member == "ScanoutMap":
            offset = draw(st.sampled_from([0, 0, 4096, 5]))
            body = [draw(st.sampled_from([0, 0, 0, 1])), offset, width, height, stride, fmt]
            memfd = size + offset
        else:
            body = [width, height, draw(i32), draw(i32), bytes(size)]
    else:
        body = body_for(draw, signature)
        if "h" in signature:
            memfd = draw(st.integers(0, 8192))
    iface = draw(st.sampled_from([dl.LISTENER_IFACE] * 4 + [dl.UNIX_MAP_IFACE] * 3
                                 + ["org.example.Nope"]))
    return member, signature, body, memfd, iface


def memfd_of(size: int) -> int:
    fd = os.memfd_create("fuzz-surface")
    os.ftruncate(fd, size)
    return fd


def check_frame(client: dd.DisplayClient) -> None:
    fb = client.mailbox.peek_pixels()
    if fb is None:
        return
    height, width = fb.shape[:2]
    assert fb.dtype == np.uint8 and fb.shape[2] == 4
    assert 0 < width <= pixels.MAX_DIMENSION and 0 < height <= pixels.MAX_DIMENSION
    int(fb[0, 0].sum()) + int(fb[-1, -1].sum())  # a short mapping faults here


# A valid surface first, so that damage calls have something to land on.
FIRST = {
    "inline": ("Scanout", "uuuuay", [16, 8, 64, pixels.PIXMAN_X8R8G8B8, bytes(512)], None,
               dl.LISTENER_IFACE),
    "shm": ("ScanoutMap", "huuuuu", [0, 0, 16, 8, 64, pixels.PIXMAN_X8R8G8B8], 512,
            dl.UNIX_MAP_IFACE),
}


@given(first=st.sampled_from(["shm", "inline", None]),
       calls=st.lists(listener_call(), min_size=1, max_size=8))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzzed_listener_calls_never_break_the_client(first, calls):
    run_calls(first, calls)


def run_calls(first: str | None, calls: list) -> None:
    """One connection to a fake peer, ``calls`` on it, the properties checked after each."""
    closed: list[str] = []
    peer = FakeDisplayPeer(16, 8)
    client = dd.DisplayClient("fuzz", FrameMailbox(), shm=True, on_closed=closed.append)
    if first is not None:
        calls = [FIRST[first], *calls]
    try:
        client.start(peer.client_sock).result(5)
        assert peer.ready.wait(5)
        for member, signature, body, memfd, iface in calls:
            fds = [memfd_of(memfd)] if memfd is not None else []
            dropped = client.stats.dropped
            try:
                reply = peer.call(member, signature, body, iface=iface, fds=fds)
            finally:
                for fd in fds:
                    os.close(fd)
            assert client.running and not closed
            if reply.error_name == "org.qemu.Display1.Error.Invalid":
                assert client.stats.dropped == dropped + 1
            else:
                assert client.stats.dropped == dropped
            check_frame(client)
        assert peer.error is None
    finally:
        client.close()
        peer.close()


def test_refused_calls_are_logged_and_dropped(caplog):
    peer = FakeDisplayPeer(16, 8)
    client = dd.DisplayClient("fuzz", FrameMailbox(), shm=True)
    try:
        client.start(peer.client_sock).result(5)
        assert peer.ready.wait(5)
        with caplog.at_level(logging.WARNING, logger=dl.__name__):
            reply = peer.call("Scanout", "uuuuay", [4, 4, 8, pixels.PIXMAN_X8R8G8B8, bytes(64)])
        assert reply.error_name == "org.qemu.Display1.Error.Invalid"
        assert "stride 8 < row of 16 bytes" in reply.body[0]
        assert [r.getMessage() for r in caplog.records] == [
            "fuzz: dropped Scanout: stride 8 < row of 16 bytes (4 px of x8r8g8b8) (1 dropped so far)"]
        fd = memfd_of(100)
        try:
            reply = peer.call("ScanoutMap", "huuuuu", [0, 0, 8, 8, 32, pixels.PIXMAN_X8R8G8B8],
                              iface=dl.UNIX_MAP_IFACE, fds=[fd])
        finally:
            os.close(fd)
        assert reply.body[0] == "ScanoutMap: memfd of 100 bytes, 256 needed for 8x8 stride 32 at offset 0"
        assert client.mailbox.peek_pixels() is None and client.stats.dropped == 2
    finally:
        client.close()
        peer.close()


@given(garbage=st.binary(min_size=1, max_size=64))
@settings(max_examples=25, deadline=None)
def test_garbage_on_the_wire_ends_the_connection_with_one_report(garbage):
    closed: list[str] = []
    peer = FakeDisplayPeer(16, 8)
    client = dd.DisplayClient("fuzz", FrameMailbox(), on_closed=closed.append)
    try:
        client.start(peer.client_sock).result(5)
        assert peer.ready.wait(5)
        peer.send_raw(garbage)
        peer.drop()  # garbage that parses as the start of a message leaves the reader waiting
        deadline = time.monotonic() + 2
        while not closed and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(closed) == 1 and closed[0].startswith("display connection")
    finally:
        client.close()
        peer.close()
    assert not client.running
