"""The shell's heap: threads share two malloc arenas once the shell limited them (glibc)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from geometry_os import heap

# Six threads allocate at once; each new glibc arena reserves 64 MiB of address space.
SCRIPT = """
import sys, threading
from geometry_os import heap
if sys.argv[1] == "limited":
    heap.limit_arenas()
barrier = threading.Barrier(7)
def work():
    held = [bytearray(300_000) for _ in range(4)]
    barrier.wait()
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads:
    t.start()
barrier.wait()
size = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmSize:"))
barrier.wait()
print(size // 1024)
"""


def address_space_mb(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60, check=True)
    return int(out.stdout)


@pytest.mark.skipif(heap._mallopt is None, reason="not glibc")
def test_threads_started_after_the_limit_share_two_arenas():
    unlimited, limited = address_space_mb("unlimited"), address_space_mb("limited")
    assert unlimited - limited >= 4 * 64, (unlimited, limited)  # at least four arenas fewer
