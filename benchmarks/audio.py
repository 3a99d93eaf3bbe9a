"""Benchmark 8: VM sound, from QEMU's ``Write`` to the shell's mixer.

The tiny Linux guest (``audio: true``: intel-hda + hda-duplex on QEMU's D-Bus audio
backend) plays its ``tone`` tool, typed on its serial console.  Every block the mixer
takes records how long its first sample waited since the ``Write`` that carried it
arrived on the display connection (``Voice.latency``, plugins/qemu/mixer.py): the
shell's own share of the sound's delay (the prebuffer that absorbs QEMU's jitter, the
queue, the mixer's block).  A sound device adds its own buffer on top (10-20 ms with
miniaudio's defaults); QEMU's emulated card adds the guest's.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import TINY_ISO, main, table
from geometry_os.tiles import TileContext


def run(quick: bool = False) -> dict[str, Any]:
    from geometry_os.plugins.qemu import audio_output, mixer
    from geometry_os.plugins.qemu.params import QemuParams
    from geometry_os.plugins.qemu.source import QemuSource

    seconds = 3 if quick else 8
    with tempfile.TemporaryDirectory(prefix="geos-bench-") as tmp:
        folder = Path(tmp)
        serial = folder / "serial.log"
        ctx = TileContext(name="sound", title="sound", scene_dir=folder, runtime_dir=folder / "run" / "sound")
        source = QemuSource(ctx, QemuParams(iso=str(TINY_ISO), accel="tcg", memory=128, audio=True,
                                            serial=str(serial)))
        source.start()
        try:
            deadline = time.monotonic() + 120
            while b"tiny# " not in (serial.read_bytes() if serial.exists() else b""):
                if time.monotonic() > deadline:
                    raise RuntimeError("the tiny Linux guest did not reach its prompt in 120 s")
                time.sleep(0.1)
            source.serial.write(f"tone 440 {seconds}\r".encode())
            while b"TONE done" not in serial.read_bytes():
                if time.monotonic() > deadline + seconds + 30:
                    raise RuntimeError("the tone did not finish")
                time.sleep(0.1)
            assert source.sound is not None
            voices = list(source.sound.voices.values())
            latency = np.array([v for voice in voices for v in voice.latency]) * 1000
            writes = source.session.audio.listener.writes if source.session and source.session.audio else 0
            dropped = sum(voice.dropped for voice in voices)
            rate = voices[0].freq if voices else 0
        finally:
            source.stop()
    device = audio_output.device_name() or "none (the mix is pulled by a real-time clock)"
    rows = [[f"tone 440 Hz, {seconds} s ({rate} Hz voice -> {mixer.RATE} Hz mix)", writes,
             len(latency), float(np.percentile(latency, 50)) if len(latency) else None,
             float(np.percentile(latency, 95)) if len(latency) else None,
             float(latency.max()) if len(latency) else None, dropped]]
    return {"title": "8. Sound: QEMU Write -> mixer",
            "targets": ["Write -> mixer p50 < 50 ms"],
            "tables": {"": table(["what", "Writes", "blocks", "p50 ms", "p95 ms", "max ms", "frames dropped"], rows)},
            "notes": [f"prebuffer {mixer.PREBUFFER * 1000:.0f} ms, mixer block "
                      f"{audio_output.BLOCK * 1000:.0f} ms, sound device: {device}"]}


if __name__ == "__main__":
    main(run)
