"""Fixtures for the libvirt plugin's tests: a scenario runner over the fake RFB server (fault
injection), and real libvirt domains (tiny Linux under TCG) for the tests marked ``qemu``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import libvirt
import pytest

from geometry_os import api
from geometry_os.plugins.libvirt.rfb.client import RfbClient
from tests.libvirt.domains import DBUS_P2P, VNC_SOCKET, Guest
from tests.libvirt.fake_rfb_server import FakeRfbServer, connected
from tests.qemu.conftest import qemu_binary, tiny_linux_iso  # noqa: F401 (fixtures, by name)

Body = Callable[[RfbClient, FakeRfbServer, api.FrameMailbox, "asyncio.Task[None]"], Awaitable[None]]


async def until(predicate: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    """Poll ``predicate`` on the event loop until truthy; AssertionError naming ``what`` on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.005)
    return value


@pytest.fixture
def scenario() -> Callable[..., None]:
    """``scenario(body, width=64, height=48, **client_options)``: a client connected to the fake server,
    its ``run()`` task started, ``body(client, server, mailbox, task)`` awaited, everything closed after."""
    def run(body: Body, width: int = 64, height: int = 48, **options: Any) -> None:
        async def main() -> None:
            mailbox = api.FrameMailbox()
            client = RfbClient(mailbox, **options)
            server = await connected(client, width, height)
            task = asyncio.create_task(client.run())
            try:
                await body(client, server, mailbox, task)
            finally:
                server.close()
                client.close()
                with contextlib.suppress(Exception):
                    await task
        asyncio.run(main())
    return run


# ------------------------------------------------------------------ libvirt domains
# Real domains under the system libvirtd (started by hand when nothing answers:
# tests/libvirt/daemons.py).  Two tiny Linux guests for the whole session, one with
# QEMU's p2p D-Bus display and one with VNC on a Unix socket; tests that stop or
# restart a domain leave it booted again.

@pytest.fixture(scope="session")
def libvirt_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``qemu:///system``, answered by a libvirtd: the running one, or one started (and stopped) here."""
    pytest.importorskip("libvirt", reason="libvirt-python is not installed")
    from tests.libvirt import daemons

    started: list[int] = []
    if not daemons.answers():
        problem = daemons.missing()
        if problem is not None:
            pytest.skip(f"no libvirtd answers qemu:///system and {problem}")
        started = daemons.start(tmp_path_factory.mktemp("libvirtd"))
    try:
        yield daemons.URI
    finally:
        daemons.stop(started)


@pytest.fixture(scope="session")
def guest_folder(tiny_linux_iso_path: Path) -> Iterator[Path]:
    """A folder QEMU (as libvirt-qemu) can read, with the tiny Linux ISO and the serial logs."""
    folder = Path(tempfile.mkdtemp(prefix="geos-libvirt-"))
    folder.chmod(0o755)
    shutil.copy(tiny_linux_iso_path, folder / "tiny-linux.iso")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_linux_iso_path() -> Path:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    from geometry_os.plugins.qemu import images

    try:
        return images.get("tiny-linux").require().iso
    except images.NotInstalled as missing:
        pytest.skip(str(missing))


@pytest.fixture(scope="session")
def libvirt_conn(libvirt_system: str) -> Iterator[Any]:
    """The tests' own connection (to define domains and take their screenshots)."""
    import libvirt

    conn = libvirt.open(libvirt_system)
    yield conn
    conn.close()


class Guests(NamedTuple):
    dbus: Guest
    vnc: Guest


@pytest.fixture(scope="session")
def guests(libvirt_conn: Any, guest_folder: Path) -> Iterator[Guests]:
    """The two session guests, started (not yet waited for: tests wait for what they need).
    Guests a killed test run left behind (their pytest is gone) are removed first: they would
    be on every map of qemu:///system."""
    remove_leftovers(libvirt_conn)
    made: list[Guest] = []
    try:
        for kind, graphics in (("dbus", DBUS_P2P), ("vnc", VNC_SOCKET)):
            guest = Guest(libvirt_conn, f"geos-test-{os.getpid()}-{kind}", guest_folder,
                          guest_folder / "tiny-linux.iso", graphics)
            made.append(guest)
            guest.start()
        yield Guests(*made)
    finally:
        for guest in made:
            guest.remove()


def remove_leftovers(conn: Any) -> None:
    for dom in conn.listAllDomains():
        match = re.fullmatch(r"geos-test-(\d+)-\w+", dom.name())
        if match and int(match.group(1)) != os.getpid() and not Path(f"/proc/{match.group(1)}").exists():
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)


@pytest.fixture
def make_source(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``make_source(domain, uri=..., graphics=...)``: a started LibvirtSource; stopped after the test."""
    from geometry_os.plugins.libvirt.params import LibvirtParams
    from geometry_os.plugins.libvirt.source import LibvirtSource

    made: list[LibvirtSource] = []

    def make(domain: str, uri: str = "qemu:///system", graphics: str = "auto", name: str = "vm") -> LibvirtSource:
        ctx = api.TileContext(name=name, title=name, scene_dir=tmp_path, runtime_dir=tmp_path / "run" / name)
        source = LibvirtSource(ctx, LibvirtParams(domain=domain, uri=uri, graphics=graphics))
        made.append(source)
        source.start()
        return source

    yield make
    for source in made:
        source.stop()
