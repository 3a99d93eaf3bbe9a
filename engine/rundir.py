"""Private runtime directories: one per shell, one per tile inside it.

Layout: ``<root>/<shell pid>/<tile>/`` where ``<root>`` is
``$XDG_RUNTIME_DIR/geometry-os`` or, without it, ``/tmp/geometry-os-<uid>``.
Every level we create is mode 0700: the directories hold QMP and control sockets,
the serial logs and screendumps of guests.  Naming the middle level after the shell's pid lets a new
shell remove the leftovers of shells that died without cleaning up
(:func:`clean_stale`).
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

log = logging.getLogger(__name__)


def runtime_root() -> Path:
    """The per-user directory all shells' runtime directories live in."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return Path(xdg) / "geometry-os"
    return Path("/tmp") / f"geometry-os-{os.getuid()}"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; refuse foreign ones.

    An existing directory must belong to us and not be a symlink (``/tmp`` is
    shared); its mode is tightened to 0700.
    """
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            p.mkdir(mode=0o700)
        except FileExistsError:
            pass
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise PermissionError(f"{path} is not a plain directory")
    if st.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to uid {st.st_uid}, not to us")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def shell_runtime_dir(pid: int | None = None) -> Path:
    """This shell's directory, ``<root>/<pid>``, created 0700."""
    root = ensure_private_dir(runtime_root())
    return ensure_private_dir(root / str(pid or os.getpid()))


def safe_name(name: str) -> str:
    """``name`` (a tile id) as one file name: other characters become ``_``, never "." or ".."."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "tile"
    if not safe.strip("."):  # "." and ".." would be this shell's directory or the root
        safe = "_" * len(safe)
    return safe


def tile_runtime_dir(tile: str, pid: int | None = None) -> Path:
    """A tile's directory inside this shell's directory, created 0700."""
    return ensure_private_dir(shell_runtime_dir(pid) / safe_name(tile))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(root: Path | None = None) -> list[Path]:
    """Remove the directories of shells that no longer run; returns what went."""
    root = Path(root) if root is not None else runtime_root()
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        if entry.is_symlink() or not entry.is_dir() or alive(int(entry.name)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
        log.info("removed stale runtime directory %s", entry)
    return removed
