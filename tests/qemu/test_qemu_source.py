"""QemuSource against a real QEMU (TCG) booting memtest86+.

Frames are checked against QEMU's own ``screendump`` with the VM paused, which
makes the comparison exact.  Both transports are exercised and the path that
carried the pixels is asserted from the display client's counters.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from geometry_os.plugins.qemu import registry
from geometry_os.plugins.qemu.command import has_network_device
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.source import QemuSource
from geometry_os.tiles import TileState

pytestmark = pytest.mark.qemu
log = logging.getLogger(__name__)

PLACEHOLDER = (480, 640)  # QEMU's "Guest has not initialized the display" surface


def read_ppm(path: Path) -> np.ndarray:
    """QEMU's screendump (binary PPM, P6) as an (h, w, 3) RGB array."""
    data = path.read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval; '#' comments allowed
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    assert fields[0] == b"P6" and fields[3] == b"255"
    width, height = int(fields[1]), int(fields[2])
    pixels = np.frombuffer(data, np.uint8, count=width * height * 3, offset=pos + 1)
    return pixels.reshape(height, width, 3)


def start(sources, make_ctx, name="vm", **params):
    ctx = make_ctx(name)
    params.setdefault("memory", 128)
    source = QemuSource(ctx, QemuParams(**params))
    sources.append(source)
    source.start()
    return ctx, source


def real_frame(ctx):
    pixels = ctx.mailbox.peek_pixels()
    return pixels is not None and pixels.shape[:2] != PLACEHOLDER and pixels.any()


def screen_matches_screendump(source, ctx, path: Path) -> bool:
    source.qmp("screendump", {"filename": str(path)}).result(10)
    dump = read_ppm(path)
    fb = ctx.mailbox.peek_pixels()
    return fb.shape[:2] == dump.shape[:2] and np.array_equal(fb[..., 2::-1], dump)


@pytest.mark.parametrize("transport,display", [("shm", "std"), ("inline", "std"),
                                               ("shm", "virtio")])
def test_memtest_frames_match_screendump(sources, make_ctx, memtest_iso, tmp_path, transport,
                                        display, wait_for):
    started = time.monotonic()
    ctx, source = start(sources, make_ctx, iso=str(memtest_iso), transport=transport,
                        display=display)
    assert time.monotonic() - started < 0.1, "start() must return at once"
    assert ctx.state is TileState.BOOTING
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    wait_for(lambda: real_frame(ctx), what="a frame other than the placeholder")
    session = source.session
    stats = source.display.stats
    if transport == "shm":
        assert source.display.transport == "shm"
        assert stats.scanout_maps > 0 and stats.scanouts == 0 and stats.inline_bytes == 0
    else:
        assert source.display.transport == "inline"
        assert stats.scanouts > 0 and stats.scanout_maps == 0 and stats.update_maps == 0
    log.info("%s: first frame %.2f s after start", transport,
             session.first_frame_at - session.started_at)

    # Paused, the screen is still; our copy must equal QEMU's own screendump.
    source.pause().result(5)
    wait_for(lambda: ctx.state is TileState.PAUSED, what="PAUSED")
    dump = tmp_path / "screen.ppm"
    wait_for(lambda: screen_matches_screendump(source, ctx, dump), timeout=10,
             interval=0.05, what="framebuffer == screendump")
    assert ctx.mailbox.peek_pixels().shape[:2] == (400, 720)  # VGA text mode

    source.resume().result(5)
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING after resume")
    frames = stats.frames
    wait_for(lambda: stats.frames > frames + 5, what="frames after resume")
    wait_for(lambda: source.telemetry()["update_rate"] > 1, timeout=5, what="update rate")
    telemetry = source.telemetry()
    assert 0.0 < telemetry["cpu_load"] <= 1.0
    log.info("%s: telemetry %s, stats %s", transport, telemetry, stats.as_dict())

    pid = source.pid
    source.stop()
    assert ctx.state is TileState.STOPPED
    assert pid not in registry.live()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    source.stop()  # idempotent
    assert not source.display


