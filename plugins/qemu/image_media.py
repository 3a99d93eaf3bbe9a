"""What a named image is on disk: its boot media, the image cache, and the errors of images.

:class:`BootMedia` lists the files a VM boots from (an ISO, or a kernel with initrd,
command line and disks); in the catalogue (:mod:`.images`) their paths are relative
to :func:`images_dir`.  Every error of the image code is an :class:`ImageError`
whose message is one line for the user.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs


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
