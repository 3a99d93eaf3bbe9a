"""The libvirt plugin's parts that need no libvirtd: URIs, the graphics choice, states, error lines,
update rates, screenshot decoding, the grid layout, CPU load arithmetic, sendKey's modifier handling.

Everything that reads outside input (URIs, domain XML from a possibly remote libvirtd, screenshot
bytes) is fuzzed: it may only answer or refuse with its one-line error.
"""

from __future__ import annotations

import io
import math
import xml.sax.saxutils

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geometry_os import api
from geometry_os.plugins.libvirt import graphics, states
from geometry_os.plugins.libvirt.connection import Connection
from geometry_os.plugins.libvirt.display import update_interval
from geometry_os.plugins.libvirt.display_screenshot import MODIFIERS, changed_box, decode_screenshot
from geometry_os.plugins.libvirt.errors import describe, socket_group_hint
from geometry_os.plugins.libvirt.grid import GridLayout
from geometry_os.plugins.libvirt.params import LibvirtOptions, LibvirtParams
from geometry_os.plugins.libvirt.uri import UriError, for_gui, parse

# ------------------------------------------------------------------- URIs


def test_local_and_remote_uris():
    local = parse("qemu:///system")
    assert (local.driver, local.transport, local.remote, local.label) == ("qemu", None, False, "")
    assert local.ssh_target() is None
    remote = parse("qemu+ssh://alice@host.example:2222/system?keyfile=/k/id&no_verify=1")
    assert (remote.remote, remote.label) == (True, "host.example")
    target = remote.ssh_target()
    assert target is not None and target.destination() == "alice@host.example"
    assert target.options() == ["-p", "2222", "-i", "/k/id", "-o", "StrictHostKeyChecking=no"]
    assert target.login_hint() == "ssh -p 2222 -i /k/id -o StrictHostKeyChecking=no alice@host.example"
    assert parse("qemu+tls://h/system").ssh_target() is None
    assert parse("qemu+unix:///system").remote is False


def test_ssh_uris_never_prompt_on_a_terminal():
    assert for_gui("qemu+ssh://h/system") == "qemu+ssh://h/system?no_tty=1"
    assert for_gui("qemu+ssh://h/system?keyfile=k") == "qemu+ssh://h/system?keyfile=k&no_tty=1"
    assert for_gui("qemu+ssh://h/system?no_tty=0") == "qemu+ssh://h/system?no_tty=0"  # the user's choice
    assert for_gui("qemu:///system") == "qemu:///system"


@pytest.mark.parametrize(("uri", "message"), [
    ("", "is not a libvirt URI"),
    ("/var/run/libvirt/libvirt-sock", "is not a libvirt URI"),
    ("bogus:///system", "unknown URI scheme 'bogus'"),
    ("qemu+telnet://h/system", "unknown transport 'telnet'"),
    ("qemu+ssh://h:99999/system", "malformed URI"),
])
def test_bad_uris(uri, message):
    with pytest.raises(UriError, match=message):
        parse(uri)
    with pytest.raises(ValueError, match=message):
        LibvirtParams(domain="x", uri=uri)


def test_params_and_options_check_what_they_can():
    with pytest.raises(ValueError, match="give the domain's name or UUID"):
        LibvirtParams(domain="  ")
    with pytest.raises(ValueError, match="unknown URI scheme"):
        LibvirtOptions(connections=["qemu:///system", "nope://"])


@given(st.text(max_size=80))
@settings(max_examples=400, deadline=None)
def test_fuzz_uri_parsing(text):
    try:
        parsed = parse(text)
    except UriError as exc:
        assert "\n" not in str(exc)
        return
    parsed.ssh_target()
    assert isinstance(parsed.remote, bool)


# ------------------------------------------------------------------- graphics

def domain(*graphics_xml: str) -> str:
    return f"<domain type='qemu'><name>d</name><devices><video/>{''.join(graphics_xml)}</devices></domain>"


VNC_SOCKET = ("<graphics type='vnc' socket='/var/lib/libvirt/qemu/domain-3-d/vnc.sock'>"
              "<listen type='socket' socket='/var/lib/libvirt/qemu/domain-3-d/vnc.sock'/></graphics>")
VNC_TCP = ("<graphics type='vnc' port='5901' autoport='yes' listen='0.0.0.0' passwd='pw'>"
           "<listen type='address'/></graphics>")
SPICE = "<graphics type='spice' port='5900' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics>"
DBUS_P2P = "<graphics type='dbus' p2p='yes'/>"


