"""The loops that watch a running VM on the backend loop: QMP liveness, and telemetry.

Each runs as a task of its :class:`~.session.VmSession` until the session cancels it
(QEMU exited) or, for liveness, until QMP closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from . import backend
from .monitor import MonitorError
from .telemetry import CpuMeter, RateMeter

log = logging.getLogger(__name__)

LIVENESS_CHECK = 0.25  # how often the display's traffic is looked at (no QMP: cheap)
LIVENESS_PERIOD = 0.5  # a VM whose screen is still is pinged this often
LIVENESS_TIMEOUT = 1.25  # no answer within this: QEMU is hung
TELEMETRY_PERIOD = 1.0


async def next_slot(period: float) -> None:
    """Sleep to the next multiple of ``period`` on the loop's clock: every VM's watcher
    wakes in the same slot, so N idle VMs wake the backend loop once, not N times."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(period - loop.time() % period)


async def watch_liveness(name: str, ping: Callable[[], Awaitable[Any]], *, heard: Callable[[], int],
                         watching: Callable[[], bool], on_hang: Callable[[], None],
                         on_answer: Callable[[], None]) -> None:
    """Ping QMP; a QEMU whose main loop stops answering shows as not responding.

    QEMU's main loop serves QMP, the display and device emulation, so no answer
    within LIVENESS_TIMEOUT means the VM is frozen (SIGSTOP, a deadlock) - or the
    host is so overloaded that QEMU did not get the CPU.  The two look the same
    from here, so the VM is never killed for it: ``on_hang()`` shows it on the
    tile and ``on_answer()`` when QEMU answers again; a restart (bounded: quit,
    then SIGKILL) ends a real hang.  The timeout is above the 1 s QEMU itself may
    block on our ScanoutMap reply.  ``watching()`` false (stopping, QEMU gone)
    ends the watch at the next missed answer; a closed QMP ends it at once.

    A ping costs the shell about a millisecond of CPU, so it is sent only when
    needed: ``heard()`` counts what the display received from QEMU's main loop, and
    while it grows QEMU is plainly running (an idle text console re-sends its
    cursor cell ~30 times a second).  The first look that finds the display quiet
    pings at once, so a VM whose screen changed shows a hang within
    2 x LIVENESS_CHECK + LIVENESS_TIMEOUT; a screen that stays still is pinged every
    LIVENESS_PERIOD: either way a hang shows within 1.75 s.
    """
    loop = asyncio.get_running_loop()
    seen, talking, alive_at = heard(), False, loop.time()
    while True:
        await next_slot(LIVENESS_CHECK)
        count = heard()
        if count != seen:
            seen, talking, alive_at = count, True, loop.time()
            continue
        if not talking and loop.time() - alive_at < LIVENESS_PERIOD:
            continue
        talking = False
        answer = asyncio.ensure_future(ping())
        answer.add_done_callback(backend.consume)  # it may fail after we stopped waiting for it
        try:
            await asyncio.wait_for(asyncio.shield(answer), LIVENESS_TIMEOUT)
            alive_at = loop.time()
            continue
        except TimeoutError:
            pass
        except MonitorError:  # QMP closed: QEMU exiting, reported by the session's exit watch
            return
        since = loop.time() - LIVENESS_TIMEOUT
        if not watching():
            return
        on_hang()
        try:
            await answer  # as long as it takes; QEMU's exit ends it with an error
        except MonitorError:
            return
        log.info("%s: QEMU answers again after %.1f s", name, loop.time() - since)
        seen, talking, alive_at = heard(), True, loop.time()  # just recovered: look again soon
        on_answer()


async def sample_telemetry(cpu: CpuMeter | None, frames: Callable[[], int],
                           publish: Callable[[dict[str, float]], None]) -> None:
    """Every TELEMETRY_PERIOD: ``publish({"cpu_load": 0..1, "update_rate": frames/s})``.

    ``frames()`` is the display's frame counter (it restarts with a new display client;
    the rate meter counts a drop as no frames).
    """
    rate = RateMeter()
    while True:
        publish({"cpu_load": cpu.sample() if cpu is not None else 0.0, "update_rate": rate.sample(frames())})
        await next_slot(TELEMETRY_PERIOD)
