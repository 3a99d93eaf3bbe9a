"""A QEMU that shrinks its shared surface under us: an error on the tile, never SIGBUS.

The fake peer (tests/fakes/display_peer.py, :func:`shrink_after_map`) maps a surface,
cuts its memfd to nothing and reports damage in it.  The client runs in a child
process: were its mapping unguarded, reading the frame would kill that child with
SIGBUS, which fails the test here instead of killing pytest.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from geometry_os.frames import FrameMailbox
from geometry_os.plugins.qemu import pixels
from geometry_os.plugins.qemu.display_surface import Surface
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.session import VmSession
from geometry_os.plugins.qemu.shared_surface import SurfaceLost
from geometry_os.tiles import TileState

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
from geometry_os.frames import FrameMailbox
from geometry_os.plugins.qemu.dbus_display import DisplayClient
from tests.fakes.display_peer import FakeDisplayPeer, shrink_after_map

peer = FakeDisplayPeer(320, 200)
faults = []
client = DisplayClient("shrunk", FrameMailbox(), shm=True, on_fault=faults.append)
try:
    client.start(peer.client_sock).result(10)
    shrink_after_map(peer)
    frame = client.mailbox.peek_pixels()
    total = int(frame.astype("uint64").sum())  # every byte read, as the renderer's upload reads them
    print(json.dumps({"faults": faults, "shape": list(frame.shape), "total": total,
                      "dropped": client.stats.dropped, "running": client.running}))
finally:
    client.close()
    peer.close()
"""


def test_a_shrunk_memfd_is_an_error_on_the_tile_not_sigbus():
    child = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           check=False)
    assert child.returncode != -signal.SIGBUS, "the client died of SIGBUS reading the shrunk surface"
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout.splitlines()[-1])
    assert result["faults"] == ["QEMU shrank the shared screen memory to 0 bytes under the shell "
                                "(256000 needed)"]
    assert result["running"] and result["dropped"] == 1  # the UpdateMap refused, the connection kept
    assert result["shape"] == [200, 320, 4] and result["total"] == 0  # what was lost reads as black


def memfd(size: int, fill: int) -> int:
    fd = os.memfd_create("surface")
    os.write(fd, bytes([fill]) * size)
    return fd


def test_a_partly_shrunk_memfd_is_reported_once_and_the_next_surface_works():
    faults: list[str] = []
    surface = Surface("t", FrameMailbox(), on_fault=faults.append)
    fd = memfd(4 * 4 * 4, fill=7)
    try:
        surface.scanout_map(fd, 0, 4, 4, 16, pixels.PIXMAN_X8R8G8B8)
        os.ftruncate(fd, 16 * 2)  # rows 2 and 3 are gone
        # inside the file's last page: no fault, the file's size tells (any rectangle)
        with pytest.raises(SurfaceLost, match=r"^QEMU shrank the shared screen memory to 32 bytes under the "
                                              r"shell \(64 needed\)$"):
            surface.update_map(0, 0, 4, 1)
        for _ in range(3):  # later damage for the lost surface: refused, not reported again
            with pytest.raises(ValueError, match=r"^UpdateMap without a ScanoutMap$"):
                surface.update_map(0, 0, 1, 1)
    finally:
        os.close(fd)
    frame = surface.mailbox.peek_pixels()
    assert len(faults) == 1 and (frame[:2] == 7).all() and (frame[2:] == 0).all()  # what was cut off is black
    fd = memfd(2 * 2 * 4, fill=9)
    try:
        surface.scanout_map(fd, 0, 2, 2, 8, pixels.PIXMAN_X8R8G8B8)  # QEMU's next surface is shown
    finally:
        os.close(fd)
    assert (surface.mailbox.peek_pixels() == 9).all() and surface.transport == "shm" and len(faults) == 1


def test_a_socket_passed_as_the_surface_is_refused():
    a, b = socket.socketpair()
    surface = Surface("t", FrameMailbox())
    try:
        with pytest.raises(pixels.PixelError, match=r"^the surface fd is not a memfd \(mode 0o14"):
            surface.scanout_map(a.fileno(), 0, 2, 2, 8, pixels.PIXMAN_X8R8G8B8)
    finally:
        a.close()
        b.close()
    assert surface.mailbox.peek_pixels() is None


def test_the_session_shows_a_lost_screen_on_the_tile():
    reports: list[tuple[TileState, str]] = []

    class Ctx:
        name = title = "t"
        scene_dir = runtime_dir = Path("/nonexistent")

    session = VmSession(Ctx(), QemuParams(iso="x.iso"), lambda state, why: reports.append((state, why)))

    async def fault() -> None:
        session._run_task = asyncio.current_task()  # reports are made on the run's loop
        session._on_display_fault("QEMU shrank the shared screen memory to 0 bytes under the shell (64 needed)")
        session._on_display_fault("again")  # the first failure's reason stays
        await asyncio.sleep(0.01)

    asyncio.run(fault())
    assert reports == [(TileState.FAILED, "screen lost: QEMU shrank the shared screen memory to 0 bytes under "
                                          "the shell (64 needed); restart the VM")]
