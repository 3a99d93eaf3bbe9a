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

from geometry_os.plugins.qemu import backend
from geometry_os.plugins.qemu.monitor import MonitorError
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.session import VmSession
from geometry_os.plugins.qemu.source import QemuSource
from geometry_os.tiles import TileContext, TileState

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


def test_resume_tile_saves_on_stop_and_continues_mid_task(make_ctx, tiny_linux_iso, tmp_path, wait_for,
                                                          monkeypatch):
    """A ``resume: true`` tile: stopping it (the shell exiting) saves it; the next start
    continues the guest's count where it was, and the state file is used up."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    job = tmp_path / "job.sh"
    job.write_text(JOB)
    params = QemuParams(iso=str(tiny_linux_iso), memory=128, accel="tcg", tablet=False, resume=True,
                        extra_args=["-fw_cfg", f"name=opt/geos/run,file={job}"])
    first_ctx = make_ctx("vm")
    first = QemuSource(first_ctx, params)
    first.start()
    try:
        wait_for(lambda: len(ticks(first_ctx.runtime_dir / "serial.log")) >= 5, timeout=60, interval=0.1,
                 what="the guest counting")
    finally:
        first.stop()
    saved = ticks(first_ctx.runtime_dir / "serial.log")[-1]
    state = first.state_file()
    assert (first_ctx.state, first_ctx.reason) == (TileState.STOPPED, "state saved")
    assert state.is_relative_to(tmp_path / "data" / "geometry-os" / "state") and state.stat().st_size > 0

    second_ctx = make_ctx("vm")  # the same tile on the next run
    (second_ctx.runtime_dir / "serial.log").unlink()
    second = QemuSource(second_ctx, params)
    assert second.state_file() == state
    second.start()
    try:
        serial = second_ctx.runtime_dir / "serial.log"
        wait_for(lambda: len(ticks(serial)) >= 3, timeout=30, interval=0.1, what="the count going on")
        wait_for(lambda: second_ctx.state is TileState.RUNNING, what="RUNNING")
        assert ticks(serial)[:3] == [saved + 1, saved + 2, saved + 3]
        assert "GEOS-TINY-READY" not in serial.read_text(errors="replace")  # not booted again
        assert not state.exists()  # used once: a crash now must not resume stale memory later
    finally:
        second.stop()


def test_resume_with_throwaway_disks_is_a_scene_error(tmp_path):
    with pytest.raises(ValueError, match="resume needs persistent: true"):
        QemuParams(disk=[str(tmp_path / "d.img")], resume=True)


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
        assert ctx.reason.endswith("(kept as garbage.state.failed; restart boots afresh)")
        assert not state.exists() and (tmp_path / "garbage.state.failed").exists()
    finally:
        backend.submit(session.stop()).result(30)
