"""QEMU runs confined by its seccomp sandbox (``-sandbox on,...deny``), as libvirt runs it.

Proved on the real process: every thread of a QEMU the plugin started has a seccomp
filter (``Seccomp: 2`` in /proc).  The paths QEMU serves under the filter (serial,
sound, clipboard, shared memory, resize, saving and resuming) are the rest of
tests/qemu, which run with the sandbox on (the default).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from geometry_os.plugins.qemu import _qemu_checks, accel
from geometry_os.plugins.qemu.command import SANDBOX
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.source import QemuSource
from geometry_os.tiles import TileState

pytestmark = pytest.mark.qemu


def seccomp_modes(pid: int) -> set[int]:
    """The ``Seccomp:`` mode of every thread of ``pid`` (0 none, 2 filter)."""
    modes = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("Seccomp:"):
                modes.add(int(line.split()[1]))
    return modes


def own_seccomp_mode() -> int:
    return seccomp_modes(os.getpid()).pop()


def start(sources, make_ctx, memtest_iso, **params):
    ctx = make_ctx("vm")
    source = QemuSource(ctx, QemuParams(iso=str(memtest_iso), memory=128, **params))
    sources.append(source)
    source.start()
    return ctx, source


def test_a_vm_runs_under_qemus_seccomp_filter(sources, make_ctx, memtest_iso, wait_for):
    if not accel.qemu_capabilities()["sandbox"]:
        pytest.skip(f"QEMU's sandbox does not work here: {accel.qemu_capabilities()['sandbox_error']}")
    ctx, source = start(sources, make_ctx, memtest_iso)
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING (a frame arrived)")
    argv = source.session.process.argv
    assert argv[argv.index("-sandbox") + 1] == SANDBOX
    assert seccomp_modes(source.pid) == {2}
    assert source.display.transport == "shm"  # the screen still travels through shared memory


def test_sandbox_false_or_a_build_without_it_runs_unconfined(sources, make_ctx, memtest_iso, wait_for,
                                                             monkeypatch, caplog):
    ctx, source = start(sources, make_ctx, memtest_iso, sandbox=False)
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    assert "-sandbox" not in source.session.process.argv
    assert seccomp_modes(source.pid) == {own_seccomp_mode()}  # what the shell has, nothing added
    source.stop()

    real = accel.qemu_capabilities()
    monkeypatch.setattr(accel, "qemu_capabilities",
                        lambda *a: dict(real, sandbox=False, sandbox_error="seccomp support is disabled"))
    with caplog.at_level(logging.WARNING):
        ctx, source = start(sources, make_ctx, memtest_iso)  # sandbox: true, but the build cannot
        wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING without a sandbox")
    assert "-sandbox" not in source.session.process.argv
    assert "vm: QEMU runs unconfined: its sandbox does not work here (seccomp support is disabled)" in \
        caplog.messages


def test_doctor_says_whether_the_sandbox_works(tmp_path, monkeypatch):
    lines = {check.label: check for check in _qemu_checks()}
    sandbox = lines["QEMU sandbox (seccomp)"]
    if accel.qemu_capabilities()["sandbox"]:
        assert (sandbox.status, sandbox.detail) == ("ok", f"works: VMs run with -sandbox {SANDBOX}")
    # A build without seccomp refuses the option; the probe says so in QEMU's words.
    fake = tmp_path / "qemu-without-seccomp"
    fake.write_text("#!/bin/sh\necho \"qemu: -sandbox on: There is no option group 'sandbox'\" >&2\nexit 1\n")
    fake.chmod(0o755)
    assert accel.sandbox_probe(str(fake)) == "qemu: -sandbox on: There is no option group 'sandbox'"
    real = accel.qemu_capabilities()
    monkeypatch.setattr(accel, "qemu_capabilities",
                        lambda *a: dict(real, sandbox=False, sandbox_error="no option group 'sandbox'"))
    sandbox = {check.label: check for check in _qemu_checks()}["QEMU sandbox (seccomp)"]
    assert (sandbox.status, sandbox.detail) == ("warn", "unavailable (no option group 'sandbox'): "
                                                        "VMs run unconfined")
