"""The RFB client against real QEMU: one tiny Linux guest (TCG, 128 MB) with two VNC displays on Unix
sockets (one open, one with a password), a USB tablet, QMP and a serial log.

What is checked: the client's framebuffer equals QMP ``screendump`` pixel for pixel for Raw,
ZRLE and Tight separately (in VGA text mode, and in a 32-bit graphics mode after a resize, with
random pixels so Tight's full-colour path and ZRLE's raw tiles run); keys typed as QEMU key
numbers reach the shell; the tablet sees our absolute pointer and buttons; VNC authentication.

The VGA text cursor (and fbcon's) blinks, so a screendump and our framebuffer are compared
until they agree, within a bounded number of tries: both are snapshots of a changing screen.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from qemu.qmp import QMPClient

from geometry_os import api
from geometry_os.plugins.libvirt.rfb.client import RfbClient
from geometry_os.plugins.libvirt.rfb.protocol import Encoding, RfbError
from tests.libvirt.conftest import until
from tests.qemu.test_qemu_source import read_ppm  # header parsed by field: pixels may start with whitespace bytes

pytestmark = pytest.mark.qemu

PASSWORD = "s3cret!"
BOOT_TIMEOUT = 180.0  # TCG on two shared cores: the prompt came after 15-35 s when measured
MATCH_TIMEOUT = 60.0


class Guest(NamedTuple):
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def vnc(self) -> Path:
        return self.folder / "vnc.sock"

    @property
    def locked_vnc(self) -> Path:
        return self.folder / "pw.sock"

    @property
    def qmp(self) -> Path:
        return self.folder / "qmp.sock"

    @property
    def serial(self) -> Path:
        return self.folder / "serial.log"

    def serial_text(self) -> str:
        try:
            return self.serial.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def wait_serial(self, pattern: str, since: int = 0, timeout: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while not (match := re.search(pattern, self.serial_text()[since:])):
            if self.process.poll() is not None:
                raise AssertionError(f"QEMU exited ({self.process.returncode}) waiting for {pattern!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"serial log: no {pattern!r} in {timeout:g} s; tail "
                                     f"{self.serial_text()[-400:]!r}")
            await asyncio.sleep(0.05)
        return match


@pytest.fixture(scope="module")
def guest() -> Iterator[Guest]:
    """One tiny Linux guest for the whole module, booted to its shell prompt."""
    binary = shutil.which("qemu-system-x86_64")
    if binary is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    from geometry_os.plugins.qemu import images
    try:
        iso = images.get("tiny-linux").require().iso
    except images.NotInstalled as missing:
        pytest.skip(str(missing))
    folder = Path(tempfile.mkdtemp(prefix="rfb-"))  # short: Unix socket paths are limited to 107 bytes
    argv = [binary, "-no-user-config", "-nodefaults", "-accel", "tcg", "-m", "128", "-vga", "std",
            "-display", "none", "-audio", "none", "-monitor", "none", "-parallel", "none", "-nic", "none",
            "-object", f"secret,id=vncpw,data={PASSWORD}",
            "-vnc", f"unix:{folder / 'vnc.sock'},id=open",
            "-vnc", f"unix:{folder / 'pw.sock'},id=locked,password-secret=vncpw",
            "-qmp", f"unix:{folder / 'qmp.sock'},server=on,wait=off",
            "-chardev", f"file,id=serial0,path={folder / 'serial.log'}", "-serial", "chardev:serial0",
            "-device", "qemu-xhci,id=xhci", "-device", "usb-tablet,bus=xhci.0",
            "-fw_cfg", "name=opt/geos/run,string=evread",  # the guest prints its input events on serial
            "-drive", f"file={iso},media=cdrom,readonly=on,if=ide,index=2", "-boot", "order=d", "-no-reboot"]
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    vm = Guest(folder, process)
    try:
        asyncio.run(vm.wait_serial(r"tiny# ", timeout=BOOT_TIMEOUT))
        yield vm
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------- helpers

class Session(NamedTuple):
    client: RfbClient
    task: asyncio.Task[None]


async def connect(path: Path, encodings: list[Encoding], password: str | None = None) -> Session:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    client = RfbClient(api.FrameMailbox(), encodings=encodings, password=password)
    await client.start(sock)
    return Session(client, asyncio.create_task(client.run()))


async def disconnect(session: Session) -> None:
    session.client.close()
    await session.task  # a clean end: run() returns


async def screendump(qmp: QMPClient, folder: Path) -> np.ndarray:
    path = folder / "screen.ppm"
    await qmp.execute("screendump", {"filename": str(path)})
    return read_ppm(path)


async def wait_until_equal(client: RfbClient, qmp: QMPClient, folder: Path) -> np.ndarray:
    """Screendumps until one equals the client's framebuffer (RGB); returns it.  Fails after MATCH_TIMEOUT
    with the last difference."""
    deadline = time.monotonic() + MATCH_TIMEOUT
    while True:
        dump = await screendump(qmp, folder)
        fb = client.framebuffer
        assert fb is not None
        ours = fb[..., 2::-1]  # B, G, R, X -> R, G, B
        if ours.shape == dump.shape and np.array_equal(ours, dump):
            return dump
        if time.monotonic() > deadline:
            detail = (f"size {ours.shape[1]}x{ours.shape[0]} != {dump.shape[1]}x{dump.shape[0]}"
                      if ours.shape != dump.shape else f"{int((ours != dump).any(axis=2).sum())} pixels differ")
            raise AssertionError(f"framebuffer never matched the screendump in {MATCH_TIMEOUT:g} s: {detail}")
        await asyncio.sleep(0.05)


async def qmp_connect(guest: Guest) -> QMPClient:
    qmp = QMPClient("tiny-linux")
    await qmp.connect(str(guest.qmp))
    return qmp


async def type_text(client: RfbClient, text: str) -> None:
    from geometry_os.plugins.input.bridge import text_events  # US layout text -> QEMU key numbers

    await asyncio.wrap_future(client.send_keys(text_events(text)))


def pixel_rects(client: RfbClient) -> dict[str, int]:
    return {e.name: client.stats[e.name] for e in (Encoding.RAW, Encoding.COPYRECT, Encoding.ZRLE, Encoding.TIGHT)
            if client.stats[e.name]}


ENCODINGS = [pytest.param(Encoding.RAW, id="raw"), pytest.param(Encoding.ZRLE, id="zrle"),
             pytest.param(Encoding.TIGHT, id="tight")]


# --------------------------------------------------------------------- tests

@pytest.mark.parametrize("encoding", ENCODINGS)
def test_text_console_matches_screendump(guest, encoding):
    async def main() -> None:
        qmp = await qmp_connect(guest)
        session = await connect(guest.vnc, [encoding])
        try:
            dump = await wait_until_equal(session.client, qmp, guest.folder)
            assert dump.shape == (400, 720, 3)  # VGA text mode
            assert (dump.max(axis=2) > 0).sum() > 500  # text is drawn, not a blank screen
            assert set(pixel_rects(session.client)) == {encoding.name}
            assert session.client.server.name.startswith("QEMU")
        finally:
            await disconnect(session)
            await qmp.disconnect()
    asyncio.run(main())


def test_typed_keys_reach_the_shell_and_the_screen_follows(guest):
    async def main() -> None:
        qmp = await qmp_connect(guest)
        session = await connect(guest.vnc, [Encoding.ZRLE])
        try:
            client = session.client
            before = await wait_until_equal(client, qmp, guest.folder)
            rects_before = client.stats["ZRLE"]
            assert client.accepts_key_numbers
            since = len(guest.serial_text())
            await type_text(client, "echo typed-ok > /dev/ttyS0\n")
            await guest.wait_serial(r"typed-ok", since=since)
            after = await wait_until_equal(client, qmp, guest.folder)  # the typed line, by incremental updates
            assert client.stats["ZRLE"] > rects_before
            assert (after != before).any(axis=2).sum() > 100  # more than a cursor blink: the typed line
        finally:
            await disconnect(session)
            await qmp.disconnect()
    asyncio.run(main())


def test_absolute_pointer_and_buttons_reach_the_tablet(guest):
    async def main() -> None:
        await guest.wait_serial(r'EVREAD open \S+ name="[^"]*Tablet[^"]*" abs_x=', timeout=90)
        session = await connect(guest.vnc, [Encoding.RAW])
        try:
            client = session.client
            await until(lambda: client.is_absolute, "QEMU to report the USB tablet's absolute pointer")
            since = len(guest.serial_text())
            client.mouse_set_abs(360, 100)
            client.mouse_press(0)
            client.mouse_release(0)
            client.mouse_press(2)
            client.mouse_release(2)
            want_x, want_y = 360 * 0x7FFF // 720, 100 * 0x7FFF // 400  # QEMU scales to 0..32767
            await guest.wait_serial(rf"EV type=3 code=0 value={want_x}\b", since=since)
            await guest.wait_serial(rf"EV type=3 code=1 value={want_y}\b", since=since)
            await guest.wait_serial(r"EV type=1 code=272 value=1", since=since)  # BTN_LEFT down
            await guest.wait_serial(r"EV type=1 code=273 value=0", since=since)  # BTN_RIGHT up
            assert client.cursor_pos == (360, 100, client.cursor is not None)
        finally:
            await disconnect(session)
    asyncio.run(main())


def test_vnc_authentication(guest):
    async def main() -> None:
        session = await connect(guest.locked_vnc, [Encoding.RAW], password=PASSWORD)
        try:
            await until(lambda: session.client.stats["RAW"], "pixels through the password-protected display", 30)
        finally:
            await disconnect(session)
        with pytest.raises(RfbError, match="authentication failed"):
            await connect(guest.locked_vnc, [Encoding.RAW], password="wrong")
        with pytest.raises(RfbError, match="requires VNC authentication and no password"):
            await connect(guest.locked_vnc, [Encoding.RAW])
    asyncio.run(main())


def test_graphics_mode_resize_and_full_colour_pixels(guest):
    """bochs DRM switches the console to a 32-bit framebuffer (a resize); random pixels in it make
    QEMU send Tight's full-colour data and ZRLE's raw tiles."""
    async def main() -> None:
        qmp = await qmp_connect(guest)
        sessions = [await connect(guest.vnc, [encoding]) for encoding in (Encoding.RAW, Encoding.ZRLE,
                                                                          Encoding.TIGHT)]
        try:
            typist = sessions[1].client
            await wait_until_equal(typist, qmp, guest.folder)
            first = typist.framebuffer
            since = len(guest.serial_text())
            await type_text(typist, "modprobe bochs && echo drm-$? > /dev/ttyS0\n")
            await guest.wait_serial(r"drm-0", since=since)
            await until(lambda: typist.framebuffer.shape != first.shape, "the resize to the DRM mode", 30)
            since = len(guest.serial_text())
            await type_text(typist, "cat /dev/urandom > /dev/fb0; echo filled > /dev/ttyS0\n")
            await guest.wait_serial(r"filled", since=since)
            for session in sessions:
                dump = await wait_until_equal(session.client, qmp, guest.folder)
                assert len(np.unique(dump.reshape(-1, 3), axis=0)) > 10000  # random pixels: full colour
            assert [set(pixel_rects(s.client)) for s in sessions] == [{"RAW"}, {"ZRLE"}, {"TIGHT"}]
        finally:
            for session in sessions:
                await disconnect(session)
            await qmp.disconnect()
    asyncio.run(main())
