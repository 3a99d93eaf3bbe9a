"""QEMU faults against a real QEMU (memtest86+ under TCG): hangs, dropped displays, stalls.

SIGKILL, a crash at start and cleanup on exit are in tests/qemu (test_qemu_source.py,
test_cleanup.py); docs/reliability.md lists them all.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from benchmarks.soak import drop_display
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.source import QemuSource
from geometry_os.tiles import TileState

pytestmark = pytest.mark.qemu


def start(sources, make_ctx, iso, name="vm", **params):
    ctx = make_ctx(name)
    params.setdefault("memory", 64)
    source = QemuSource(ctx, QemuParams(iso=str(iso), **params))
    sources.append(source)
    source.start()
    return ctx, source


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_hung_qemu_shows_within_2_s_recovers_and_restarts(sources, make_ctx, memtest_iso, wait_for):
    ctx, source = start(sources, make_ctx, memtest_iso)
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    pid = source.pid
    os.kill(pid, signal.SIGSTOP)  # QEMU's main loop stops: QMP no longer answers
    wait_for(lambda: ctx.state is TileState.FAILED, timeout=2, what="FAILED within 2 s")
    assert ctx.reason.startswith("not responding: no answer to QMP for 1.25 s")
    assert not gone(pid)  # a stall may be the host's fault: the VM is not killed for it
    os.kill(pid, signal.SIGCONT)
    wait_for(lambda: ctx.state is TileState.RUNNING, timeout=5, what="RUNNING again once QEMU answers")
    os.kill(pid, signal.SIGSTOP)
    wait_for(lambda: ctx.state is TileState.FAILED, timeout=2, what="FAILED again")
    source.restart()  # a real hang: restart kills it (quit is not answered) and boots anew
    assert gone(pid)
    wait_for(lambda: ctx.state is TileState.RUNNING, timeout=40, what="RUNNING after restart")
    assert source.pid != pid


def test_qemu_crashing_at_start_fails_within_2_s_with_its_words(sources, make_ctx, memtest_iso,
                                                                tmp_path, wait_for, monkeypatch):
    """A QEMU that dies of a signal before QMP answers (a stand-in binary that segfaults)."""
    from geometry_os.plugins.qemu import accel
    real = accel.qemu_capabilities()
    crasher = tmp_path / "qemu-crashes"
    crasher.write_text("#!/bin/sh\necho 'qemu: fatal: emulator bug' >&2\nkill -SEGV $$\n")
    crasher.chmod(0o755)
    monkeypatch.setattr(accel, "qemu_capabilities", lambda *a: dict(real, binary=str(crasher)))
    ctx, source = start(sources, make_ctx, memtest_iso, accel="tcg")
    wait_for(lambda: ctx.state is TileState.FAILED, timeout=2, what="FAILED within 2 s")
    assert ctx.reason == "qemu: fatal: emulator bug (QEMU was killed by SIGSEGV)"
    monkeypatch.setattr(accel, "qemu_capabilities", lambda *a: real)
    source.restart()
    wait_for(lambda: ctx.state is TileState.RUNNING, timeout=40, what="RUNNING after restart")


def test_a_paused_vm_is_not_mistaken_for_a_hang(sources, make_ctx, memtest_iso, wait_for):
    ctx, source = start(sources, make_ctx, memtest_iso)
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    source.pause().result(5)
    wait_for(lambda: ctx.state is TileState.PAUSED, what="PAUSED")
    pings = source.session.monitor
    deadline = time.monotonic() + 2.0  # four liveness periods
    while time.monotonic() < deadline:
        assert ctx.state is TileState.PAUSED, ctx.reason
        time.sleep(0.05)
    assert pings.connected and not gone(source.pid)


def test_dropped_display_connection_reconnects_and_frames_flow(sources, make_ctx, memtest_iso,
                                                               wait_for):
    ctx, source = start(sources, make_ctx, memtest_iso)
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    first = source.display
    drop_display(first)
    wait_for(lambda: source.display is not first and source.display.console_id is not None,
             timeout=5, what="a new display client")
    second = source.display
    wait_for(lambda: second.stats.frames > 0, timeout=5, what="frames on the new connection")
    assert not first.running
    assert ctx.state is TileState.RUNNING
    assert source.qmp("query-status").result(5)["running"]


def test_a_failed_reconnection_is_tried_again_and_a_display_that_stayed_up_starts_the_count_again(
        sources, make_ctx, memtest_iso, wait_for, monkeypatch):
    from geometry_os.plugins.qemu import session as session_mod
    from geometry_os.plugins.qemu.dbus_display import DisplayError
    monkeypatch.setattr(session_mod, "RECONNECT_ATTEMPTS", 2)
    monkeypatch.setattr(session_mod, "RECONNECT_BACKOFF", 0.05)
    ctx, source = start(sources, make_ctx, memtest_iso)
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    connect = session_mod.VmSession._connect_display
    failures = []

    async def fails_once(self, monitor):  # fault injection: QEMU's handshake cut once
        if not failures:
            failures.append(1)
            raise DisplayError("connection closed during authentication")
        return await connect(self, monitor)

    monkeypatch.setattr(session_mod.VmSession, "_connect_display", fails_once)
    monkeypatch.setattr(session_mod, "RECONNECT_WINDOW", 0.0)  # every display counts as one that stayed up
    for _ in range(3):  # more drops than RECONNECT_ATTEMPTS: each reconnection starts the count again
        shown = source.display
        drop_display(shown)
        wait_for(lambda shown=shown: source.display is not shown and source.display.stats.frames > 0,
                 timeout=10, what="reconnected")
    assert failures == [1] and ctx.state is TileState.RUNNING


def test_display_that_keeps_dropping_fails_the_tile_but_leaves_the_vm(sources, make_ctx,
                                                                      memtest_iso, wait_for,
                                                                      monkeypatch):
    from geometry_os.plugins.qemu import session as session_mod
    monkeypatch.setattr(session_mod, "RECONNECT_ATTEMPTS", 1)
    ctx, source = start(sources, make_ctx, memtest_iso)
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    first = source.display
    drop_display(first)
    wait_for(lambda: source.display is not first and source.display.stats.frames > 0, timeout=5,
             what="reconnected")
    drop_display(source.display)
    wait_for(lambda: ctx.state is TileState.FAILED, timeout=5, what="FAILED")
    assert ctx.reason == "display connection lost (EOFError); reconnect limit (1) reached"
    assert not gone(source.pid)  # the guest keeps running; restart or stop is the user's call
    source.restart()
    wait_for(lambda: ctx.state is TileState.RUNNING, timeout=40, what="RUNNING after restart")


def test_stalled_display_thread_does_not_freeze_the_vm(sources, make_ctx, memtest_iso, wait_for):
    """Frames are NO_REPLY messages: a stalled reader must not block QEMU's main loop."""
    ctx, source = start(sources, make_ctx, memtest_iso, transport="inline")
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    display = source.display
    display._loop.call_soon_threadsafe(time.sleep, 3.0)  # the display thread stops reading
    started = time.monotonic()
    for _ in range(5):
        source.qmp("query-status").result(1.0)  # QEMU answers while our reader is stalled
    assert time.monotonic() - started < 2.5
    frames = display.stats.frames
    wait_for(lambda: display.stats.frames > frames, timeout=10, what="frames after the stall")
    assert ctx.state is TileState.RUNNING
