"""Saving a VM's whole state (RAM, devices) to a file, and resuming a new QEMU from it.

QEMU migrates to a file: QMP ``migrate`` with a file channel writes it, and a QEMU
started with ``-incoming defer`` (:data:`INCOMING_ARGS`) loads it with
``migrate-incoming`` once QMP is up.  Disks are not in the file, which is why a tile
with disks needs ``persistent`` to be saved (:meth:`.session.VmSession.save_state`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .monitor import MonitorError

SAVE_TIMEOUT = 60.0  # writing the VM state (RAM size / disk speed)
RESUME_TIMEOUT = 60.0
MIGRATION_POLL = 0.05
#: QEMU arguments of a VM that is to be resumed: it waits for ``migrate-incoming``.
INCOMING_ARGS = ("-incoming", "defer")

#: Runs one QMP command: ``execute(command, arguments)`` -> QEMU's answer; raises MonitorError.
Execute = Callable[[str, "dict[str, Any] | None"], Awaitable[Any]]


def file_channel(path: Path) -> dict[str, Any]:
    """A QMP migration channel to a file: structured, so no URI escaping of the path."""
    return {"channel-type": "main", "addr": {"transport": "file", "filename": str(path), "offset": 0}}


async def save(execute: Execute, path: Path, timeout: float = SAVE_TIMEOUT) -> None:
    """Pause the VM and write its state to ``path``.

    Raises MonitorError; the VM then runs on (it is continued after a failed save).
    """
    await execute("stop", None)
    try:
        await execute("migrate", {"channels": [file_channel(path)]})
        await migration_done(execute, timeout)
    except MonitorError:
        await execute("cont", None)
        raise


async def load(execute: Execute, path: Path, timeout: float = RESUME_TIMEOUT) -> None:
    """Load ``path`` into a QEMU started with :data:`INCOMING_ARGS` and let it run.

    Raises MonitorError when the state does not load.
    """
    await execute("migrate-incoming", {"channels": [file_channel(path)]})
    await migration_done(execute, timeout)
    await execute("cont", None)  # save() paused the VM, and QEMU keeps that


def set_aside(path: Path) -> Path:
    """Rename a state that failed to load to ``*.failed`` (so a restart boots afresh); the new path."""
    kept = path.with_name(path.name + ".failed")
    with contextlib.suppress(OSError):
        path.replace(kept)
    return kept


async def migration_done(execute: Execute, timeout: float) -> None:
    """Wait for the running migration (out or in) to complete; MonitorError otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = await execute("query-migrate", None)
        status = info.get("status")
        if status == "completed":
            return
        if status in ("failed", "cancelled"):
            raise MonitorError(info.get("error-desc") or f"migration {status}")
        if asyncio.get_running_loop().time() > deadline:
            raise MonitorError(f"migration not done after {timeout:.0f} s (status {status})")
        await asyncio.sleep(MIGRATION_POLL)
