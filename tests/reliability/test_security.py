"""Security: private runtime directories, no listening sockets, no NIC, no shell anywhere.

The QEMU test boots memtest86+ from a path full of shell and QEMU-option
metacharacters, with ``extra_args`` and a serial path that a shell would expand,
and checks that nothing was expanded or executed and that QEMU listens nowhere.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from geometry_os import rundir
from geometry_os.plugins.qemu.command import build_argv, has_network_device
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.source import QemuSource
from geometry_os.tiles import TileState

HOSTILE = "we,ird $(touch PWNED1) ;`touch PWNED2`|&'\" *"


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if m := re.fullmatch(r"socket:\[(\d+)\]", target):
            inodes.add(m.group(1))
    return inodes


def inet_sockets(pid: int) -> list[str]:
    """QEMU's entries in /proc/net/{tcp,udp,raw}{,6}: any IP socket at all."""
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in socket_inodes(pid):
                found.append(f"{table}: {line.strip()}")
    return found


def bound_unix_sockets(pid: int) -> list[str]:
    """QEMU's unix sockets that have an address (a path or abstract name): a door others could use."""
    mine = socket_inodes(pid)
    found = []
    for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[6] in mine and len(fields) > 7:
            found.append(fields[7])
    return found


@pytest.mark.qemu
def test_qemu_listens_nowhere_and_nothing_is_shell_expanded(sources, make_ctx, memtest_iso, tmp_path,
                                                            wait_for, monkeypatch):
    monkeypatch.chdir(tmp_path)
    iso = tmp_path / f"{HOSTILE}.iso"
    iso.symlink_to(memtest_iso)
    ctx = make_ctx("sec")
    params = QemuParams(iso=iso.name, memory=64, serial="$HOME-serial.log",
                        extra_args=["-fw_cfg", "name=opt/geos/x,string=$(touch PWNED3);`touch PWNED4`"])
    source = QemuSource(ctx, params)
    sources.append(source)
    source.start()
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    pid = source.pid
    argv = source.session.process.argv
    assert argv[argv.index("-fw_cfg") + 1] == "name=opt/geos/x,string=$(touch PWNED3);`touch PWNED4`"
    assert f"file={str(iso).replace(',', ',,')},media=cdrom,readonly=on,if=ide,index=2" in argv
    assert (tmp_path / "$HOME-serial.log").exists()  # literally: no variable expansion
    assert inet_sockets(pid) == []
    assert bound_unix_sockets(pid) == []
    pci = source.qmp("query-pci").result(5)
    classes = [d["class_info"]["class"] for bus in pci for d in bus["devices"]]
    assert 0x0200 not in classes and not has_network_device(argv)  # no Ethernet controller
    mode = stat.S_IMODE(os.stat(ctx.runtime_dir).st_mode)
    assert mode == 0o700
    source.stop()
    for where in (tmp_path, ctx.runtime_dir, Path.cwd()):
        assert not list(where.glob("PWNED*"))


def test_extra_args_and_paths_stay_single_arguments(tmp_path):
    argv = build_argv(QemuParams(kernel=f"~/{HOSTILE}", append="console=ttyS0 $(reboot)",
                                 extra_args=["-device", "virtio-rng-pci,id=a b", "-name", HOSTILE]),
                      binary="qemu", scene_dir=tmp_path, runtime_dir=tmp_path, accel="tcg", qmp_fd=3)
    assert argv[-4:] == ["-device", "virtio-rng-pci,id=a b", "-name", HOSTILE]
    assert argv[argv.index("-append") + 1] == "console=ttyS0 $(reboot)"
    assert argv[argv.index("-kernel") + 1] == str(Path.home() / HOSTILE)  # only ~ is expanded


def test_runtime_dirs_are_private_and_refuse_foreign_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    root = rundir.runtime_root()
    shell_dir = rundir.shell_runtime_dir()
    tile = rundir.tile_runtime_dir("../../etc")
    for path in (root, shell_dir, tile):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert tile.parent == shell_dir
    assert rundir.tile_runtime_dir("..").parent == shell_dir
    assert rundir.tile_runtime_dir(".").parent == shell_dir
    loose = shell_dir / "loose"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    assert stat.S_IMODE(rundir.ensure_private_dir(loose).stat().st_mode) == 0o700  # tightened
    (tmp_path / "elsewhere").mkdir()
    link = shell_dir / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PermissionError, match="is not a plain directory"):
        rundir.ensure_private_dir(link)


def test_stale_runtime_dirs_of_a_killed_shell_are_removed(tmp_path, monkeypatch):
    """A shell killed with SIGKILL leaves its directory; the next one removes it, not others'."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    child = subprocess.Popen(
        [sys.executable, "-c", ("from geometry_os import rundir; d = rundir.tile_runtime_dir('vm');"
                                "(d / 'serial.log').write_text('x'); import os, signal;"
                                "os.kill(os.getpid(), signal.SIGKILL)")],
        cwd=Path(__file__).resolve().parents[2], env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)})
    assert child.wait(30) == -9
    root = rundir.runtime_root()
    stale = [p for p in root.iterdir() if p.name == str(child.pid)]
    assert stale and (stale[0] / "vm" / "serial.log").exists()
    live = rundir.shell_runtime_dir()  # ours, alive
    other = root / "not-a-pid"
    other.mkdir()
    assert rundir.clean_stale() == stale
    assert not stale[0].exists() and live.exists() and other.exists()
