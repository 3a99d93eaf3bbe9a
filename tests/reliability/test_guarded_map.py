"""The guarded mapping under QEMU's shared surfaces (plugins/qemu/_guarded_map.c).

A read past the end of a shrunk file reads zeros and marks the mapping; a SIGBUS
anywhere else is left to whoever handled it before (faulthandler) or kills as usual.
"""

from __future__ import annotations

import mmap
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from geometry_os.plugins.qemu._guarded_map import GuardedMap

ROOT = Path(__file__).resolve().parents[2]
PAGE = mmap.PAGESIZE


def memfd(size: int, fill: int) -> int:
    fd = os.memfd_create("surface")
    os.write(fd, bytes([fill]) * size)
    return fd


def test_pages_cut_off_read_as_zeros_and_the_mapping_says_so():
    fd = memfd(4 * PAGE, fill=5)
    try:
        guarded = GuardedMap(fd, 4 * PAGE)
        pixels = np.frombuffer(guarded, dtype=np.uint8)
        assert not guarded.faulted and not pixels.flags.writeable
        os.ftruncate(fd, PAGE + 10)  # pages 2 and 3 are gone
        assert int(pixels.astype(np.uint64).sum()) == 5 * (PAGE + 10)  # the read finished: zeros past the end
        assert guarded.faulted
    finally:
        os.close(fd)


def test_a_viewed_mapping_is_not_closed_and_closed_slots_are_reused():
    fd = memfd(PAGE, fill=1)
    try:
        guarded = GuardedMap(fd, 100)
        view = memoryview(guarded)
        assert len(view) == 100
        with pytest.raises(BufferError, match="still viewed"):
            guarded.close()
        view.release()
        guarded.close()
        with pytest.raises(ValueError, match="closed"):
            memoryview(guarded)
        for _ in range(3000):  # more than the table holds at once: closing frees a slot
            GuardedMap(fd, 100).close()
    finally:
        os.close(fd)
    with pytest.raises(ValueError, match="positive length"):
        GuardedMap(0, 0)


FOREIGN = """
import faulthandler, mmap, os, sys
faulthandler.enable()
from geometry_os.plugins.qemu._guarded_map import GuardedMap
fd = os.memfd_create("x")
os.write(fd, b"\\1" * 2 * mmap.PAGESIZE)
guarded = GuardedMap(fd, 2 * mmap.PAGESIZE)  # installs the handler, over faulthandler's
plain = mmap.mmap(fd, 2 * mmap.PAGESIZE, prot=mmap.PROT_READ)  # not guarded
os.ftruncate(fd, 0)
sys.stderr.write("reading\\n")
sys.stderr.flush()
plain[mmap.PAGESIZE]
sys.stderr.write("survived\\n")
"""


def test_a_sigbus_outside_guarded_mappings_still_goes_to_faulthandler_and_kills():
    child = subprocess.run([sys.executable, "-c", FOREIGN], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           check=False)
    assert child.returncode == -signal.SIGBUS, child.stderr[-2000:]
    assert "reading" in child.stderr and "survived" not in child.stderr
    assert "Fatal Python error: Bus error" in child.stderr  # faulthandler, chained, reported it
