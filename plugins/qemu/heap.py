"""Giving the heap a VM's session freed back to the system.

Each VM session runs a display thread of its own, and glibc gives every thread that
allocates an arena of its own; what the thread frees (framebuffers of 1.2 MB and
more, D-Bus buffers) stays in that arena after the thread ends.  Measured with
benchmarks/soak.py: 36 relaunches grew the shell by 38 MB; with ``malloc_trim(0)``
after each, by 3 MB (MALLOC_ARENA_MAX=2: 10 MB).  So when a session has closed its
clients, the freed pages are handed back.  Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim if name else None  # type: ignore[assignment]
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    return trim


_trim = _malloc_trim()


def release_freed() -> None:
    """Return the heap's free pages, in every arena, to the system (a few ms; call it rarely)."""
    if _trim is not None:
        _trim(0)
