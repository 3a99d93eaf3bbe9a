"""Named boot images: a tile may say ``image: alpine`` instead of iso/kernel/disk paths.

The catalogue (:data:`CATALOGUE`) is data.  Each :class:`Image` lists the
:class:`Layout` s it can be installed as, preferred first: where the files lie
(:class:`~.image_media.BootMedia`, relative paths under :func:`~.image_media.images_dir`)
and how to get them.  A tile boots the first layout whose files are all there.

* ``tiny-linux``: built from Debian packages by ``guests/tiny-linux/build.sh``.
* ``memtest``: Debian's ``memtest86+`` package.
* ``alpine``: the official ISO of a pinned release, or PyPI's copy of it
  (:mod:`.image_alpine`), downloaded by :mod:`.image_download`.

The image code: :mod:`.image_media` (boot media, the cache, errors),
:mod:`.image_tools` (what installers share), :mod:`.image_download`,
:mod:`.image_alpine`, and :mod:`.image_cli` (``geos image list|pull|path``).
docs/images.md is the user's guide.
"""

from __future__ import annotations

import functools
import itertools
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import attrs

from geometry_os.resources import guests_dir

from .image_alpine import ALPINE_APPEND, ALPINE_ISO, ALPINE_ISO_URL, ALPINE_RELEASE, install_alpine_from_pypi
from .image_download import download_verified
from .image_media import BootMedia, ImageError, NotInstalled, UnknownImage, images_dir
from .image_tools import run_tool

__all__ = ["CATALOGUE", "BootMedia", "Image", "ImageError", "Layout", "NotInstalled", "UnknownImage", "get",
           "images_dir", "names"]

log = logging.getLogger(__name__)


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


def build_tiny_linux(media: BootMedia) -> None:
    """Build the tiny Linux ISO with the recipe shipped in the package (guests/tiny-linux/)."""
    assert media.iso is not None
    builder = guests_dir() / "tiny-linux" / "build.sh"
    if not builder.exists():
        raise ImageError(f"the tiny-linux recipe is missing from this installation ({builder})")
    sys.stderr.write(f"building {media.iso} with {builder}\n")
    run_tool(["bash", str(builder), str(media.iso)], show=True)


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


