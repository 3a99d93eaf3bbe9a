"""The display client against a fake QEMU (tests/fakes/display_peer.py): stalls and drops.

QEMU's main loop is frozen while a listener handshake is pending, so every wait of
the client is bounded; a peer that stops answering at any handshake step gives a
DisplayError naming the step, within the bound, and the client's thread ends.
"""

from __future__ import annotations

import concurrent.futures
import gc
import os
import threading
import time

import numpy as np
import pytest
from dbus_fast import MessageType

from geometry_os.frames import FrameMailbox
from geometry_os.plugins.qemu import dbus_display as dd
from geometry_os.plugins.qemu import display_listener as dl
from geometry_os.plugins.qemu.pixels import PIXMAN_X8R8G8B8
from tests.fakes.display_peer import FakeDisplayPeer

BOUND = 0.5  # the client's handshake timeouts in these tests


@pytest.fixture
def short_timeouts(monkeypatch):
    monkeypatch.setattr(dd, "CONNECT_TIMEOUT", BOUND)
    monkeypatch.setattr(dd, "CALL_TIMEOUT", BOUND)


def connect(peer: FakeDisplayPeer, **kwargs) -> tuple[dd.DisplayClient, concurrent.futures.Future]:
    client = dd.DisplayClient("fake", FrameMailbox(), **kwargs)
    return client, client.start(peer.client_sock)


@pytest.mark.parametrize("stall,message", [
    ("auth", "D-Bus display connection failed: timed out"),
    ("getall", f"GetAll {dd.VM_IFACE} on {dd.VM_PATH}: timed out"),
    ("register", "RegisterListener handshake timed out"),
    ("listener_auth", "RegisterListener handshake timed out"),
])
def test_a_stalled_handshake_fails_within_the_bound(short_timeouts, stall, message):
    peer = FakeDisplayPeer(stall=stall)
    client, ready = connect(peer)
    started = time.monotonic()
    try:
        with pytest.raises(dd.DisplayError) as info:
            ready.result(5)
        assert str(info.value) == message
        assert time.monotonic() - started < 2 * BOUND + 0.5
    finally:
        client.close()
        peer.close()
    assert not client.running


def test_full_handshake_then_frames(short_timeouts):
    peer = FakeDisplayPeer(8, 4)
    client, ready = connect(peer, shm=True)
    try:
        ready.result(5)
        assert peer.ready.wait(5)
        assert peer.listener_props == {"Interfaces": [dl.UNIX_MAP_IFACE]}
        assert client.console_size == (8, 4)
        img = np.arange(8 * 4 * 4, dtype=np.uint8).reshape(4, 8, 4)
        peer.call("Scanout", "uuuuay", [8, 4, 32, PIXMAN_X8R8G8B8, img.tobytes()], reply=False)
        peer.sync()
        assert np.array_equal(client.mailbox.peek_pixels(), img)
        client.keys.press(0x1E)
        deadline = time.monotonic() + 5
        while not peer.inputs and time.monotonic() < deadline:
            time.sleep(0.01)
        assert peer.inputs == [(dd.KEYBOARD_IFACE, "Press", [0x1E])]
    finally:
        client.close()
        peer.close()


def test_no_graphic_console_is_a_clear_error(short_timeouts):
    peer = FakeDisplayPeer(console_type="Text")
    client, ready = connect(peer)
    try:
        with pytest.raises(dd.DisplayError, match=r"QEMU has no graphic console"):
            ready.result(5)
    finally:
        client.close()
        peer.close()


def test_a_dropped_connection_is_reported_once_and_the_thread_ends(short_timeouts):
    closed: list[str] = []
    peer = FakeDisplayPeer()
    client, ready = connect(peer, on_closed=closed.append)
    try:
        ready.result(5)
        assert peer.ready.wait(5)
        peer.drop()
        deadline = time.monotonic() + 2
        while not closed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert closed == ["display connection lost (EOFError)"]
        client.keys.press(1)  # input after the drop is dropped, never raises or blocks
    finally:
        client.close()
        peer.close()
    assert not client.running and not any(t.name == "qemu-display-fake" for t in threading.enumerate())


def test_key_sequences_are_paced_in_order_and_fail_once_the_connection_is_gone(short_timeouts):
    closed: list[str] = []
    peer = FakeDisplayPeer()
    client, ready = connect(peer, on_closed=closed.append)
    try:
        ready.result(5)
        assert peer.ready.wait(5)
        keys = client.keys
        started = time.monotonic()
        assert keys.send([(True, 0x1E), (False, 0x1E), (True, 0x30)]).result(5) is None
        assert time.monotonic() - started >= 2 * keys.interval * 0.9
        deadline = time.monotonic() + 5
        while len(peer.inputs) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert peer.inputs == [(dd.KEYBOARD_IFACE, "Press", [0x1E]), (dd.KEYBOARD_IFACE, "Release", [0x1E]),
                               (dd.KEYBOARD_IFACE, "Press", [0x30])]
        peer.drop()
        deadline = time.monotonic() + 2
        while not closed and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(ConnectionError, match=r"^fake: the display is not connected$"):
            keys.send([(False, 0x30)]).result(5)
    finally:
        client.close()
        peer.close()
    with pytest.raises(ConnectionError, match=r"^the guest's keyboard is closed$"):
        keys.send([(False, 0x30)]).result(5)


