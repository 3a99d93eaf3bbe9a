"""Fixtures for the reliability tests: the real-QEMU ones are shared with tests/qemu."""

from tests.qemu.conftest import (  # noqa: F401 (fixtures, by name)
    make_ctx,
    memtest_iso,
    qemu_binary,
    sources,
    tiny_linux_iso,
    wait_for,
)
