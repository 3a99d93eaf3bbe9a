"""The display client's listener handlers, fed hand-made messages (no QEMU).

Covers what real guests rarely produce: strides wider than the row, Updates past
the surface (a mode switch without Scanout), shared-memory surfaces, malformed
messages, which must be dropped without an exception and with fds closed.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from dbus_fast import Message, MessageType
from dbus_fast.constants import MessageFlag

from geometry_os import api
from geometry_os.frames import FrameMailbox
from geometry_os.plugins.qemu import dbus_display as dd
from geometry_os.plugins.qemu import display_listener as dl
from geometry_os.plugins.qemu.pixels import PIXMAN_X8R8G8B8

NO_REPLY = MessageFlag.NO_REPLY_EXPECTED


def call(member, signature="", body=(), iface=dl.LISTENER_IFACE, fds=(), reply=False):
    return Message(path=dl.LISTENER_PATH, interface=iface, member=member, signature=signature,
                   body=list(body), unix_fds=list(fds), serial=1,
                   flags=MessageFlag.NONE if reply else NO_REPLY)


def image(h, w, seed=1):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)


def padded(img, stride):
    h, w = img.shape[:2]
    buf = bytearray(stride * h)
    for y in range(h):
        buf[y * stride:y * stride + w * 4] = img[y].tobytes()
    return bytes(buf)


@pytest.fixture
def client():
    return dd.DisplayClient("t", FrameMailbox(), shm=True)


def frame(client):
    return client.mailbox.peek_pixels()


def test_properties_advertise_unix_map_only_with_shm(client):
    reply = client.listener.handle(call("GetAll", "s", [dl.LISTENER_IFACE],
                                             iface=dl.PROPS_IFACE, reply=True))
    assert reply.body[0]["Interfaces"].value == [dl.UNIX_MAP_IFACE]
    inline = dd.DisplayClient("t", FrameMailbox(), shm=False)
    reply = inline.listener.handle(call("GetAll", "s", [dl.LISTENER_IFACE],
                                             iface=dl.PROPS_IFACE, reply=True))
    assert reply.body[0]["Interfaces"].value == []
    reply = client.listener.handle(call("GetAll", "s", [dl.UNIX_MAP_IFACE],
                                             iface=dl.PROPS_IFACE, reply=True))
    assert reply.body == [{}]


def test_scanout_with_wide_stride_then_update(client):
    img = image(5, 7)
    assert client.listener.handle(
        call("Scanout", "uuuuay", [7, 5, 7 * 4 + 12, PIXMAN_X8R8G8B8, padded(img, 40)]))
    assert np.array_equal(frame(client), img)
    patch = image(2, 3, seed=2)
    client.listener.handle(call("Update", "iiiiuuay",
                                     [4, 1, 3, 2, 12, PIXMAN_X8R8G8B8, patch.tobytes()]))
    img[1:3, 4:7] = patch
    assert np.array_equal(frame(client), img)
    assert client.transport == "inline"
    assert (client.stats.scanouts, client.stats.updates, client.stats.dropped) == (1, 1, 0)


def test_update_past_the_surface_follows_console_size(client):
    client.listener.handle(call("Scanout", "uuuuay",
                                     [4, 4, 16, PIXMAN_X8R8G8B8, bytes(64)]))
    client.surface._console_size = (10, 6)  # the guest switched mode; no new Scanout yet
    patch = image(2, 2)
    client.listener.handle(call("Update", "iiiiuuay",
                                     [8, 4, 2, 2, 8, PIXMAN_X8R8G8B8, patch.tobytes()]))
    fb = frame(client)
    assert fb.shape == (6, 10, 4)
    assert np.array_equal(fb[4:6, 8:10], patch)
    # without a console size to go by, the surface grows to fit
    client.surface._console_size = None
    client.listener.handle(call("Update", "iiiiuuay",
                                     [11, 0, 1, 1, 4, PIXMAN_X8R8G8B8, bytes(4)]))
    assert frame(client).shape == (6, 12, 4)


@pytest.mark.parametrize("msg", [
    call("Scanout", "uuuuay", [4, 4, 16, PIXMAN_X8R8G8B8, bytes(10)]),  # truncated
    call("Scanout", "uuuuay", [4, 4, 8, PIXMAN_X8R8G8B8, bytes(64)]),  # stride < row
    call("Scanout", "uuuuay", [0, 4, 16, PIXMAN_X8R8G8B8, bytes(64)]),  # empty
    call("Scanout", "uuuuay", [2, 2, 8, 0x01010101, bytes(16)]),  # unknown format
    call("Scanout", "uuuay", [2, 2, 8, bytes(16)]),  # wrong signature
    call("Update", "iiiiuuay", [0, 0, 2, 2, 8, PIXMAN_X8R8G8B8, bytes(16)]),  # no Scanout yet
    call("UpdateMap", "iiii", [0, 0, 2, 2]),  # no ScanoutMap yet
    call("CursorDefine", "iiiiay", [64, 64, 0, 0, bytes(100)]),  # short cursor
    call("CursorDefine", "iiiiay", [-1, 4, 0, 0, bytes(100)]),
])
def test_malformed_messages_are_dropped(client, msg):
    assert client.listener.handle(msg) is True
    assert client.stats.dropped == 1
    assert frame(client) is None


def test_update_entirely_outside_is_dropped(client):
    client.listener.handle(call("Scanout", "uuuuay", [4, 4, 16, PIXMAN_X8R8G8B8,
                                                           bytes(64)]))
    client.listener.handle(call("Update", "iiiiuuay",
                                     [-5, -5, 2, 2, 8, PIXMAN_X8R8G8B8, bytes(16)]))
    assert client.stats.dropped == 1 and frame(client).shape == (4, 4, 4)


def memfd(data: bytes) -> int:
    fd = os.memfd_create("surface")
    os.write(fd, data)
    return fd


def fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_scanout_map_reads_shared_memory_and_closes_fd(client):
    img = image(6, 5)
    stride, offset = 32, 4096
    fd = memfd(bytes(offset) + padded(img, stride))
    reply = client.listener.handle(call("ScanoutMap", "huuuuu",
                                             [0, offset, 5, 6, stride, PIXMAN_X8R8G8B8],
                                             iface=dl.UNIX_MAP_IFACE, fds=[fd], reply=True))
    assert reply.message_type is MessageType.METHOD_RETURN
    assert not fd_open(fd)
    fb = frame(client)
    assert np.array_equal(fb, img)
    assert client.transport == "shm"
    client.listener.handle(call("UpdateMap", "iiii", [1, 1, 2, 2], iface=dl.UNIX_MAP_IFACE))
    assert client.mailbox.take().dirty is not None
    assert client.stats.scanout_maps == 1 and client.stats.update_maps == 1


def test_scanout_map_too_small_is_refused(client):
    fd = memfd(bytes(100))
    reply = client.listener.handle(call("ScanoutMap", "huuuuu",
                                             [0, 0, 5, 6, 32, PIXMAN_X8R8G8B8],
                                             iface=dl.UNIX_MAP_IFACE, fds=[fd], reply=True))
    assert reply.message_type is MessageType.ERROR  # QEMU then falls back to inline
    assert not fd_open(fd)
    assert frame(client) is None


def test_cursor_mouse_and_disable(client):
    seen = []
    client.surface.on_disabled = seen.append
    client.listener.handle(call("CursorDefine", "iiiiay", [2, 2, 1, 0, bytes(range(16))]))
    assert client.cursor == api.Cursor(2, 2, 1, 0, bytes(range(16)))
    client.listener.handle(call("MouseSet", "iii", [10, 20, 1]))
    assert client.cursor_pos == api.CursorPos(10, 20, True)
    client.listener.handle(call("Scanout", "uuuuay", [2, 2, 8, PIXMAN_X8R8G8B8,
                                                           b"\xff" * 16]))
    client.listener.handle(call("Disable"))
    assert seen == [True] and not frame(client).any()
    client.listener.handle(call("Scanout", "uuuuay", [2, 2, 8, PIXMAN_X8R8G8B8,
                                                           b"\xff" * 16]))
    assert seen == [True, False]


def test_console_resize_signal_follows_inline_surface(client):
    client.console_id = 0
    client.listener.handle(call("Scanout", "uuuuay", [4, 4, 16, PIXMAN_X8R8G8B8,
                                                           b"\x07" * 64]))
    from dbus_fast import Variant
    signal = Message.new_signal(dd.CONSOLE_PATH.format(0), dl.PROPS_IFACE, "PropertiesChanged",
                                "sa{sv}as", [dd.CONSOLE_IFACE, {"Width": Variant("u", 6),
                                                                "Height": Variant("u", 3)}, []])
    client._on_display_message(signal)
    fb = frame(client)
    assert fb.shape == (3, 6, 4) and (fb[:3, :4] == 7).all() and not fb[:, 4:].any()
    mouse = Message.new_signal(dd.CONSOLE_PATH.format(0), dl.PROPS_IFACE, "PropertiesChanged",
                               "sa{sv}as", [dd.MOUSE_IFACE, {"IsAbsolute": Variant("b", True)}, []])
    client._on_display_message(mouse)
    assert client.is_absolute
