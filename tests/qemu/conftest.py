"""Fixtures for the QEMU backend tests.

Tests marked ``qemu`` boot real guests under TCG (memtest86+ from Debian's
``memtest86+`` package: VGA text, UI within ~1.5 s at 128 MB).  They wait for
screen content or states with bounded polls, never fixed sleeps.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from geometry_os.api import wait_until
from geometry_os.tiles import TileContext

MEMTEST_ISO = Path("/usr/lib/memtest86+/memtest86+x64.iso")


@pytest.fixture
def wait_for() -> Callable[..., object]:
    """``wait_for(condition, timeout=15, what=..., interval=0.01)``: poll until truthy or fail."""
    return lambda condition, timeout=15.0, **kwargs: wait_until(condition, timeout, **kwargs)


@pytest.fixture
def qemu_binary() -> str:
    path = shutil.which("qemu-system-x86_64")
    if path is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    return path


@pytest.fixture
def memtest_iso(qemu_binary: str) -> Path:
    if not MEMTEST_ISO.exists():
        pytest.skip(f"{MEMTEST_ISO} missing (apt install memtest86+)")
    return MEMTEST_ISO


@pytest.fixture
def tiny_linux_iso(qemu_binary: str) -> Path:
    """The tiny Linux guest (guests/tiny-linux/build.sh): busybox, fw_cfg jobs, serial."""
    from geometry_os.plugins.qemu import images

    try:
        return images.get("tiny-linux").require().iso
    except images.NotInstalled as missing:
        pytest.skip(str(missing))


@pytest.fixture
def make_ctx(tmp_path: Path) -> Callable[..., TileContext]:
    def make(name: str = "vm", **kwargs) -> TileContext:
        return TileContext(name=name, title=name, scene_dir=tmp_path,
                           runtime_dir=tmp_path / "run" / name, **kwargs)
    return make


@pytest.fixture
def sources():
    """Collects QemuSources and stops them at the end, whatever happened."""
    started: list = []
    yield started
    for source in started:
        source.stop()
    from geometry_os.plugins.qemu import registry
    for pid in registry.live():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        pytest.fail(f"QEMU pid {pid} still running after the test")
