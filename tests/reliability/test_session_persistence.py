"""Saving a VM's whole state and resuming it mid-task (VmSession.save_state / resume_from).

The tiny Linux guest counts on its serial port; the state is saved mid-count, QEMU
stops, and a new QEMU resumes from the file: the count goes on from where it was
(no new boot banner), in a new process.  This is the session-level mechanism; which
tiles save on exit and where their files live is the scene's and shell's business.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.tiles import TileContext, TileState
from plugins.qemu import backend
from plugins.qemu.monitor import MonitorError
from plugins.qemu.params import QemuParams
from plugins.qemu.session import VmSession

pytestmark = pytest.mark.qemu

JOB = "i=0; while true; do i=$((i+1)); echo TICK $i; sleep 0.2; done\n"


def ticks(serial: Path) -> list[int]:
    text = serial.read_text(errors="replace") if serial.exists() else ""
    return [int(n) for n in re.findall(r"TICK (\d+)\r?\n", text)]


def start(ctx: TileContext, params: QemuParams, resume_from: Path | None = None) -> VmSession:
    session = VmSession(ctx, params, ctx.report_state, resume_from=resume_from)
    session.booting()
    backend.call_soon(session.start)
    return session


def test_saved_state_resumes_mid_task(make_ctx, tiny_linux_iso, tmp_path, wait_for):
    job = tmp_path / "job.sh"
    job.write_text(JOB)
    params = QemuParams(iso=str(tiny_linux_iso), memory=128, accel="tcg", tablet=False,
                        extra_args=["-fw_cfg", f"name=opt/geos/run,file={job}"])
    state = tmp_path / "vm.state"
    first_ctx = make_ctx("first")
    first = start(first_ctx, params)
    try:
        wait_for(lambda: len(ticks(first_ctx.runtime_dir / "serial.log")) >= 5, timeout=60, interval=0.1,
                 what="the guest counting")
        backend.submit(first.save_state(state)).result(60)
    finally:
        backend.submit(first.stop()).result(30)
    saved = ticks(first_ctx.runtime_dir / "serial.log")[-1]
    assert first_ctx.state is TileState.STOPPED and first_ctx.reason == "state saved"
    assert not first.process.alive and state.stat().st_size > 0

    second_ctx = make_ctx("second")
    second = start(second_ctx, params, resume_from=state)
    try:
        serial = second_ctx.runtime_dir / "serial.log"
        wait_for(lambda: len(ticks(serial)) >= 3, timeout=30, interval=0.1, what="the count going on")
        assert second_ctx.state is TileState.RUNNING
        assert ticks(serial)[:3] == [saved + 1, saved + 2, saved + 3]
        assert "GEOS-TINY-READY" not in serial.read_text(errors="replace")  # not booted again
        assert second.process.pid != first.process.pid
    finally:
        backend.submit(second.stop()).result(30)


def test_state_cannot_be_saved_with_throwaway_disks(make_ctx, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(bytes(4096))
    session = VmSession(make_ctx("d"), QemuParams(disk=[str(disk)]), lambda *a: None)
    with pytest.raises(MonitorError, match="needs persistent disks"):
        backend.submit(session.save_state(tmp_path / "s")).result(5)


def test_a_bad_state_file_fails_the_tile_with_the_reason(make_ctx, memtest_iso, tmp_path, wait_for):
    state = tmp_path / "garbage.state"
    state.write_bytes(b"not a QEMU migration stream" * 100)
    ctx = make_ctx("bad")
    session = start(ctx, QemuParams(iso=str(memtest_iso), memory=64, accel="tcg"), resume_from=state)
    try:
        wait_for(lambda: ctx.state is TileState.FAILED, timeout=15, what="FAILED")
        assert ctx.reason.startswith(f"resuming {state} failed: ")
    finally:
        backend.submit(session.stop()).result(30)
