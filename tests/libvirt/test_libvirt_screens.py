"""libvirt tiles against real domains: each screen path shows the domain's own pixels and takes input.

Two tiny Linux domains under the system libvirtd (conftest ``guests``): one with
``<graphics type='dbus' p2p='yes'/>``, one with VNC on a Unix socket.  For each path
(D-Bus p2p and VNC through ``openGraphicsFD``, and libvirt screenshots forced on the
VNC domain) the tile's framebuffer must equal ``virDomainScreenshot`` pixel for pixel,
typed keys must reach the guest's shell (it echoes to the serial port), and the live
paths must move the guest's USB tablet (the guest's ``evread`` prints its events).
A tile that is not shown must not fetch frames (VNC, screenshots), and catch up when
shown again.
"""

from __future__ import annotations

import time

import pytest

from geometry_os import api
from tests.libvirt.domains import tile_rgb, wait_pixels_match

pytestmark = pytest.mark.qemu

TYPE_TIMEOUT = 60.0


def typed(text: str) -> list[api.KeyEvent]:
    from geometry_os.plugins.input.bridge import text_events  # US layout text -> QEMU key numbers

    return text_events(text)


def running(source, timeout: float = 60.0) -> None:
    api.wait_until(lambda: source.ctx.state is api.TileState.RUNNING and source._display is not None, timeout,
                   what=f"{source.ctx.name} running with a screen (state {source.ctx.state.value}: "
                        f"{source.ctx.reason})", interval=0.05)


PATHS = [pytest.param("dbus", "auto", "D-Bus, shared memory", id="dbus-p2p"),
         pytest.param("vnc", "auto", "VNC, local", id="vnc-local"),
         pytest.param("vnc", "screenshot", "screenshots", id="screenshots")]


@pytest.mark.parametrize(("which", "graphics", "badge"), PATHS)
def test_tile_shows_the_domain_screen_and_typing_reaches_it(guests, make_source, which, graphics, badge):
    guest = getattr(guests, which)
    source = make_source(guest.name, graphics=graphics)
    running(source)
    assert source.badge.startswith(badge), source.badge
    wait_pixels_match(source.ctx.mailbox, guest)
    guest.wait_booted()
    before = wait_pixels_match(source.ctx.mailbox, guest)
    since = len(guest.serial_text())
    word = f"typed-{graphics}-{which}-ok"
    source.send_keys(typed(f"echo {word} > /dev/ttyS0\n")).result(TYPE_TIMEOUT)
    guest.wait_serial(word, since=since)
    after = wait_pixels_match(source.ctx.mailbox, guest)  # the typed line, on the tile too
    assert (after != before).any(axis=2).sum() > 100


def test_screenshot_keys_hold_modifiers_for_the_next_key(guests, make_source):
    """sendKey presses keys together: Shift must go with the key it shifts ('>' and '|' need it)."""
    guest = guests.vnc
    source = make_source(guest.name, graphics="screenshot")
    running(source)
    guest.wait_booted()
    since = len(guest.serial_text())
    source.send_keys(typed("echo 'A|B:C' > /dev/ttyS0\n")).result(TYPE_TIMEOUT)
    guest.wait_serial(r"A\|B:C", since=since)


@pytest.mark.parametrize("which", ["dbus", "vnc"])
def test_absolute_pointer_reaches_the_tablet(guests, make_source, which):
    guest = getattr(guests, which)
    source = make_source(guest.name)
    running(source)
    guest.wait_booted()
    api.wait_until(lambda: source.is_absolute, 30, what="the guest's absolute pointer (USB tablet)")
    since = len(guest.serial_text())
    source.mouse_set_abs(360, 100)
    source.mouse_press(0)
    source.mouse_release(0)
    want_x, want_y = 360 * 0x7FFF // 720, 100 * 0x7FFF // 400  # QEMU scales to the tablet's 0..32767
    guest.wait_serial(rf"EV type=3 code=0 value={want_x}\b", since=since)
    guest.wait_serial(rf"EV type=3 code=1 value={want_y}\b", since=since)
    guest.wait_serial(r"EV type=1 code=272 value=0", since=since)  # BTN_LEFT released


def test_domain_by_uuid(guests, make_source):
    source = make_source(guests.dbus.uuid)
    running(source)
    assert source.domain_name == guests.dbus.name
    assert source.telemetry()["cpu_load"] >= 0.0


@pytest.mark.parametrize("graphics", ["auto", "screenshot"])
def test_hidden_tile_fetches_nothing_and_catches_up(guests, make_source, graphics):
    """VNC asks for no updates and screenshots stop while the tile is out of view; shown again, the
    tile catches up with everything that changed meanwhile."""
    guest = guests.vnc
    source = make_source(guest.name, graphics=graphics)
    running(source)
    guest.wait_booted()
    wait_pixels_match(source.ctx.mailbox, guest)
    source.set_view(False, False, 1.0)
    api.wait_until(lambda: "paused" in source.badge or graphics == "auto", 5, what="screenshots paused")
    published = settled(source.ctx.mailbox)  # an update already asked for may still be arriving
    since = len(guest.serial_text())
    source.send_keys(typed("echo hidden-typing > /dev/ttyS0\n")).result(TYPE_TIMEOUT)
    guest.wait_serial("hidden-typing", since=since)  # the guest's screen has the typed line now
    assert source.ctx.mailbox.published == published  # nothing fetched while hidden
    stale = tile_rgb(source.ctx.mailbox).copy()
    assert not (stale == guest.screenshot()).all()
    source.set_view(True, False, 0.5)
    wait_pixels_match(source.ctx.mailbox, guest)


def settled(mailbox: api.FrameMailbox) -> int:
    """The mailbox's publish count once it has not moved for half a second."""
    last = [mailbox.published, time.monotonic()]

    def still() -> bool:
        if mailbox.published != last[0]:
            last[:] = [mailbox.published, time.monotonic()]
        return time.monotonic() - last[1] >= 0.5

    api.wait_until(still, 20, what="the last update asked for to arrive")
    return mailbox.published


def test_small_tile_is_updated_less_often(guests, make_source):
    from geometry_os.plugins.libvirt.display import update_interval

    source = make_source(guests.vnc.name)
    running(source)
    display = source._display
    source.set_view(True, False, 0.25)
    want = update_interval(True, False, 0.25, 1 / 60)
    assert want > 1 / 60
    api.wait_until(lambda: display.client.update_interval == want, 5, what="the VNC update interval")
    source.set_view(True, True, 0.25)  # focused: full rate
    api.wait_until(lambda: display.client.update_interval == 1 / 60, 5, what="the full VNC rate")


def test_spice_only_domain_says_why_and_what_to_add(libvirt_conn, guest_folder, make_source):
    """virt-manager's default: SPICE only.  The tile shows libvirt's screenshots (the domain's own
    pixels), and its badge says why it is not live and the one line that would make it so."""
    import os

    from tests.libvirt.domains import SPICE_SOCKET, Guest

    guest = Guest(libvirt_conn, f"geos-test-{os.getpid()}-spice", guest_folder, guest_folder / "tiny-linux.iso",
                  SPICE_SOCKET)
    try:
        guest.start()
        source = make_source(guest.name)
        running(source)
        assert source.badge == (f"screenshots, 4.0/s — SPICE only: screenshots, keys, no mouse; add <graphics "
                                f"type='dbus' p2p='yes'/> (virsh edit {guest.name}) for a live tile")
        wait_pixels_match(source.ctx.mailbox, guest)
        assert "<graphics type='dbus'" not in guest.dom.XMLDesc(0)  # the user's domain is left as it was
    finally:
        guest.remove()