def memfd_of(size: int) -> int:
    fd = os.memfd_create("surface")
    os.ftruncate(fd, size)  # sparse: a 1 GiB surface costs no memory until touched
    return fd


@pytest.fixture
def connected(short_timeouts):
    peer = FakeDisplayPeer(640, 480)
    client, ready = connect(peer, shm=True)
    ready.result(5)
    assert peer.ready.wait(5)
    yield peer, client
    client.close()
    peer.close()


def scanout_map(peer, width, height, size=None):
    stride = width * 4
    fd = memfd_of(size if size is not None else stride * height)
    try:
        return peer.call("ScanoutMap", "huuuuu", [0, 0, width, height, stride, PIXMAN_X8R8G8B8],
                         iface=dl.UNIX_MAP_IFACE, fds=[fd])
    finally:
        os.close(fd)  # QEMU may free its surface at any time; the client reads through its own fd


def test_surface_size_limits(connected):
    peer, client = connected
    for width, height in ((16384, 8), (8, 16384)):  # QEMU's own maximum side: accepted
        reply = scanout_map(peer, width, height)
        assert reply.message_type is MessageType.METHOD_RETURN
        fb = client.mailbox.peek_pixels()
        assert fb.shape == (height, width, 4) and fb[-1, -1].sum() == 0
    reply = scanout_map(peer, 16385, 16385, size=4096)
    assert reply.error_name == "org.qemu.Display1.Error.Invalid"
    assert reply.body == ["ScanoutMap: bad surface size 16385x16385"]
    reply = peer.call("Scanout", "uuuuay", [16385, 1, 16385 * 4, PIXMAN_X8R8G8B8, bytes(16)])
    assert reply.body == ["Scanout: bad surface size 16385x1"]
    assert client.mailbox.peek_pixels().shape == (16384, 8, 4)  # the last good surface stays


def test_surface_that_disappears_leaves_readable_frames(connected):
    peer, client = connected
    scanout_map(peer, 640, 480)
    old = client.mailbox.peek_pixels()  # a renderer may still hold this one
    scanout_map(peer, 1024, 768)  # QEMU switched surfaces and freed the old memfd
    peer.call("Disable", reply=False)
    peer.sync()
    assert old.shape == (480, 640, 4) and old[-1, -1].sum() == 0
    fb = client.mailbox.peek_pixels()
    assert fb.shape == (768, 1024, 4) and not fb.any() and client.transport == "inline"
    reply = peer.call("UpdateMap", "iiii", [0, 0, 8, 8], iface=dl.UNIX_MAP_IFACE)
    assert reply.body == ["UpdateMap: UpdateMap without a ScanoutMap"]  # damage for a gone surface


def test_disabled_display_shows_on_the_tile_and_clears():
    from pathlib import Path

    from geometry_os.plugins.qemu.params import QemuParams
    from geometry_os.plugins.qemu.session import VmSession
    from geometry_os.tiles import TileState

    class Ctx:
        name = title = "t"
        scene_dir = runtime_dir = Path("/nonexistent")

    reports: list = []
    s = VmSession(Ctx(), QemuParams(iso="x.iso"), lambda state, why: reports.append((state, why)))
    s._state = TileState.RUNNING
    s._display_disabled(True)
    s._display_disabled(False)
    assert reports == [(TileState.RUNNING, "display disabled"), (TileState.RUNNING, "")]


def surface_mappings() -> int:
    return sum(1 for line in open("/proc/self/maps") if "memfd:surface" in line)


def test_a_closed_client_keeps_no_screen_memory_without_a_collection():
    """Reconnects: each client's surface goes with it by reference counting alone.

    A closed client lingers in reference cycles (its bound methods) until a full
    collection, which big screen buffers do not trigger; the soak saw one QEMU surface
    mapping kept per few reconnects that way."""
    mailbox = FrameMailbox()  # the tile's: every client of the VM publishes to it
    before = surface_mappings()
    gc.disable()
    try:
        for _ in range(3):
            peer = FakeDisplayPeer(320, 200)
            client = dd.DisplayClient("fake", mailbox, shm=True)
            client.start(peer.client_sock).result(5)
            assert peer.ready.wait(5)
            scanout_map(peer, 320, 200)
            peer.post("UpdateMap", "iiii", [0, 0, 8, 8], iface=dl.UNIX_MAP_IFACE)
            peer.sync()
            client.close()
            peer.close()
        # the last surface stays mapped: the mailbox's frame is a view of it
        assert surface_mappings() == before + 1
    finally:
        gc.enable()
