"""An idle map is not ticked at the frame rate (engine/pacing.py, StreamingPolicy.idle_until).

Counts, not timings: how many ticks a still map gets in a second of the real loop,
and what ``idle_until`` answers in each state.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from benchmarks.shellbench import run_loop
from geometry_os.frames import Rect
from geometry_os.streaming import ACTIVE_GRACE, IDLE_REDRAW

pytestmark = pytest.mark.gl

STILL = """
window: {width: 800, height: 600, fps: 60}
camera: {x: 400, y: 300, zoom: 1, fit: false}
tiles:
  - id: near
    position: [0, 0]
    size: [640, 480]
    source: {type: pattern, width: 640, height: 480, rate: 0}
  - id: far
    position: [5000, 0]
    size: [640, 480]
    source: {type: pattern, width: 640, height: 480, rate: 0}
"""


def ticks_in(shell, seconds: float) -> int:
    """The shell's real main loop for ``seconds``; how many ticks it made."""
    ticks = []
    run_loop(shell, seconds, ticks.append)
    return len(ticks)


def test_a_still_map_is_ticked_for_its_idle_redraws_only(render_scene):
    shell = render_scene(STILL, frames=3)
    time.sleep(ACTIVE_GRACE)  # no input since
    ticks = ticks_in(shell, 1.5)
    assert 1 <= ticks <= 1.5 / IDLE_REDRAW + 3, ticks  # its idle redraws; at 60 fps it would be 90


def test_idle_until_follows_what_may_change(render_scene):
    shell = render_scene(STILL, frames=3)
    policy = shell.streaming
    time.sleep(ACTIVE_GRACE)
    shell.tick(1 / 60)
    now = time.monotonic()
    idle = policy.idle_until(shell, now)
    assert idle is not None and now < idle <= now + IDLE_REDRAW

    shell.find_tile("far").ctx.mailbox.publish(np.zeros((480, 640, 4), np.uint8), Rect(0, 0, 8, 8))
    shell.tick(1 / 60)
    assert policy.idle_until(shell, time.monotonic()) is not None  # out of view: its frame waits, no ticks

    shell.redraw()  # input: the map ticks at the frame rate for a while
    assert policy.idle_until(shell, time.monotonic()) is None
    shell.tick(1 / 60)
    assert policy.idle_until(shell, time.monotonic()) is None  # still within the grace after input

    shell.hud_visible = True  # the HUD shows the frame rate: it needs frames
    assert policy.idle_until(shell, time.monotonic() + ACTIVE_GRACE) is None
