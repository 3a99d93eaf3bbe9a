"""Where the mix goes: the host's sound device through miniaudio, or nowhere, in real time either way.

One output per shell process, started when the first VM with ``audio: true`` starts
(:func:`mixer`).  miniaudio (PulseAudio/PipeWire, ALSA or JACK, found at run time; no
build step) pulls :meth:`~.mixer.Mixer.mix` from its own thread in blocks of
:data:`BLOCK` seconds.  Without a sound device (a server, CI, a container) it is not
even tried where there is no sign of one (no ``/dev/snd``, no PulseAudio socket: the
ALSA library would print its own errors), and one log line says so; a clock thread
then pulls the mix at the same pace into nothing, so VMs, latency and captures behave
as with a device.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from .mixer import RATE, Mixer

log = logging.getLogger(__name__)

BLOCK = 0.01  # seconds of sound per pull: QEMU writes 10 ms at a time too

_lock = threading.Lock()
_mixer: Mixer | None = None
_output: Output | None = None


def mixer() -> Mixer:
    """The shell's mixer, its output started on first use."""
    global _mixer, _output
    with _lock:
        if _mixer is None:
            _mixer = Mixer()
            _output = Output(_mixer)
            _output.start()
        return _mixer


def device_name() -> str | None:
    """The sound device the mix plays on (None: none, or no VM with sound started yet)."""
    return _output.device_name if _output is not None else None


def device_present() -> bool:
    """Whether this host may have a sound device to open (an ALSA card or a PulseAudio/PipeWire server)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    pulse = os.environ.get("PULSE_SERVER") or (runtime and (Path(runtime) / "pulse" / "native").exists())
    return bool(pulse) or Path("/dev/snd").is_dir()


class Output:
    """Plays a :class:`Mixer`: a miniaudio playback device, else a real-time clock into nothing."""

    def __init__(self, mix: Mixer) -> None:
        self.mix = mix
        self.device_name: str | None = None  # None: no device, the mix is pulled by the clock
        self._device: Any = None
        self._stop = threading.Event()

    def start(self) -> None:
        if device_present() and self._open_device():
            return
        log.warning("no sound device: VM sound is mixed but not played")
        threading.Thread(target=self._clock, name="geos-audio-clock", daemon=True).start()

    def _open_device(self) -> bool:
        try:
            import miniaudio  # type: ignore[import-untyped]  # it ships no type information

            device = miniaudio.PlaybackDevice(output_format=miniaudio.SampleFormat.FLOAT32, nchannels=2,
                                              sample_rate=RATE, buffersize_msec=int(BLOCK * 2000),
                                              app_name="Geometry OS")
            stream = self._pull()
            next(stream)
            device.start(stream)
        except Exception as exc:  # no library, no backend, no device: all mean silence
            log.info("sound device not usable: %s", exc)
            return False
        self._device = device
        self.device_name = f"{device.backend}: {device.name}"
        log.info("sound plays on %s", self.device_name)
        return True

    def _pull(self) -> Generator[bytes, int, None]:
        """miniaudio's stream: it sends how many frames it wants, gets them as float32 bytes."""
        count = yield b""
        while True:
            count = yield self.mix.mix(count).tobytes()

    def _clock(self) -> None:
        frames = int(BLOCK * RATE)
        due = time.monotonic()
        while not self._stop.is_set():
            self.mix.mix(frames)
            due += BLOCK
            delay = due - time.monotonic()
            if delay < -0.5:  # the process was stopped (a debugger, SIGSTOP): do not catch up
                due = time.monotonic()
            self._stop.wait(max(0.0, delay))

    def stop(self) -> None:
        self._stop.set()
        if self._device is not None:
            self._device.close()
