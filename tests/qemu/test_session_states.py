"""QMP events -> tile states, without QEMU (VmSession fed events directly)."""

from __future__ import annotations

from pathlib import Path

from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.session import VmSession
from geometry_os.tiles import TileState


def session() -> tuple[VmSession, list]:
    reports: list = []

    class Ctx:
        name = title = "t"
        scene_dir = runtime_dir = Path("/nonexistent")

    s = VmSession(Ctx(), QemuParams(iso="x.iso"), lambda st, why: reports.append((st, why)))
    return s, reports


def test_running_needs_both_a_running_vm_and_a_frame():
    s, reports = session()
    s.booting()
    s._on_frame()
    assert reports == [(TileState.BOOTING, "starting")]
    s._vm_running = True
    s._maybe_running()
    assert reports[-1] == (TileState.RUNNING, "")


def test_events_map_to_states():
    s, reports = session()
    s._state, s._vm_running, s._frame_seen = TileState.RUNNING, True, True
    s._on_event("STOP", {})
    assert reports[-1] == (TileState.PAUSED, "paused")
    s._on_event("RESUME", {})
    assert reports[-1] == (TileState.RUNNING, "")
    s._on_event("RESET", {"guest": True})
    assert reports[-1] == (TileState.BOOTING, "guest reset")
    s._on_frame()
    assert reports[-1] == (TileState.RUNNING, "")
    s._on_event("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
    assert reports[-1] == (TileState.STOPPED, "guest powered off")


def test_host_quit_is_not_a_guest_poweroff_and_stopping_mutes_events():
    s, reports = session()
    s._state = TileState.RUNNING
    s._on_event("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})
    assert reports == []
    s._stopping = True
    s._on_event("STOP", {})
    assert reports == []


def test_first_failure_wins_and_is_one_line():
    s, reports = session()
    s._fail("display did not answer\nsecond line")
    s._fail("QEMU was killed by SIGKILL")
    assert reports == [(TileState.FAILED, "display did not answer")]
