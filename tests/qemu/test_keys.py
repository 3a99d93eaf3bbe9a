"""Keys into a real guest through QemuSource's keyboard capability, on both paths.

The tiny Linux guest runs ``evread``, which prints every key event its keyboard
sees on the serial port (``EV type=1 code=C value=V``; Linux key codes are the
XT scancodes QEMU calls qnums).  Through the D-Bus Keyboard (the display client's
KeyPacer) and, once the display connection is gone for good, through QMP
``input-send-event`` (the source's own KeyPacer on the backend loop), the guest
gets every key, in order, and a sequence's future resolves only once its last key
went out.
"""

from __future__ import annotations

import re
import socket
import time

import pytest

from geometry_os.api import KEY_INTERVAL, TileState
from geometry_os.plugins.qemu import session as session_mod
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.source import QemuSource

KEY_A, KEY_B, KEY_C, KEY_D = 0x1E, 0x30, 0x2E, 0x20


def typed(*codes: int) -> list[tuple[bool, int]]:
    return [event for code in codes for event in ((True, code), (False, code))]


def key_events(serial_text: str) -> list[tuple[int, int]]:
    """(code, value) of every EV_KEY line evread printed; value 1 press, 0 release."""
    return [(int(code), int(value)) for code, value in re.findall(r"EV type=1 code=(\d+) value=(\d+)", serial_text)]


@pytest.fixture
def guest(sources, make_ctx, tiny_linux_iso, wait_for):
    ctx = make_ctx("keys")
    source = QemuSource(ctx, QemuParams(iso=str(tiny_linux_iso), memory=128, accel="tcg", tablet=False,
                                        extra_args=["-fw_cfg", "name=opt/geos/run,string=evread"]))
    sources.append(source)
    source.start()
    serial = ctx.runtime_dir / "serial.log"

    def text() -> str:
        return serial.read_text(errors="replace") if serial.exists() else ""

    wait_for(lambda: "EVREAD open" in text() and "keyboard" in text(), timeout=90, interval=0.1,
             what="evread reading the keyboard")
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    return ctx, source, text


def test_a_sequence_and_live_keys_share_the_display_keyboard_queue(guest, wait_for):
    _ctx, source, text = guest
    assert source.display is not None and source.display.connected
    before = len(key_events(text()))
    started = time.monotonic()
    done = source.send_keys(typed(KEY_A, KEY_B))
    source.key_press(KEY_C)  # live typing queues behind the sequence, never into it
    source.key_release(KEY_C)
    done.result(5)
    assert time.monotonic() - started >= 3 * KEY_INTERVAL * 0.9  # four events, paced
    expected = [(KEY_A, 1), (KEY_A, 0), (KEY_B, 1), (KEY_B, 0), (KEY_C, 1), (KEY_C, 0)]
    wait_for(lambda: len(key_events(text())) >= before + 6, timeout=10, what="six key events in the guest")
    assert key_events(text())[before:] == expected
    assert source.display.stats.input_errors == 0


def test_without_a_display_connection_keys_go_over_qmp(guest, wait_for, monkeypatch):
    ctx, source, text = guest
    monkeypatch.setattr(session_mod, "RECONNECT_ATTEMPTS", 0)  # the display stays gone
    display = source.display
    display._loop.call_soon_threadsafe(display._listener_bus._sock.shutdown, socket.SHUT_RDWR)
    wait_for(lambda: ctx.state is TileState.FAILED, timeout=5, what="FAILED: no display")
    wait_for(lambda: not display.running, timeout=5, what="the display client closed")
    assert source.pid is not None and source.session.process.alive  # QEMU runs on, keyboard and all
    before = len(key_events(text()))
    source.send_keys(typed(KEY_D, KEY_A)).result(5)
    source.key_press(KEY_B)
    source.key_release(KEY_B)
    wait_for(lambda: len(key_events(text())) >= before + 6, timeout=10, what="six key events in the guest")
    assert key_events(text())[before:] == [(KEY_D, 1), (KEY_D, 0), (KEY_A, 1), (KEY_A, 0), (KEY_B, 1), (KEY_B, 0)]


def test_keys_for_a_stopped_vm_fail_with_a_reason(guest):
    _ctx, source, _text = guest
    source.stop()
    with pytest.raises(ConnectionError, match=r"^keys is not running$"):
        source.send_keys(typed(KEY_A)).result(5)
