"""A second host through qemu+ssh: a throwaway sshd on 127.0.0.1 (tests/libvirt/sshd.py) in front of the
same libvirtd, so the tile goes the remote way: libvirt over SSH, the VNC display through an SSH tunnel,
never openGraphicsFD.

What is checked: the VNC domain's tile through the tunnel shows the domain's own pixels and takes
typing; the D-Bus-only domain falls back to screenshots and says why (the connection survives: no
openGraphicsFD was tried); a cut connection shows on the tile and comes back by itself; an unknown
host key, a refused login and an unreachable port are one-line states naming the fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from geometry_os import api
from tests.libvirt.domains import wait_pixels_match
from tests.libvirt.sshd import Sshd, free_port
from tests.libvirt.test_libvirt_lifecycle import state_is
from tests.libvirt.test_libvirt_screens import TYPE_TIMEOUT, running, typed

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def sshd(libvirt_system: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists():
        pytest.skip("needs root and openssh-server (sshd on 127.0.0.1 with a throwaway key)")
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    yield server
    server.stop()


def ssh_children() -> list[int]:
    """Our process's ssh children (libvirt's transport and the VNC tunnels)."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() in ("ssh", "setpriv"):
                    found.append(int(pid))
            except OSError:
                continue
    return found


def test_vnc_through_the_tunnel(guests, make_source, sshd):
    guest = guests.vnc
    source = make_source(guest.name, uri=sshd.uri())
    running(source)
    assert source.badge == "VNC, SSH tunnel to 127.0.0.1"
    wait_pixels_match(source.ctx.mailbox, guest)
    guest.wait_booted()
    since = len(guest.serial_text())
    source.send_keys(typed("echo through-the-tunnel > /dev/ttyS0\n")).result(TYPE_TIMEOUT)
    guest.wait_serial("through-the-tunnel", since=since)
    wait_pixels_match(source.ctx.mailbox, guest)
    tunnel = source._tunnel
    assert tunnel is not None and tunnel.alive
    source.stop()
    assert not tunnel.alive and not tunnel.local.exists()


def test_dbus_only_domain_falls_back_to_screenshots_remotely(guests, make_source, sshd):
    guest = guests.dbus
    source = make_source(guest.name, uri=sshd.uri())
    running(source)
    assert source.badge.startswith("screenshots"), source.badge
    assert "the D-Bus display does not cross hosts" in source.note
    assert "<graphics type='vnc'><listen type='socket'/></graphics>" in source.note
    wait_pixels_match(source.ctx.mailbox, guest)
    assert source._connection.is_open  # openGraphicsFD would have killed it


def test_cut_connection_shows_and_comes_back(guests, make_source, sshd):
    guest = guests.vnc
    source = make_source(guest.name, uri=sshd.uri())
    running(source)
    assert sshd.cut_connections()
    state_is(source, api.TileState.FAILED, "lost", timeout=30)
    assert "retrying in" in source.ctx.reason
    running(source, timeout=60)
    wait_pixels_match(source.ctx.mailbox, guest)


def test_unknown_host_key_names_the_fix(guests, make_source, sshd):
    source = make_source(guests.vnc.name, uri=sshd.uri(verify=False))
    state_is(source, api.TileState.FAILED, "host key", timeout=30)
    assert source.ctx.reason.startswith(f"the SSH host key of root@127.0.0.1 is not known: run 'ssh -p {sshd.port} "
                                        f"-i {sshd.client_key} root@127.0.0.1' once to check and accept it")
    assert "\n" not in source.ctx.reason


def test_refused_login_and_unreachable_host(guests, make_source, sshd, tmp_path):
    stranger = tmp_path / "stranger"
    sshd._keygen(stranger)
    refused = make_source(guests.vnc.name, uri=sshd.uri(key=stranger), name="refused")
    closed = free_port()
    unreachable = make_source(guests.vnc.name, uri=sshd.uri(port=closed), name="unreachable")
    state_is(refused, api.TileState.FAILED, "SSH refused the login to root@127.0.0.1 (publickey)", timeout=30)
    state_is(unreachable, api.TileState.FAILED, f"host 127.0.0.1 port {closed} is unreachable (Connection refused)",
             timeout=30)


def test_no_ssh_left_behind(guests, make_source, sshd):
    before = set(ssh_children())
    source = make_source(guests.vnc.name, uri=sshd.uri(), name="leak")
    running(source)
    assert set(ssh_children()) - before  # libvirt's transport and our tunnel
    source.stop()
    api.wait_until(lambda: not set(ssh_children()) - before, 15, what="every ssh of the tile to exit")