def test_kill_9_fails_fast_and_restart_recovers(sources, make_ctx, memtest_iso, wait_for):
    ctx, source = start(sources, make_ctx, iso=str(memtest_iso))
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    os.kill(source.pid, signal.SIGKILL)
    wait_for(lambda: ctx.state is TileState.FAILED, timeout=2, what="FAILED within 2 s")
    assert ctx.reason == "QEMU was killed by SIGKILL"
    source.restart()
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING after restart")
    wait_for(lambda: real_frame(ctx), what="frames after restart")


def test_missing_iso_fails_with_the_file_name(sources, make_ctx, tmp_path, qemu_binary,
                                              wait_for):
    ctx, source = start(sources, make_ctx, iso="missing.iso")
    wait_for(lambda: ctx.state is TileState.FAILED, what="FAILED")
    assert ctx.reason == f"iso {tmp_path / 'missing.iso'}: No such file or directory"
    assert source.pid is None  # QEMU was never started


def test_rejected_option_shows_qemus_own_words(sources, make_ctx, memtest_iso, wait_for):
    ctx, _source = start(sources, make_ctx, iso=str(memtest_iso),
                         extra_args=["-device", "no-such-device"])
    wait_for(lambda: ctx.state is TileState.FAILED, what="FAILED")
    assert "'no-such-device' is not a valid device model name" in ctx.reason
    assert "exited with status 1" in ctx.reason
    assert "\n" not in ctx.reason


def test_qemu_without_dbus_display_is_named(sources, make_ctx, memtest_iso, wait_for,
                                            monkeypatch):
    from geometry_os.plugins.qemu import accel
    caps = dict(accel.qemu_capabilities(), dbus_display=False)
    monkeypatch.setattr(accel, "qemu_capabilities", lambda *a: caps)
    ctx, _source = start(sources, make_ctx, iso=str(memtest_iso))
    wait_for(lambda: ctx.state is TileState.FAILED, what="FAILED")
    assert ctx.reason == f"QEMU at {caps['binary']} has no D-Bus display (install qemu-system-gui)"


def test_runtime_dir_is_private_and_argv_has_no_nic(sources, make_ctx, memtest_iso, wait_for):
    ctx, source = start(sources, make_ctx, iso=str(memtest_iso))
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    assert stat.S_IMODE(os.stat(ctx.runtime_dir).st_mode) == 0o700
    assert (ctx.runtime_dir / "serial.log").exists()
    argv = source.session.process.argv
    assert source.session.accel in ("tcg", "kvm")
    assert not has_network_device(argv)
    assert "-nic" in argv and argv[argv.index("-nic") + 1] == "none"
    # QEMU lists no NIC either
    assert source.qmp("query-pci").result(5)  # QMP answers
    devices = str(source.qmp("qom-list", {"path": "/machine/peripheral-anon"}).result(5))
    assert "net" not in devices


def test_reset_reboots_through_booting_and_powerdown_stops(sources, make_ctx, memtest_iso,
                                                           wait_for):
    ctx, source = start(sources, make_ctx, iso=str(memtest_iso))
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    # a reset during the BIOS's first instants can leave memtest on the blank 640x480
    # placeholder for good: reset a guest that has drawn its own screen
    wait_for(lambda: source.display.console_size == (720, 400), what="memtest's text screen")
    states = []
    ctx.on_state = lambda change: states.append((change.new, change.reason))
    source.reset().result(5)
    wait_for(lambda: (TileState.BOOTING, "guest reset") in states, what="BOOTING on reset")
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING after reset")
    # memtest ignores ACPI: the power button times out, then QEMU is told to quit
    source.session and source.powerdown(0.5).result(10)
    assert ctx.state is TileState.STOPPED and ctx.reason == "powered off"
    assert not source.session.process.alive
