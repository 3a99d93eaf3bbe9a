"""virtlogd and libvirtd started by hand, for machines without systemd (this one, CI containers).

Used by the ``libvirt_system`` fixture and by ``tools/dev test`` (``python -m
tests.libvirt.daemons start|stop PID...``).  libvirtd runs with a private
configuration (:data:`LIBVIRTD_CONF`): its read-write socket belongs to group
``libvirt`` with mode 0770 and needs no polkit (there is no system bus here), so
members of that group use ``qemu:///system`` as root does and everyone else gets
"permission denied", which is how Debian's own set-up behaves for them.  virtlogd
is required: without it no domain starts.  Both are stopped by the PIDs this module
started, never by name.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

URI = "qemu:///system"
SOCKET = Path("/run/libvirt/libvirt-sock")
VIRTLOGD_SOCKET = Path("/run/libvirt/virtlogd-sock")
LIBVIRTD_CONF = """\
# Geometry OS tests: group libvirt may manage domains without polkit.
unix_sock_group = "libvirt"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
"""
START_TIMEOUT = 20.0


def answers(uri: str = URI) -> bool:
    """Whether libvirtd answers ``uri`` now."""
    try:
        import libvirt
    except ImportError:
        return False
    libvirt.registerErrorHandler(lambda context, error: None, None)  # the answer is the result, not stderr
    try:
        libvirt.open(uri).close()
    except libvirt.libvirtError:
        return False
    return True


def missing() -> str | None:
    """Why the daemons cannot be started here, or None."""
    if os.geteuid() != 0:
        return "starting libvirtd needs root"
    for daemon in ("virtlogd", "libvirtd"):
        if shutil.which(daemon) is None:
            return f"{daemon} is not installed (tools/dev setup installs libvirt from bookworm-backports)"
    return None


def _pid_of(pidfile: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            time.sleep(0.05)
    raise RuntimeError(f"no pid in {pidfile} after {START_TIMEOUT:g} s")


def start(folder: Path) -> list[int]:
    """Start virtlogd and libvirtd (whichever is not running) with their files in ``folder``; their PIDs."""
    folder.mkdir(parents=True, exist_ok=True)
    pids = []
    if not VIRTLOGD_SOCKET.exists() or not _listening(VIRTLOGD_SOCKET):
        pidfile = folder / "virtlogd.pid"
        pidfile.unlink(missing_ok=True)
        subprocess.run(["virtlogd", "-d", "-p", str(pidfile)], check=True)
        pids.append(_pid_of(pidfile))
    if not answers():
        conf = folder / "libvirtd.conf"
        conf.write_text(LIBVIRTD_CONF)
        pidfile = folder / "libvirtd.pid"
        pidfile.unlink(missing_ok=True)
        subprocess.run(["libvirtd", "-d", "-f", str(conf), "-p", str(pidfile)], check=True)
        pids.append(_pid_of(pidfile))
        deadline = time.monotonic() + START_TIMEOUT
        while not answers():
            if time.monotonic() > deadline:
                stop(pids)
                raise RuntimeError(f"libvirtd did not answer {URI} within {START_TIMEOUT:g} s")
            time.sleep(0.1)
    return pids


def _listening(path: Path) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def stop(pids: list[int], timeout: float = 15.0) -> None:
    """Stop the daemons this module started, by PID (libvirtd first: it logs through virtlogd)."""
    for pid in reversed(pids):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.libvirt.daemons")
    sub = parser.add_subparsers(dest="command", required=True)
    begin = sub.add_parser("start", help="start what is not running; print the PIDs started")
    begin.add_argument("--folder", type=Path, default=Path("/run/geometry-os-libvirt"))
    end = sub.add_parser("stop", help="stop these PIDs")
    end.add_argument("pids", type=int, nargs="*")
    args = parser.parse_args(argv)
    if args.command == "start":
        problem = missing()
        if problem is not None:
            sys.stderr.write(f"libvirt daemons: {problem}\n")
            return 1
        sys.stdout.write(" ".join(map(str, start(args.folder))) + "\n")
    else:
        stop(args.pids)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
