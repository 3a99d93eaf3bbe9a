"""QEMU's shared surface (the memfd of ``ScanoutMap``), read through its fd so that no peer can SIGBUS us.

Why not ``mmap``: a page of a shared file mapping past the file's end raises SIGBUS
when it is read, and QEMU can ``ftruncate`` the memfd at any time after handing it
over.  QEMU (10.0, and its source since) creates the surface with no seals at all
(``qemu_memfd_alloc(..., 0, ...)``: the file carries only ``F_SEAL_SEAL``), so the
reader can neither find ``F_SEAL_SHRINK`` on it nor add it.  A shrunk mapping would
be read by the render thread's GL upload or the display thread's pixel conversion,
in C, where Python cannot catch the signal: the whole shell dies.  ``preadv`` of a
range past the end returns fewer bytes instead, which is an error we can report.

So the surface's rows live in a private buffer and each damage rectangle's rows are
read into it with one kernel copy (whole rows: the file range is contiguous then).
The cost against the unguarded mapping is in benchmarks/analysis.md ("Shared memory
read through the fd").  Only regular files are accepted: a pipe or socket passed as
the "memfd" would make a read block or fail later instead of now.
"""

from __future__ import annotations

import os
import stat
import weakref

import numpy as np
import numpy.typing as npt

from . import pixels


class SurfaceLost(pixels.PixelError):
    """The shared surface cannot be read any more (QEMU shrank or broke the memfd)."""


class SharedSurface:
    """A private copy of the rows of QEMU's surface in ``fd``, refreshed by :meth:`read`.

    ``rows`` is ``(height, width * bpp)`` uint8 (a view into a ``stride``-wide buffer).
    The fd is duplicated: the caller may close its own at once.  :meth:`close` (or
    garbage collection) closes the duplicate; ``rows`` stays valid, it is ours.
    """

    def __init__(self, fd: int, offset: int, width: int, height: int, stride: int, fmt: int) -> None:
        pixels.check_size(width, height)
        row = width * pixels.bytes_per_pixel(fmt)
        if offset < 0 or stride < row:
            raise pixels.PixelError(f"bad layout: offset {offset}, stride {stride} for rows of {row} bytes")
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise pixels.PixelError(f"the surface fd is not a memfd (mode 0o{st.st_mode:o})")
        needed = offset + stride * height
        if st.st_size < needed:
            raise pixels.PixelError(f"memfd of {st.st_size} bytes, {needed} needed for "
                                    f"{width}x{height} stride {stride} at offset {offset}")
        self._offset, self._stride, self._height = offset, stride, height
        self._buffer = np.empty((height, stride), dtype=np.uint8)
        self.rows: npt.NDArray[np.uint8] = self._buffer[:, :row]
        self._fd = os.dup(fd)
        self._closer = weakref.finalize(self, os.close, self._fd)
        try:
            self.read(0, height)
        except BaseException:
            self.close()
            raise

    def read(self, y: int, height: int) -> None:
        """Copy rows ``y`` .. ``y + height`` (already clipped to the surface) from the memfd.

        Raises :class:`SurfaceLost` when the file ends before them (QEMU shrank it).
        """
        target = self._buffer[y:y + height].data.cast("B")
        position = self._offset + y * self._stride
        done = 0
        while done < len(target):
            got = os.preadv(self._fd, [target[done:]], position + done)
            if got == 0:
                size = os.fstat(self._fd).st_size
                raise SurfaceLost(f"QEMU shrank the shared screen memory to {size} bytes under the shell "
                                  f"({self._offset + self._stride * self._height} needed)")
            done += got

    def close(self) -> None:
        self._closer()
