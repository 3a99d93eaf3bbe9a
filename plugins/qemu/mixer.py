"""The shell's sound mixer: every VM's PCM, resampled, placed by its tile and summed (pure numpy).

A VM with ``audio: true`` gets a :class:`VmSound` in the shell's :class:`Mixer`.  QEMU's
voices (``AudioOutListener.Init`` ... ``Write``, :mod:`.audio`) become :class:`Voice`\\ s
of it: each ``Write`` is converted to float stereo at the mixer's rate (linear
interpolation, phase kept across writes) and queued with the time it arrived.  The
output (:mod:`.audio_output`) pulls :meth:`Mixer.mix` in blocks; each VM's block is
scaled by its *placement* (gain and equal-power pan, which the map sets from where the
tile is: :mod:`.channels`) and by the user's mute and volume, ramped across the block so
changes never click.

Timing: a voice starts playing once :data:`PREBUFFER` seconds are queued (QEMU's writes
come every 10 ms, with jitter), and drops its oldest audio beyond :data:`MAX_QUEUED`
(QEMU's clock and the sound card's drift apart): latency stays bounded.  Each block
records how long its first sample waited since its Write arrived (:attr:`Voice.latency`).
A capture (:meth:`Mixer.start_capture`) keeps what was mixed, for tests and measurements.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time

import numpy as np

log = logging.getLogger(__name__)

RATE = 48000  # the mixer's sample rate (QEMU's HDA codec plays 48 or 44.1 kHz)
PREBUFFER = 0.02  # seconds queued before a voice starts (or restarts after running dry)
MAX_QUEUED = 0.12  # seconds queued at most: older audio is dropped
MAX_CAPTURE = 60.0  # seconds a capture keeps at most
LATENCIES = 512  # latency samples kept per voice


class FormatError(ValueError):
    """A voice format the mixer does not play (one line, for the log)."""


def pcm_dtype(bits: int, signed: bool, is_float: bool, big_endian: bool) -> np.dtype:
    """The numpy type of QEMU's PCM samples (AudioOutListener.Init's fields)."""
    order = ">" if big_endian else "<"
    if is_float:
        if bits != 32:
            raise FormatError(f"{bits}-bit float samples")
        return np.dtype(f"{order}f4")
    if bits not in (8, 16, 32):
        raise FormatError(f"{bits}-bit samples")
    return np.dtype(f"{order}{'i' if signed else 'u'}{bits // 8}")


def to_float(data: bytes, dtype: np.dtype, channels: int) -> np.ndarray:
    """PCM bytes -> (frames, 2) float32 in -1..1 (mono doubled, channels past two dropped)."""
    frame = dtype.itemsize * channels
    samples = np.frombuffer(data[:len(data) // frame * frame], dtype).reshape(-1, channels)
    if dtype.kind == "f":
        out = samples.astype(np.float32)
    else:
        bits = dtype.itemsize * 8
        offset = 0 if dtype.kind == "i" else 1 << (bits - 1)
        out = (samples.astype(np.float32) - offset) / float(1 << (bits - 1))
    return out[:, [0, 0]] if channels == 1 else out[:, :2]


class Voice:
    """One of a VM's sound outputs (a QEMU HWVoiceOut) after Init: format, resampler, queue."""

    def __init__(self, freq: int, dtype: np.dtype, channels: int) -> None:
        if not 1000 <= freq <= 384000 or not 1 <= channels <= 32:
            raise FormatError(f"{channels} channels at {freq} Hz")
        self.freq, self.dtype, self.channels = freq, dtype, channels
        self.enabled = True
        self.guest_gain = np.ones(2, np.float32)  # the guest's own mixer (SetVolume), per channel
        self._step = freq / RATE  # input frames per output frame
        self._phase = 0.0  # position of the next output frame, in input frames past _tail
        self._tail = np.zeros((1, 2), np.float32)  # the last input frame, for interpolation across writes
        self._queue: collections.deque[tuple[np.ndarray, float]] = collections.deque()  # (frames, arrived)
        self._queued = 0
        self._playing = False
        self.latency: collections.deque[float] = collections.deque(maxlen=LATENCIES)
        self.frames_in = 0  # frames written by the guest, at the mixer's rate
        self.dropped = 0  # frames dropped because the queue was full

    def write(self, data: bytes, arrived: float) -> None:
        """Queue one Write's PCM (converted and resampled now: the output thread only sums)."""
        frames = to_float(data, self.dtype, self.channels)
        if not len(frames):
            return
        out = self._resample(frames)
        self._queue.append((out, arrived))
        self._queued += len(out)
        self.frames_in += len(out)
        excess = self._queued - int(MAX_QUEUED * RATE)
        while excess > 0 and self._queue:
            head, when = self._queue[0]
            cut = min(excess, len(head))
            if cut == len(head):
                self._queue.popleft()
            else:
                self._queue[0] = (head[cut:], when)
            self._queued -= cut
            self.dropped += cut
            excess -= cut

    def _resample(self, frames: np.ndarray) -> np.ndarray:
        if self.freq == RATE:
            return frames
        source = np.concatenate([self._tail, frames])  # index 0 is the previous write's last frame
        positions = np.arange(self._phase, len(source) - 1, self._step)
        base = positions.astype(np.int64)
        frac = (positions - base).astype(np.float32)[:, None]
        out = source[base] * (1 - frac) + source[base + 1] * frac
        self._phase = (positions[-1] + self._step - (len(source) - 1)) if len(positions) else self._phase - len(frames)
        self._tail = source[-1:]
        return out.astype(np.float32)

    def pull(self, count: int, now: float) -> np.ndarray | None:
        """Up to ``count`` frames (zero-padded), or None while not playing (prebuffering, disabled)."""
        if not self.enabled:
            return None
        if not self._playing:
            if self._queued < PREBUFFER * RATE:
                return None
            self._playing = True
        out = np.zeros((count, 2), np.float32)
        filled = 0
        while filled < count and self._queue:
            head, arrived = self._queue[0]
            if filled == 0:  # how long this block's first sample waited since its Write arrived
                self.latency.append(now - arrived)
            take = min(count - filled, len(head))
            out[filled:filled + take] = head[:take]
            if take == len(head):
                self._queue.popleft()
            else:
                self._queue[0] = (head[take:], arrived)
            self._queued -= take
            filled += take
        if filled < count:  # ran dry: wait for a prebuffer again rather than stutter
            self._playing = False
        return out * self.guest_gain


