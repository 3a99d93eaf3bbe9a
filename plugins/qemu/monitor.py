"""QMP for one QEMU: commands with timeouts, events, and handing over the display.

Wraps ``qemu.qmp.QMPClient`` (asyncio) on the backend loop.  The QMP socket is
one end of a socketpair whose other end QEMU inherited (see :mod:`.command`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from qemu.qmp import EventListener, QMPClient

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 5.0

# qemu.qmp logs a QEMU that exits during the handshake as errors with tracebacks;
# for us that is an expected event, reported once through the tile state.  Our
# clients log into this quiet logger of our own instead of "qemu.qmp.protocol.*".
_qmp_log = logging.getLogger(f"{__name__}.qmp")
_qmp_log.setLevel(logging.CRITICAL)


class MonitorError(Exception):
    """A QMP command failed or timed out."""


class Monitor:
    """A QMP session; ``on_event(name, data)`` is called on the backend loop."""

    def __init__(self, name: str, sock: socket.socket,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.name = name
        self._sock = sock
        self._on_event = on_event
        self._qmp = QMPClient(name)
        self._qmp.logger = _qmp_log.getChild(name.replace(".", "_"))
        self._listener = EventListener()
        self._qmp.register_listener(self._listener)
        self._events_task: asyncio.Task[None] | None = None
        self._fd_lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._qmp.runstate.name == "RUNNING"

    async def connect(self) -> None:
        """Read the greeting and negotiate (the caller bounds the wait)."""
        await self._qmp.connect(self._sock)
        self._events_task = asyncio.get_running_loop().create_task(self._pump_events())

    async def _pump_events(self) -> None:
        async for event in self._listener:
            name = str(event.get("event", ""))
            data = event.get("data")
            data = data if isinstance(data, dict) else {}
            log.debug("%s: QMP event %s %s", self.name, name, data)
            if self._on_event is not None:
                try:
                    self._on_event(name, data)
                except Exception:
                    log.exception("%s: handling QMP event %s failed", self.name, name)

    async def execute(self, cmd: str, args: dict[str, Any] | None = None,
                      timeout: float = COMMAND_TIMEOUT) -> Any:
        try:
            return await asyncio.wait_for(self._qmp.execute(cmd, args), timeout)
        except TimeoutError:
            raise MonitorError(f"QMP {cmd} timed out after {timeout:.0f} s") from None
        except Exception as exc:
            raise MonitorError(f"QMP {cmd}: {exc}") from exc

    async def add_display_client(self, sock: socket.socket, fdname: str = "geos-dbus") -> None:
        """Hand ``sock`` to QEMU's D-Bus display (``getfd`` + ``add_client``).

        The fd travels with SCM_RIGHTS on a single byte and ``getfd`` claims the
        last one received, so fd passing is serialised.
        """
        async with self._fd_lock:
            try:
                self._qmp.send_fd_scm(sock.fileno())
            except Exception as exc:
                raise MonitorError(f"passing the display socket failed: {exc}") from exc
            await self.execute("getfd", {"fdname": fdname})
            await self.execute("add_client", {"protocol": "@dbus-display", "fdname": fdname})

    async def vcpu_threads(self) -> list[int]:
        """Host thread ids of the vCPUs (``query-cpus-fast``)."""
        cpus = await self.execute("query-cpus-fast")
        return [int(c["thread-id"]) for c in cpus if "thread-id" in c]

    async def close(self) -> None:
        if self._events_task is not None:
            self._events_task.cancel()
        try:
            await asyncio.wait_for(self._qmp.disconnect(), 2.0)
        except Exception as exc:  # QEMU gone first: expected when it is stopped or killed
            log.debug("%s: QMP disconnect: %r", self.name, exc)
        try:
            self._sock.close()
        except OSError:
            pass
