"""What a user sees when a libvirt tile cannot work: one line on the tile, the map unharmed.

Against the real libvirtd: an unknown domain (the line lists the domains there are), a
user outside the socket's group (a process run as ``nobody``: the line names the
group), a domain that appears after its tile was made (the tile picks it up from
libvirt's define event).  The unknown URI scheme is refused when the scene loads
(``geos check``), before anything connects.
"""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from geometry_os import api
from tests.libvirt.daemons import SOCKET
from tests.libvirt.domains import domain_xml
from tests.libvirt.test_libvirt_lifecycle import state_is

pytestmark = pytest.mark.qemu


def test_unknown_domain_lists_the_known_ones(guests, make_source):
    source = make_source("no-such-domain")
    state_is(source, api.TileState.FAILED, "no domain 'no-such-domain' on qemu:///system", timeout=30)
    assert guests.dbus.name in source.ctx.reason and guests.vnc.name in source.ctx.reason
    assert "\n" not in source.ctx.reason


def test_domain_defined_later_is_picked_up(libvirt_system, libvirt_conn, guest_folder, make_source):
    name = f"geos-test-{os.getpid()}-later"
    source = make_source(name)
    state_is(source, api.TileState.FAILED, f"no domain '{name}'", timeout=30)
    dom = libvirt_conn.defineXML(domain_xml(name, guest_folder / "tiny-linux.iso", guest_folder / f"{name}.serial",
                                            "<graphics type='vnc'><listen type='socket'/></graphics>"))
    try:
        state_is(source, api.TileState.STOPPED, "shut off", timeout=30)
        assert source.uuid == dom.UUIDString()
    finally:
        dom.undefine()
    state_is(source, api.TileState.FAILED, f"no domain '{name}'", timeout=30)


def test_scene_refuses_an_unknown_uri_scheme(tmp_path):
    scene = tmp_path / "s.yaml"
    scene.write_text("tiles:\n  - source: {type: libvirt, domain: x, uri: 'qemu+telnet://h/system'}\n")
    done = subprocess.run([sys.executable, "-m", "geometry_os", "check", str(scene)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"{scene}:2: tiles[0].source: unknown transport 'telnet' in qemu+telnet://h/system "
                                   "(known: ext, libssh, libssh2, ssh, tcp, tls, unix)")


# Run as another user: the venv's interpreter lives under /root (0700), so the system Python of the
# same version reads the venv's site-packages (same ABI) in the child.
CHILD = """
import site, sys
site.addsitedir(sys.argv[1])
import pyglet
pyglet.options["headless"] = True
from pathlib import Path
from geometry_os import api
from geometry_os.plugins.libvirt.params import LibvirtParams
from geometry_os.plugins.libvirt.source import LibvirtSource
ctx = api.TileContext(name="t", title="t", scene_dir=Path("/tmp"), runtime_dir=Path(sys.argv[3]))
source = LibvirtSource(ctx, LibvirtParams(domain=sys.argv[2]))
source.start()
try:
    api.wait_until(lambda: ctx.state in (api.TileState.RUNNING, api.TileState.FAILED), 60, what="a state")
    if ctx.state is api.TileState.RUNNING:
        api.wait_until(lambda: ctx.mailbox.peek_pixels() is not None, 30, what="pixels")
    sys.stdout.write(f"{ctx.state.value}|{ctx.reason}|{source.badge}\\n")
finally:
    source.stop()
"""


def run_as_nobody(domain: str, groups: str, tmp_path: Path) -> str:
    python = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if os.geteuid() != 0 or not python.exists() or shutil.which("setpriv") is None:
        pytest.skip("needs root, setpriv and the system Python of this version")
    site_packages = next(Path(sys.prefix).glob("lib/python*/site-packages"))
    folder = tmp_path / "nobody"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", *(["--groups", groups] if groups else ["--clear-groups"]),
            "--reset-env", "env", f"HOME={folder}", str(python), "-c", CHILD, str(site_packages), domain,
            str(folder / "run")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def group_socket() -> str:
    """The socket's group, when libvirtd gives group members access (tests/libvirt/daemons.py does)."""
    st = os.stat(SOCKET)
    if stat.S_IMODE(st.st_mode) & 0o007 or st.st_gid == 0:
        pytest.skip(f"{SOCKET} is open to everyone or to root only: no group decides here")
    return grp.getgrgid(st.st_gid).gr_name


def test_permission_denied_names_the_group(guests, group_socket, tmp_path):
    state, reason, _ = run_as_nobody(guests.dbus.name, "", tmp_path).split("|")
    assert state == "failed"
    assert reason.startswith(f"permission denied on the libvirt socket /var/run/libvirt/libvirt-sock: join group "
                             f"'{group_socket}' (sudo adduser $USER {group_socket}), then log in again")


def test_group_member_gets_the_dbus_screen(guests, group_socket, tmp_path):
    """Not root, in the socket's group: the p2p D-Bus display opens (it logs in without a uid: the fd
    carries libvirtd's credentials) and frames arrive through shared memory."""
    state, reason, badge = run_as_nobody(guests.dbus.name, group_socket, tmp_path).split("|")
    assert (state, badge) == ("running", "D-Bus, shared memory"), reason