class VmSound:
    """One VM's voices and how its tile wants them played."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.voices: dict[int, Voice] = {}
        self.lock = threading.Lock()
        # set by the map (main thread) and the tile menu; read by the output thread
        self.placement = (1.0, 0.0)  # (gain 0..1, pan -1 left .. 1 right)
        self.muted = False
        self.volume = 1.0
        self._applied = np.zeros(2, np.float32)  # the channel gains the last block ended with

    def channel_gains(self) -> np.ndarray:
        """(left, right) gains now: placement, equal-power pan, user volume and mute."""
        gain, pan = self.placement
        if self.muted:
            gain = 0.0
        angle = (max(-1.0, min(1.0, pan)) + 1) * math.pi / 4
        return np.array([math.cos(angle), math.sin(angle)], np.float32) * gain * self.volume * math.sqrt(2)

    def mix_into(self, out: np.ndarray, now: float) -> None:
        with self.lock:
            blocks = [block for voice in self.voices.values() if (block := voice.pull(len(out), now)) is not None]
        target = self.channel_gains()
        if blocks:
            ramp = np.linspace(0.0, 1.0, len(out), dtype=np.float32)[:, None]
            gains = self._applied + (target - self._applied) * ramp
            out += sum(blocks) * gains
        self._applied = target


class Mixer:
    """Every VM's sound, summed into (frames, 2) float32 blocks at :data:`RATE`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sounds: list[VmSound] = []
        self._capture: list[np.ndarray] | None = None
        self._captured = 0
        self.blocks = 0

    def add(self, name: str) -> VmSound:
        sound = VmSound(name)
        with self._lock:
            self._sounds.append(sound)
        return sound

    def remove(self, sound: VmSound) -> None:
        with self._lock:
            if sound in self._sounds:
                self._sounds.remove(sound)

    def mix(self, count: int) -> np.ndarray:
        """The next ``count`` frames of the mix (the output thread calls this)."""
        now = time.monotonic()
        out = np.zeros((count, 2), np.float32)
        with self._lock:
            sounds = list(self._sounds)
        for sound in sounds:
            sound.mix_into(out, now)
        np.clip(out, -1.0, 1.0, out=out)
        self.blocks += 1
        capture = self._capture
        if capture is not None and self._captured < MAX_CAPTURE * RATE:
            capture.append(out.copy())
            self._captured += count
        return out

    def start_capture(self) -> None:
        """Keep what is mixed from now on (at most :data:`MAX_CAPTURE` seconds)."""
        self._captured = 0
        self._capture = []

    def captured(self) -> np.ndarray:
        """What was mixed since :meth:`start_capture`, (frames, 2) float32."""
        blocks = list(self._capture or [])
        return np.concatenate(blocks) if blocks else np.zeros((0, 2), np.float32)
