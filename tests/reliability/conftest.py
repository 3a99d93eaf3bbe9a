"""Fixtures for the reliability tests: the real-QEMU ones are shared with tests/qemu."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.qemu.conftest import make_ctx, memtest_iso, qemu_binary, sources, wait_for  # noqa: F401

TINY_LINUX_ISO = Path.home() / ".cache" / "geometry-os" / "images" / "tiny-linux.iso"


@pytest.fixture
def tiny_linux_iso(qemu_binary: str) -> Path:  # noqa: F811 (the fixture, by name)
    """The tiny Linux guest (guests/tiny-linux/build.sh): busybox, fw_cfg jobs, serial."""
    if not TINY_LINUX_ISO.exists():
        pytest.skip(f"{TINY_LINUX_ISO} missing (run guests/tiny-linux/build.sh)")
    return TINY_LINUX_ISO