def test_best_path_first():
    assert graphics.choose(domain(SPICE, DBUS_P2P, VNC_SOCKET), remote=False, name="d") == \
        graphics.GraphicsPlan(graphics.DBUS, index=1)
    assert graphics.choose(domain(SPICE, VNC_SOCKET), remote=False, name="d") == \
        graphics.GraphicsPlan(graphics.VNC, index=1)


def test_remote_vnc_goes_to_the_socket_or_port_the_live_xml_names():
    plan = graphics.choose(domain(DBUS_P2P, VNC_SOCKET), remote=True, name="d")
    assert (plan.path, plan.socket, plan.port) == (graphics.VNC, "/var/lib/libvirt/qemu/domain-3-d/vnc.sock", None)
    plan = graphics.choose(domain(VNC_TCP), remote=True, name="d")
    assert (plan.path, plan.host, plan.port, plan.password) == (graphics.VNC, "127.0.0.1", 5901, "pw")


def test_spice_only_explains_and_names_the_xml_change():
    local = graphics.choose(domain(SPICE), remote=False, name="web")
    assert local.path == graphics.SCREENSHOT and not local.live
    assert local.note == ("SPICE only: screenshots, keys, no mouse; add <graphics type='dbus' p2p='yes'/> "
                          "(virsh edit web) for a live tile")
    remote = graphics.choose(domain(SPICE), remote=True, name="web")
    assert remote.note.endswith("add <graphics type='vnc'><listen type='socket'/></graphics> (virsh edit web) for "
                                "a live tile")
    assert graphics.choose(domain(DBUS_P2P), remote=True, name="d").note.startswith(
        "the D-Bus display does not cross hosts")
    assert graphics.choose(domain("<graphics type='dbus'/>"), remote=False, name="d").note.startswith(
        "D-Bus display without p2p='yes'")
    assert graphics.choose(domain(), remote=False, name="d").note.startswith("no graphics device")


def test_forced_paths():
    xml = domain(DBUS_P2P, VNC_SOCKET)
    assert graphics.choose(xml, remote=False, name="d", prefer="vnc").path == graphics.VNC
    assert graphics.choose(xml, remote=False, name="d", prefer="screenshot").path == graphics.SCREENSHOT
    fallback = graphics.choose(domain(VNC_SOCKET), remote=False, name="d", prefer="dbus")
    assert fallback.path == graphics.VNC and "graphics: dbus asked for" in fallback.note
    with pytest.raises(ValueError, match="graphics must be one of"):
        graphics.choose(xml, remote=False, name="d", prefer="rdp")


@pytest.mark.parametrize("text", ["", "<domain", "<network/>", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>"
                                  "<domain>&a;</domain>", "\x00"])
def test_malformed_xml_means_screenshots_with_a_reason(text):
    plan = graphics.choose(text, remote=False, name="d")
    assert plan.path == graphics.SCREENSHOT and plan.note and "\n" not in plan.note


_attr = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
_graphic = st.builds(
    lambda kind, p2p, sock, port, listen: (
        f"<graphics type={xml.sax.saxutils.quoteattr(kind)} p2p={xml.sax.saxutils.quoteattr(p2p)} "
        f"port={xml.sax.saxutils.quoteattr(port)} listen={xml.sax.saxutils.quoteattr(listen)}>"
        f"<listen type='socket' socket={xml.sax.saxutils.quoteattr(sock)}/></graphics>"),
    st.sampled_from(["vnc", "spice", "dbus", "rdp", "sdl", ""]) | _attr, st.sampled_from(["yes", "no"]) | _attr,
    _attr, st.sampled_from(["5900", "-1", "0", "x"]) | _attr, _attr)


@given(st.lists(_graphic, max_size=4), st.booleans(), st.sampled_from(graphics.PATHS))
@settings(max_examples=300, deadline=None)
def test_fuzz_graphics_choice(items, remote, prefer):
    plan = graphics.choose(domain(*items), remote=remote, name="d", prefer=prefer)
    assert plan.path in (graphics.DBUS, graphics.VNC, graphics.SCREENSHOT)
    assert not (remote and plan.path == graphics.DBUS)  # never openGraphicsFD remotely
    if plan.path == graphics.VNC and remote:
        assert plan.socket or plan.port
    if plan.path != graphics.SCREENSHOT:
        assert 0 <= plan.index < len(items)


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_fuzz_graphics_choice_on_bytes(data):
    plan = graphics.choose(data.decode("utf-8", "replace"), remote=True, name="d")
    assert plan.path in (graphics.VNC, graphics.SCREENSHOT)


# ------------------------------------------------------------------- states

