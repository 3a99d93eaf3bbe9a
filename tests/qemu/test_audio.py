"""A real guest's sound heard from where its tile is: tiny Linux plays a 440 Hz tone (its ``tone``
tool) in a tile left of the window's centre; the shell's mixer capture has the tone, louder on the
left, and the tile menu mutes it."""

from __future__ import annotations

import time

import numpy as np

from geometry_os.api import wait_until
from geometry_os.plugins.input.bridge import text_events
from geometry_os.plugins.qemu import audio_output

SCENE = """
window: {{width: 1280, height: 800, fps: 30}}
camera: {{x: 640, y: 400, zoom: 1, fit: false}}
tiles:
  - id: vm
    position: [0, 200]
    size: [400, 250]
    source: {{type: qemu, iso: {iso}, accel: tcg, memory: 128, audio: true, serial: {serial}}}
"""


def peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[spectrum.argmax()])


def test_tone_is_heard_from_the_left_and_mutes(render_scene, tmp_path, tiny_linux_iso):
    serial = tmp_path / "serial.log"
    shell = render_scene(SCENE.format(iso=tiny_linux_iso, serial=serial), frames=1)
    vm = shell.find_tile("vm")

    def step() -> None:
        render_scene.frames(shell, 1)
        time.sleep(0.02)

    def printed(text: bytes) -> bool:
        return serial.exists() and text in serial.read_bytes()

    wait_until(lambda: printed(b"tiny# "), 90, step=step, what="the prompt")
    assert vm.source.sound is not None and vm.source.sound.placement[1] < -0.5  # left of centre
    mixer = audio_output.mixer()
    mixer.start_capture()
    vm.source.serial.write(b"tone 440 3\r")
    wait_until(lambda: printed(b"TONE done"), 60, step=step, what="the tone played")
    out = mixer.captured()
    sounding = np.flatnonzero(np.abs(out).max(axis=1) > 0.01)
    loud = out[sounding[0]:sounding[-1] + 1] if len(sounding) else out[:0]  # the tone, with its zero crossings
    assert len(loud) > audio_output.RATE * 1.5, f"only {len(loud)} frames of sound"
    assert abs(peak_hz(loud[:, 0], audio_output.RATE) - 440) < 3
    left, right = np.sqrt((loud ** 2).mean(axis=0))
    assert left > 2 * right > 0
    latency = np.array([v for voice in vm.source.sound.voices.values() for v in voice.latency])
    assert len(latency) and np.median(latency) < 0.1  # docs/performance.md has the measured figure

    # keys still reach the guest through the display connection the sound shares
    vm.source.send_keys(text_events("echo keys-$((6*7)) >/dev/ttyS0\n")).result(30)
    wait_until(lambda: printed(b"keys-42"), 30, step=step, what="typed keys on the VGA console")

    mute = next(a for a in shell.actions if a.name == "vm.sound.mute")
    assert mute.applies(shell, [vm])
    mute.run(shell, [vm])
    mixer.start_capture()
    vm.source.serial.write(b"tone 440 1\r")
    wait_until(lambda: serial.read_bytes().count(b"TONE done") == 2, 60, step=step, what="the second tone")
    assert np.abs(mixer.captured()[audio_output.RATE // 10:]).max() < 1e-3  # after the ramp down: silence
