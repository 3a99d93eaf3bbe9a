"""Keeping the shell's heap from growing with its threads (glibc's malloc).

Each VM session runs a display thread of its own, and glibc gives every thread that
allocates an arena of its own (up to 8 per core); what a thread frees (framebuffers
of 1.2 MB and more, D-Bus buffers) stays in that arena.  Measured with
benchmarks/soak.py: 36 relaunches grew the shell by 38 MB; with ``malloc_trim(0)``
after each, by 3 MB; ten minutes of churning tiles grew it 5.7%, with two arenas
1.5%.  So the shell limits itself to :data:`ARENAS` arenas when it starts, and a
session that closed its clients hands the freed pages back (:func:`release_freed`).
Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


ARENAS = 2  # malloc arenas for all the shell's threads (the main thread's and one more)
M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def _glibc(function: str) -> Callable[..., int] | None:
    name = ctypes.util.find_library("c")
    try:
        found: Callable[..., int] = getattr(ctypes.CDLL(name), function) if name else None  # type: ignore[assignment]
    except (OSError, AttributeError):  # not glibc (musl has neither malloc_trim nor M_ARENA_MAX)
        return None
    return found


_trim = _glibc("malloc_trim")
_mallopt = _glibc("mallopt")


def limit_arenas() -> None:
    """Let threads started from now on share :data:`ARENAS` arenas (call it before they start)."""
    if _mallopt is not None and not _mallopt(M_ARENA_MAX, ARENAS):
        log.debug("mallopt(M_ARENA_MAX) refused")


def release_freed() -> None:
    """Return the heap's free pages, in every arena, to the system (a few ms; call it rarely)."""
    if _trim is not None:
        _trim(0)