def test_states_and_reasons():
    assert states.tile_state(states.RUNNING, 1) == (api.TileState.RUNNING, "")
    assert states.tile_state(states.PAUSED, 1) == (api.TileState.PAUSED, "paused")
    assert states.tile_state(states.PAUSED, 5) == (api.TileState.PAUSED, "paused: disk I/O error")
    assert states.tile_state(states.SHUTOFF, 2) == (api.TileState.STOPPED, "forced off")
    assert states.tile_state(states.SHUTOFF, 5, saved=True) == (api.TileState.STOPPED, "saved: Start restores it")
    assert states.tile_state(states.SHUTDOWN, 1) == (api.TileState.RUNNING, "shutting down")
    assert states.tile_state(states.CRASHED, 1)[0] is api.TileState.FAILED
    assert states.tile_state(states.PMSUSPENDED, 1)[0] is api.TileState.PAUSED


@given(st.integers(-5, 20), st.integers(-5, 30), st.booleans())
def test_every_state_has_a_tile_state(state, reason, saved):
    tile_state, why = states.tile_state(state, reason, saved)
    assert isinstance(tile_state, api.TileState) and isinstance(why, str)


# ------------------------------------------------------------------- error lines
# libvirt's own words, as this machine's libvirt 11.3 and OpenSSH 9.2 printed them.

class FakeLibvirtError(Exception):
    """Stands in for libvirt.libvirtError (same get_error_code): error lines need no daemon."""

    def __init__(self, message: str, code: int = 38) -> None:
        super().__init__(message)
        self.code = code

    def get_error_code(self) -> int:
        return self.code


SSH = parse("qemu+ssh://root@10.0.0.9:2222/system?keyfile=/k").ssh_target()


@pytest.mark.parametrize(("message", "code", "line"), [
    ("Cannot recv data: Host key verification failed.: Connection reset by peer", 38,
     "the SSH host key of root@10.0.0.9 is not known: run 'ssh -p 2222 -i /k root@10.0.0.9' once to check and "
     "accept it"),
    ("Cannot recv data: ssh: connect to host 10.0.0.9 port 2222: Connection refused: Connection reset by peer", 38,
     "host 10.0.0.9 port 2222 is unreachable (Connection refused)"),
    ("Cannot recv data: ssh: Could not resolve hostname nohost: Name or service not known: Connection reset by "
     "peer", 38, "host nohost is unknown (Name or service not known)"),
    ("Cannot recv data: root@10.0.0.9: Permission denied (publickey).: Connection reset by peer", 38,
     "SSH refused the login to root@10.0.0.9 (publickey): check the key (keyfile=/k) or your ssh-agent"),
    ("Failed to connect socket to '/nonexistent/libvirt-sock': No such file or directory", 38,
     "libvirtd is not running on this machine (no answer at /nonexistent/libvirt-sock): start it (systemctl start "
     "libvirtd, or virtlogd -d && libvirtd -d)"),
    ("authentication unavailable: no polkit agent available to authenticate action 'org.libvirt.unix.manage'", 94,
     "libvirtd asks polkit whether you may use qemu+ssh://h/system and no polkit agent answered: join group "
     "'libvirt' where its polkit rule allows it, or configure unix_sock_group (docs/libvirt.md)"),
    ("internal error: unexpected qemu URI path '/nosuch', try qemu:///system\nmore", 1,
     "qemu+ssh://h/system: internal error: unexpected qemu URI path '/nosuch', try qemu:///system"),
])
def test_error_lines(message, code, line):
    assert describe(FakeLibvirtError(message, code), "qemu+ssh://h/system", SSH) == line


def test_unknown_domain_and_socket_groups(tmp_path):
    assert describe(FakeLibvirtError("Domain not found: no domain with matching name 'x'", 42), "qemu:///system",
                    domain="x") == "no domain 'x' on qemu:///system"
    sock = tmp_path / "sock"
    sock.touch()
    sock.chmod(0o600)
    assert "is not group-writable" in socket_group_hint(str(sock))
    assert socket_group_hint(str(tmp_path / "missing")) == "ask the administrator for access to it"


# ------------------------------------------------------------------- rates

def test_update_interval_follows_the_tile_size():
    fastest = 1 / 60
    assert update_interval(False, True, 1.0, fastest) == math.inf
    assert update_interval(True, True, 0.1, fastest) == fastest
    assert update_interval(True, False, None, fastest) == fastest
    assert update_interval(True, False, 2.0, fastest) == fastest
    intervals = [update_interval(True, False, scale, fastest) for scale in (0.9, 0.5, 0.25, 0.1, 0.01)]
    assert intervals == sorted(intervals) and intervals[0] > fastest
    assert intervals[-1] == pytest.approx(1 / 2.0)  # the floor: two updates a second
    assert update_interval(True, False, 0.01, 0.25, min_rate=0.5) == pytest.approx(2.0)


