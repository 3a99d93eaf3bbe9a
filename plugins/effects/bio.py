"""The ``bio`` effect's parameters and per-tile pulse: host-measured CPU load drives a
heartbeat.  Idle VMs breathe slowly and shallowly; busy ones race.

The load comes from the tile's source (``telemetry()``; for QEMU: the vCPU threads'
CPU time from /proc), so it works for any guest with no guest cooperation.  It is
smoothed here, and the pulse phase is integrated per tile so a change of rate never
makes the beat jump.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from geometry_os import api


@attrs.define(frozen=True)
class BioParams:
    idle_bpm: float = api.setting(12.0, doc="Pulses per minute of an idle VM.", min=1.0, max=300.0)
    busy_bpm: float = api.setting(150.0, doc="Pulses per minute of a VM at full CPU load.", min=1.0, max=600.0)
    idle_depth: float = api.setting(0.06, doc="Brightness dip between pulses when idle (fraction).", min=0.0, max=1.0)
    busy_depth: float = api.setting(0.3, doc="Brightness dip between pulses at full load (fraction).", min=0.0, max=1.0)
    smoothing: float = api.setting(2.0, doc="Time constant of the load smoothing, in seconds.", min=0.0, max=60.0)


def bio_uniforms(params: BioParams, tile: Any, shell: api.ShellView) -> dict[str, float]:
    """Advance this tile's pulse by one frame; the uniforms bio.glsl reads."""
    state = tile.effect_state.setdefault("bio", {"load": tile.cpu_load, "phase": 0.0})
    dt = shell.frame_dt
    if params.smoothing > 0:
        state["load"] += (tile.cpu_load - state["load"]) * (1.0 - math.exp(-dt / params.smoothing))
    else:
        state["load"] = tile.cpu_load
    load = min(1.0, max(0.0, state["load"]))
    bpm = params.idle_bpm + (params.busy_bpm - params.idle_bpm) * load
    state["phase"] = (state["phase"] + dt * bpm / 60.0) % 1.0
    return {"u_bio_phase": state["phase"],
            "u_bio_depth": params.idle_depth + (params.busy_depth - params.idle_depth) * load}
