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

LIVENESS_PERIOD = 0.25  # QMP ping interval (hang detection)
LIVENESS_TIMEOUT = 1.25  # no answer within this: QEMU is hung
TELEMETRY_PERIOD = 1.0


async def watch_liveness(name: str, ping: Callable[[], Awaitable[Any]], *, watching: Callable[[], bool],
                         on_hang: Callable[[], None], on_answer: Callable[[], None]) -> None:
    """Ping QMP; a QEMU whose main loop stops answering shows as not responding.

    QEMU's main loop serves QMP, the display and device emulation, so no answer
    within LIVENESS_TIMEOUT means the VM is frozen (SIGSTOP, a deadlock) - or the
    host is so overloaded that QEMU did not get the CPU.  The two look the same
    from here, so the VM is never killed for it: ``on_hang()`` (within
    LIVENESS_PERIOD + LIVENESS_TIMEOUT, 1.5 s) shows it on the tile and
    ``on_answer()`` when QEMU answers again; a restart (bounded: quit, then
    SIGKILL) ends a real hang.  The timeout is above the 1 s QEMU itself may block
    on our ScanoutMap reply.  ``watching()`` false (stopping, QEMU gone) ends the
    watch at the next missed answer; a closed QMP ends it at once.
    """
    while True:
        await asyncio.sleep(LIVENESS_PERIOD)
        answer = asyncio.ensure_future(ping())
        answer.add_done_callback(backend.consume)  # it may fail after we stopped waiting for it
        try:
            await asyncio.wait_for(asyncio.shield(answer), LIVENESS_TIMEOUT)
            continue
        except TimeoutError:
            pass
        except MonitorError:  # QMP closed: QEMU exiting, reported by the session's exit watch
            return
        since = asyncio.get_running_loop().time() - LIVENESS_TIMEOUT
        if not watching():
            return
        on_hang()
        try:
            await answer  # as long as it takes; QEMU's exit ends it with an error
        except MonitorError:
            return
        log.info("%s: QEMU answers again after %.1f s", name, asyncio.get_running_loop().time() - since)
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
        await asyncio.sleep(TELEMETRY_PERIOD)