# ------------------------------------------------------------------- screenshots

def encode(rgb: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "PPM"])
def test_screenshot_decodes_to_bgrx(fmt):
    rgb = np.random.default_rng(1).integers(0, 256, (40, 72, 3), dtype=np.uint8)
    frame = decode_screenshot(encode(rgb, fmt))
    assert frame.shape == (40, 72, 4)
    assert np.array_equal(frame[..., 2::-1], rgb)


def test_screenshot_refuses_what_is_not_an_image():
    with pytest.raises(ValueError, match="not an image"):
        decode_screenshot(b"P6\n99999 99999\n255\n")
    with pytest.raises(ValueError, match="not an image"):
        decode_screenshot(b"<html>")


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_fuzz_screenshot_bytes(data):
    try:
        frame = decode_screenshot(data)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        assert frame.ndim == 3 and frame.shape[2] == 4


@given(st.integers(1, 30), st.integers(1, 30), st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)),
                                                            max_size=6))
def test_changed_box_covers_exactly_the_changes(width, height, points):
    old = np.zeros((height, width, 4), np.uint8)
    new = old.copy()
    for x, y in points:
        if x < width and y < height:
            new[y, x, 1] = 255
    box = changed_box(old, new)
    changed = np.argwhere((old != new).any(axis=2))
    if not len(changed):
        assert box is None
        return
    assert box == api.Rect(int(changed[:, 1].min()), int(changed[:, 0].min()),
                           int(changed[:, 1].max() - changed[:, 1].min() + 1),
                           int(changed[:, 0].max() - changed[:, 0].min() + 1))
    assert changed_box(None, new) == api.Rect(0, 0, width, height)


# ------------------------------------------------------------------- grid, CPU, keys

def test_grid_cells_never_overlap_and_are_reused():
    layout = GridLayout(3, (10.0, 20.0))
    cells = [layout.take() for _ in range(7)]
    assert cells == list(range(7))
    spots = {layout.position(cell) for cell in cells}
    assert len(spots) == 7 and layout.position(0) == (10.0, 20.0)
    assert layout.position(3)[0] == 10.0 and layout.position(3)[1] > 20.0 + 480
    layout.free(4)
    assert layout.take() == 4


def test_cpu_load_from_total_cpu_time():
    conn = Connection("qemu:///system")
    assert conn._loads([("a", {"cpu.time": 1_000_000_000, "vcpu.current": 2})], 10.0) == {}
    loads = conn._loads([("a", {"cpu.time": 2_000_000_000, "vcpu.current": 2}), ("b", {"cpu.time": 5})], 11.0)
    assert loads == {"a": pytest.approx(0.5)}  # 1 s of CPU in 1 s over two vCPUs
    assert conn._loads([("a", {"cpu.time": 9_000_000_000, "vcpu.current": 1})], 12.0) == {"a": 1.0}  # clamped


class RecordingDomain:
    """Fake virDomain that records sendKey calls (the key logic is ours; libvirt only sends)."""

    def __init__(self) -> None:
        self.sent: list[list[int]] = []

    def sendKey(self, codeset, holdtime, keys, count, flags):  # libvirt's name
        assert codeset == 9 and count == len(keys)
        self.sent.append(list(keys))


def test_sendkey_joins_modifiers_with_the_next_key():
    import asyncio

    from geometry_os.plugins.libvirt.display_screenshot import ScreenshotDisplay

    async def main() -> list[list[int]]:
        dom = RecordingDomain()
        shots = ScreenshotDisplay("t", api.FrameMailbox(), dom, lambda: None, lambda reason: None, "")
        shift, ctrl, a, c = 0x2A, 0x1D, 0x1E, 0x2E
        for pressed, key in [(True, shift), (True, a), (False, a), (False, shift),  # "A"
                             (True, ctrl), (False, ctrl),  # Ctrl alone
                             (True, ctrl), (True, shift), (True, c), (False, c), (False, shift), (False, ctrl),
                             (True, a), (False, a)]:
            shots._send_key(pressed, key)
        await shots.close()
        shots._keys_out.shutdown(wait=True)
        return dom.sent

    assert asyncio.run(main()) == [[0x2A, 0x1E], [0x1D], [0x1D, 0x2A, 0x2E], [0x1E]]
    assert {0x2A, 0x36, 0x1D, 0x9D, 0x38, 0xB8, 0xDB, 0xDC} == MODIFIERS
