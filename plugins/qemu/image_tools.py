"""What every image installer needs: running a tool, and a folder that appears whole or not at all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .image_media import ImageError

#: What to install when a tool is missing.
PACKAGE_OF = {"qemu-img": "apt-get install qemu-utils", "debugfs": "apt-get install e2fsprogs"}


def run_tool(argv: list[str | Path], show: bool = False, **kwargs: Any) -> str:
    """Run a tool; its stdout, or :class:`ImageError` with its last error line.

    ``show``: its output goes to our stderr as it comes (progress of a long download).
    """
    try:
        done = subprocess.run([str(a) for a in argv], text=True, check=False,
                              stdout=sys.stderr if show else subprocess.PIPE,
                              stderr=None if show else subprocess.PIPE, **kwargs)
    except FileNotFoundError:
        raise ImageError(f"{argv[0]} not found: {PACKAGE_OF.get(str(argv[0]), 'install it')}") from None
    if done.returncode != 0:
        lines = [] if show else (done.stderr or done.stdout).strip().splitlines()
        last = lines[-1] if lines else "see its output above" if show else "no output"
        raise ImageError(f"{argv[0]} failed (exit {done.returncode}): {last}")
    return str(done.stdout or "")


def install_dir(final: Path, fill: Callable[[Path], None]) -> None:
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
