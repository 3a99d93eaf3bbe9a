"""The sound path without a guest: PCM formats, resampling, placement, the mixer's timing, and QEMU's
listener calls (malformed ones fuzzed).  tests/qemu/test_audio.py plays a real guest's tone."""

from __future__ import annotations

import numpy as np
import pytest
from dbus_fast import Message, MessageType
from dbus_fast.constants import MessageFlag
from hypothesis import given, settings
from hypothesis import strategies as st

from geometry_os.plugins.qemu.audio import OUT_IFACE, OUT_PATH, AudioListener
from geometry_os.plugins.qemu.mixer import MAX_QUEUED, PREBUFFER, RATE, FormatError, Mixer, Voice, pcm_dtype, to_float
from geometry_os.plugins.qemu.placement import MIN_GAIN, placement

WINDOW = (1280.0, 800.0)


def sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def s16_stereo(samples: np.ndarray) -> bytes:
    return np.repeat((samples * 32767).astype("<i2")[:, None], 2, axis=1).tobytes()


def peak_hz(signal: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[spectrum.argmax()])


# ------------------------------------------------------------------- formats
@pytest.mark.parametrize(("bits", "signed", "is_float", "big", "raw", "expected"), [
    (16, True, False, False, np.array([-32768, 0, 16384], "<i2").tobytes(), [-1.0, 0.0, 0.5]),
    (16, True, False, True, np.array([16384], ">i2").tobytes(), [0.5]),
    (8, False, False, False, bytes([0, 128, 192]), [-1.0, 0.0, 0.5]),
    (32, True, True, False, np.array([0.25], "<f4").tobytes(), [0.25]),
])
def test_pcm_formats_become_floats(bits, signed, is_float, big, raw, expected):
    out = to_float(raw, pcm_dtype(bits, signed, is_float, big), 1)
    assert out.shape == (len(expected), 2)
    np.testing.assert_allclose(out[:, 0], expected, atol=1e-6)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])  # mono on both sides


def test_unplayable_formats_are_refused_in_one_line():
    with pytest.raises(FormatError, match="24-bit"):
        pcm_dtype(24, True, False, False)
    with pytest.raises(FormatError, match="channels"):
        Voice(48000, pcm_dtype(16, True, False, False), 0)


def test_resampling_44100_keeps_the_tone_and_joins_writes_smoothly():
    voice = Voice(44100, pcm_dtype(16, True, False, False), 2)
    tone = sine(440, 44100, 1.0)
    for start in range(0, len(tone), 441):  # 10 ms writes, as QEMU sends them
        voice.write(s16_stereo(tone[start:start + 441]), 0.0)
    assert abs(voice.frames_in - RATE * 1.0) <= 2
    queued = voice.pull(int(MAX_QUEUED * RATE), 1.0)[:, 0]
    assert abs(peak_hz(queued) - 440) < 2
    assert np.abs(np.diff(queued)).max() < 2 * np.pi * 440 / RATE * 0.5 * 1.05  # no step where writes meet


# ----------------------------------------------------------------- placement
def test_placement_pans_with_the_tile_and_scales_with_its_size():
    gain_left, pan_left = placement((100, 300, 200, 150), WINDOW)
    gain_mid, pan_mid = placement((540, 300, 200, 150), WINDOW)
    gain_big, _ = placement((0, 0, 1280, 800), WINDOW)
    assert pan_left < -0.5 and abs(pan_mid) < 1e-9
    assert gain_big == 1.0 and MIN_GAIN <= gain_left == gain_mid < gain_big
    assert placement((-500, 0, 200, 150), WINDOW) == (0.0, 0.0)  # off screen: silent
    assert placement((100, 300, 200, 150), WINDOW, focused=True) == (1.0, pan_left / 2)
    assert placement((100, 300, 200, 150), WINDOW, other_focused=True)[0] == gain_left / 2


# --------------------------------------------------------------------- mixer
def test_mixer_pans_prebuffers_and_bounds_its_queue():
    mixer = Mixer()
    sound = mixer.add("vm")
    voice = sound.voices[1] = Voice(RATE, pcm_dtype(16, True, False, False), 2)
    sound.placement = (1.0, -0.6)
    mixer.start_capture()
    voice.write(s16_stereo(sine(440, RATE, PREBUFFER / 2)), 0.0)
    assert not mixer.mix(480).any()  # less than the prebuffer: silence
    voice.write(s16_stereo(sine(440, RATE, 2.0)), 0.0)
    assert voice.dropped > 0  # two seconds at once: the oldest were dropped, the queue stays short
    for _ in range(10):
        mixer.mix(480)
    out = mixer.captured()[480 * 2:]
    left, right = np.sqrt((out ** 2).mean(axis=0))
    assert left > 2.5 * right > 0
    sound.muted = True
    mixer.mix(480)  # the ramp down
    assert not mixer.mix(480).any()


# ------------------------------------------------------------------ listener
def call(member: str, signature: str, body: list, reply: bool = True) -> Message:
    return Message(path=OUT_PATH, interface=OUT_IFACE, member=member, signature=signature, body=body,
                   flags=MessageFlag.NONE if reply else MessageFlag.NO_REPLY_EXPECTED, serial=1)


def test_listener_plays_what_qemu_sends():
    mixer = Mixer()
    sound = mixer.add("vm")
    listener = AudioListener("vm", sound)
    assert listener.handle(call("Init", "tybbuyuub", [7, 16, True, False, 48000, 2, 4, 192000, False])) \
        .message_type is MessageType.METHOD_RETURN
    listener.handle(call("SetEnabled", "tb", [7, True]))
    listener.handle(call("SetVolume", "tbay", [7, False, bytes([255, 128])]))
    for _ in range(5):
        listener.handle(call("Write", "tay", [7, s16_stereo(sine(1000, RATE, 0.01))], reply=False))
    assert listener.writes == 5
    out = mixer.mix(480)
    assert out[:, 0].std() > 1.8 * out[:, 1].std() > 0  # the guest's own right-channel volume is half
    assert listener.handle(call("Write", "tay", [8, b"\0" * 4])).message_type is MessageType.ERROR  # no Init
    assert listener.handle(call("Fini", "t", [7])).message_type is MessageType.METHOD_RETURN
    assert not sound.voices


VALUES = {"t": st.integers(0, 2**64 - 1), "y": st.integers(0, 255), "b": st.booleans(),
          "u": st.integers(0, 2**32 - 1), "ay": st.binary(max_size=4096)}


@st.composite
def calls(draw):
    member, signature = draw(st.sampled_from([("Init", "tybbuyuub"), ("Fini", "t"), ("SetEnabled", "tb"),
                                              ("SetVolume", "tbay"), ("Write", "tay")]))
    if draw(st.booleans()):  # a wrong signature now and then
        signature = draw(st.sampled_from(["t", "tay", "tb", "u"]))
    body, i = [], 0
    while i < len(signature):
        code = "ay" if signature[i:i + 2] == "ay" else signature[i]
        body.append(draw(VALUES[code]))
        i += len(code)
    return call(member, signature, body)


@settings(max_examples=400, deadline=None)
@given(st.lists(calls(), max_size=20))
def test_fuzz_listener_calls_never_raise(messages):
    mixer = Mixer()
    listener = AudioListener("vm", mixer.add("vm"))
    for message in messages:
        answer = listener.handle(message)
        assert isinstance(answer, Message) and answer.message_type in (MessageType.METHOD_RETURN, MessageType.ERROR)
    mixer.mix(480)
