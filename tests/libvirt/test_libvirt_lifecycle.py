"""Lifecycle of a real libvirt domain through its tile, and the tile following libvirt's events.

On the session's D-Bus guest: pause and resume from the tile and from another libvirt
client (the tile follows the events), CPU load from libvirt's CPU time, managed save
and start (the tile's screen comes back with what was on it, input works), reset,
force off, a power-down forced off after its timeout, and relaunch (a fresh boot).
Every test leaves the domain running.
"""

from __future__ import annotations

import pytest

from geometry_os import api
from tests.libvirt.domains import BOOT_TIMEOUT, wait_pixels_match
from tests.libvirt.test_libvirt_screens import TYPE_TIMEOUT, running, typed

pytestmark = pytest.mark.qemu

OP_TIMEOUT = 60.0


def state_is(source, state: api.TileState, reason: str | None = None, timeout: float = OP_TIMEOUT) -> None:
    api.wait_until(lambda: source.ctx.state is state and (reason is None or reason in source.ctx.reason), timeout,
                   what=f"{state.value} ({reason}); tile is {source.ctx.state.value}: {source.ctx.reason!r}",
                   interval=0.05)


def test_pause_resume_from_the_tile_and_from_another_client(guests, make_source):
    guest = guests.dbus
    source = make_source(guest.name)
    running(source)
    source.pause().result(OP_TIMEOUT)
    state_is(source, api.TileState.PAUSED, "paused")
    source.resume().result(OP_TIMEOUT)
    state_is(source, api.TileState.RUNNING)
    guest.dom.suspend()  # virsh suspend, say: the tile hears libvirt's event
    state_is(source, api.TileState.PAUSED)
    guest.dom.resume()
    state_is(source, api.TileState.RUNNING)


def test_cpu_load_follows_the_guest(guests, make_source):
    guest = guests.dbus
    source = make_source(guest.name)
    running(source)
    guest.wait_booted()
    since = len(guest.serial_text())
    # the pid ends with a dot: the serial port is read while the guest still writes it,
    # and "spin-12" of "spin-123" would kill another process
    source.send_keys(typed("while :; do :; done & echo spin-$!. > /dev/ttyS0\n")).result(TYPE_TIMEOUT)
    pid = guest.wait_serial(r"spin-(\d+)\.", since=since).group(1)
    api.wait_until(lambda: source.telemetry()["cpu_load"] > 0.5, 30, what="cpu_load > 0.5 while spinning")
    since = len(guest.serial_text())
    source.send_keys(typed(f"kill {pid} && echo killed-{pid}. > /dev/ttyS0\n")).result(TYPE_TIMEOUT)
    guest.wait_serial(rf"killed-{pid}\.", since=since)
    api.wait_until(lambda: source.telemetry()["cpu_load"] < 0.4, 30, what="cpu_load < 0.4 after the spin")


def test_managed_save_then_start_restores_the_screen(guests, make_source, geos_host):
    guest = guests.dbus
    source = make_source(guest.name)
    running(source)
    guest.wait_booted()
    since = len(guest.serial_text())
    source.send_keys(typed("echo before-save > /dev/ttyS0\n")).result(TYPE_TIMEOUT)
    guest.wait_serial("before-save", since=since)
    before = wait_pixels_match(source.ctx.mailbox, guest)
    source.save_and_stop().result(OP_TIMEOUT)
    state_is(source, api.TileState.STOPPED, "saved")
    assert source._display is None and source.badge == "saved: Start restores it"  # no screen while stopped
    start = geos_host.registry.actions.get("libvirt.start")
    tile = api.Tile(index=0, spec=None, ctx=source.ctx, source=source)
    assert start.applies(None, [tile])
    start.run(None, [tile]).result(OP_TIMEOUT)
    state_is(source, api.TileState.RUNNING)
    restored = wait_pixels_match(source.ctx.mailbox, guest)
    # the saved screen, not a fresh boot: give or take the cursor and a line the guest printed since
    assert (restored != before).any(axis=2).mean() < 0.02
    since = len(guest.serial_text())
    source.send_keys(typed("echo after-restore > /dev/ttyS0\n")).result(TYPE_TIMEOUT)
    guest.wait_serial("after-restore", since=since)


def test_reset_force_off_powerdown_and_relaunch(guests, make_source):
    """Reset reboots the guest; force off stops it; a power-down the guest ignores (the tiny guest has no
    ACPI button driver) is forced off after its timeout; relaunch boots it afresh."""
    guest = guests.dbus
    source = make_source(guest.name)
    running(source)
    guest.wait_booted()
    since = len(guest.serial_text())
    source.reset().result(OP_TIMEOUT)
    guest.wait_serial("GEOS-TINY-READY", since=since, timeout=BOOT_TIMEOUT)  # booted again
    source.force_off().result(OP_TIMEOUT)
    state_is(source, api.TileState.STOPPED, "forced off")
    assert not guest.dom.isActive()
    source.relaunch().result(OP_TIMEOUT)
    running(source)
    source.powerdown().result(OP_TIMEOUT)  # no timeout: asked, never forced (the domain is the user's)
    assert guest.dom.isActive() and source.ctx.state is api.TileState.RUNNING
    source.powerdown(2.0).result(OP_TIMEOUT)
    state_is(source, api.TileState.STOPPED, "forced off")
    since = len(guest.serial_text())
    source.relaunch().result(OP_TIMEOUT)
    running(source)
    guest.wait_serial(r"tiny# ", since=since, timeout=BOOT_TIMEOUT)
    guest.wait_serial(r"EVREAD open", since=since)
    wait_pixels_match(source.ctx.mailbox, guest)
