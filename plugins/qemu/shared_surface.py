"""QEMU's shared surface (the memfd of ``ScanoutMap``), mapped so that no peer can SIGBUS us.

Why a guard: a page of a shared file mapping past the file's end raises SIGBUS when
it is read, and QEMU can ``ftruncate`` the memfd at any time after handing it over.
QEMU (10.0, and its source since) creates the surface with no seals at all
(``qemu_memfd_alloc(..., 0, ...)``: the file carries only ``F_SEAL_SEAL``), so the
reader can neither find ``F_SEAL_SHRINK`` on it nor add it.  A shrunk mapping is read
by the render thread's GL upload or the display thread's pixel conversion, in C,
where Python cannot catch the signal: the whole shell would die.

So the memfd is mapped through :class:`._guarded_map.GuardedMap` (a small C
extension): a SIGBUS inside it puts zero pages over the lost part and marks the
mapping faulted, the interrupted read finishes, and :meth:`SharedSurface.check`
reports the loss as :class:`SurfaceLost`.  ``check`` also compares the file's size
with what the surface needs, which catches a shrink that stays inside the last page
(no fault there: the kernel zeroes the cut-off bytes).  No copy is made: the frame
path reads QEMU's pixels where they are, as it did before the guard.  Reading the
rows through the fd instead (``preadv`` into a private copy) cost 2-7x the display
thread's CPU (benchmarks/analysis.md, "Shared memory read through the fd").  Only
regular files are accepted: a pipe or socket passed as the "memfd" would make a read
block or fail later instead of now.
"""

from __future__ import annotations

import os
import stat
import weakref

import numpy as np
import numpy.typing as npt

from . import pixels
from ._guarded_map import GuardedMap


class SurfaceLost(pixels.PixelError):
    """The shared surface cannot be read any more (QEMU shrank or broke the memfd)."""


class SharedSurface:
    """QEMU's surface in ``fd``, mapped read-only; ``rows`` is ``(height, width * bpp)`` uint8.

    The fd is duplicated (for :meth:`check`): the caller may close its own at once.
    :meth:`close` (or garbage collection) closes the duplicate; the mapping goes when
    the last view of ``rows`` does.
    """

    def __init__(self, fd: int, offset: int, width: int, height: int, stride: int, fmt: int) -> None:
        pixels.check_size(width, height)
        row = width * pixels.bytes_per_pixel(fmt)
        if offset < 0 or stride < row:
            raise pixels.PixelError(f"bad layout: offset {offset}, stride {stride} for rows of {row} bytes")
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise pixels.PixelError(f"the surface fd is not a memfd (mode 0o{st.st_mode:o})")
        self._needed = offset + stride * height
        if st.st_size < self._needed:
            raise pixels.PixelError(f"memfd of {st.st_size} bytes, {self._needed} needed for "
                                    f"{width}x{height} stride {stride} at offset {offset}")
        self._map = GuardedMap(fd, self._needed)  # from 0: mmap offsets must be page-aligned
        buffer = np.frombuffer(memoryview(self._map), dtype=np.uint8, count=stride * height, offset=offset)
        self.rows: npt.NDArray[np.uint8] = buffer.reshape(height, stride)[:, :row]
        self._fd = os.dup(fd)
        self._closer = weakref.finalize(self, os.close, self._fd)

    def check(self) -> None:
        """Raise :class:`SurfaceLost` when QEMU shrank the memfd (what was read since may be zeros)."""
        size = os.fstat(self._fd).st_size
        if size < self._needed or self._map.faulted:
            raise SurfaceLost(f"QEMU shrank the shared screen memory to {size} bytes under the shell "
                              f"({self._needed} needed)")

    def close(self) -> None:
        self._closer()
