"""Whole-VM snapshots: QEMU's internal snapshots, kept in one qcow2 "store" per VM.

Why a store: a VM that boots from an ISO or a kernel has no writable qcow2 disk to hold
its memory image, and its base images must stay byte-identical.  So each VM gets a
small qcow2 file of its own (beside its ``resume`` state, keyed the same way) that QMP
``blockdev-add`` attaches for the length of one operation only: the guest never sees it
(no device is attached to it), the file is closed and consistent between operations
(a fork copies it), and two QEMUs never hold it at once.

Memory and devices go into the store (``vmstate``); each writable qcow2 disk of the VM
(``persistent`` disks, or the temporary overlay QEMU keeps for disks without it) takes
its own internal snapshot under the same tag, so a restore brings disks and memory back
together.  A writable disk that is not qcow2 cannot hold one: the save is refused with
that reason.  Deleting a tag frees its clusters (qcow2 discards them); the store file
goes away with the last tag.  QEMU >= 6.0 (``snapshot-save``/``-load``/``-delete`` jobs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import shutil
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import attrs

from geometry_os import api

from .monitor import MonitorError
from .params import QemuParams
from .vmstate import Execute

STORE_NODE = "geos-snapshots"
JOB_ID = "geos-snapshot"
JOB_TIMEOUT = 120.0  # writing or reading a memory image (RAM size / disk speed)
JOB_POLL = 0.05
STORE_SIZE = "1M"  # the store's virtual disk is never used: only its vmstate area
TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

#: Runs a coroutine on the VM's session (the backend loop); fails when the VM is not running.
Submit = Callable[[Callable[[Execute], Coroutine[Any, Any, None]]], concurrent.futures.Future[None]]


class SnapshotError(Exception):
    """A snapshot operation that could not be done; the message is one line."""


def store_for(state_file: Path) -> Path:
    """The snapshot store of the VM whose ``resume`` state file is ``state_file``."""
    return state_file.with_name(state_file.stem + ".snapshots.qcow2")


def check_tag(tag: str) -> str:
    if not TAG.fullmatch(tag):
        raise SnapshotError(f"bad snapshot tag {tag!r}: letters, digits and ._- (at most 64)")
    return tag


async def qemu_img(*args: str) -> str:
    """Run ``qemu-img``; its stdout, or SnapshotError with its last error line."""
    binary = shutil.which("qemu-img")
    if binary is None:
        raise SnapshotError("qemu-img not found: apt-get install qemu-utils")
    process = await asyncio.create_subprocess_exec(binary, *args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise SnapshotError(f"qemu-img {args[0]}: {lines[-1] if lines else 'failed'}")
    return out.decode(errors="replace")


async def store_tags(store: Path) -> list[str]:
    """The tags a (closed) store holds."""
    info = json.loads(await qemu_img("info", "--output=json", "-U", str(store)))
    return [snapshot["name"] for snapshot in info.get("snapshots", [])]


async def run_job(execute: Execute, command: str, args: dict[str, Any], timeout: float = JOB_TIMEOUT) -> None:
    """Run a QMP job command to its end; SnapshotError with QEMU's reason when it fails."""
    try:
        await execute(command, {"job-id": JOB_ID, **args})
    except MonitorError as exc:
        raise SnapshotError(str(exc)) from None
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        jobs = await execute("query-jobs", None)
        job = next((j for j in jobs if j.get("id") == JOB_ID), None)
        if job is None:
            raise SnapshotError(f"{command}: the job went away")
        if job.get("status") == "concluded":
            await execute("job-dismiss", {"id": JOB_ID})
            if job.get("error"):
                raise SnapshotError(str(job["error"]))
            return
        if asyncio.get_running_loop().time() > deadline:
            await execute("job-cancel", {"id": JOB_ID})
            raise SnapshotError(f"{command} not done after {timeout:.0f} s")
        await asyncio.sleep(JOB_POLL)


async def disk_nodes(execute: Execute) -> list[str]:
    """The node of every writable disk, which must take the snapshot too; SnapshotError for one
    that cannot (not qcow2)."""
    nodes = []
    for device in await execute("query-block", None):
        inserted = device.get("inserted")
        if not inserted or inserted.get("ro"):
            continue  # empty drives and read-only media (the ISO) have nothing to keep
        if inserted.get("drv") != "qcow2":
            raise SnapshotError(f"disk {inserted.get('file', device.get('device'))} is "
                                f"{inserted.get('drv')}: snapshots need qcow2 disks "
                                "(qemu-img convert -O qcow2)")
        nodes.append(str(inserted["node-name"]))
    return nodes


class VmSnapshots:
    """The ``snapshots`` capability of a QEMU tile (:class:`geometry_os.api.Snapshots`).

    ``submit`` runs work on the VM's session; ``store`` says where its store is.  One
    operation at a time per VM (the store is attached for each and detached after).
    """

    def __init__(self, name: str, submit: Submit, store: Callable[[], Path], params: QemuParams) -> None:
        self.name = name
        self.params = params
        self._submit = submit
        self._store = store
        self._lock: asyncio.Lock | None = None  # made on the backend loop, where it is used

    @property
    def store(self) -> Path:
        return self._store()

    def fork_settings(self) -> QemuParams:
        """The same VM with its serial log where each tile keeps its own (two VMs never share one file)."""
        return attrs.evolve(self.params, serial=None)

    def snapshot_save(self, tag: str) -> concurrent.futures.Future[None]:
        return self._run(tag, self._save)

    def snapshot_load(self, tag: str) -> concurrent.futures.Future[None]:
        return self._run(tag, self._load)

    def snapshot_delete(self, tag: str) -> concurrent.futures.Future[None]:
        return self._run(tag, self._delete)

    def snapshot_copy(self, tag: str, to: api.Snapshots) -> concurrent.futures.Future[None]:
        if not isinstance(to, VmSnapshots):
            return _failed(SnapshotError(f"{self.name}: a snapshot can only go to another QEMU tile"))
        return self._run(tag, lambda execute, tag: self._copy(tag, to))

    # ------------------------------------------------------------ the work
    def _run(self, tag: str, work: Callable[[Execute, str], Awaitable[None]]) \
            -> concurrent.futures.Future[None]:
        try:
            check_tag(tag)
        except SnapshotError as exc:
            return _failed(exc)

        async def locked(execute: Execute) -> None:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                await work(execute, tag)

        return self._submit(locked)

    async def _attached(self, execute: Execute, work: Callable[[list[str]], Awaitable[None]]) -> None:
        """Attach the store, run ``work`` with the nodes a snapshot spans, detach the store."""
        store = self.store
        if not store.exists():
            store.parent.mkdir(parents=True, exist_ok=True)
            await qemu_img("create", "-q", "-f", "qcow2", str(store), STORE_SIZE)
        nodes = [STORE_NODE, *await disk_nodes(execute)]
        try:
            await execute("blockdev-add", {"driver": "qcow2", "node-name": STORE_NODE,
                                           "file": {"driver": "file", "filename": str(store)}})
        except MonitorError as exc:
            raise SnapshotError(f"cannot open the snapshot store {store}: {exc}") from None
        try:
            await work(nodes)
        finally:
            await execute("blockdev-del", {"node-name": STORE_NODE})

    async def _save(self, execute: Execute, tag: str) -> None:
        async def save(nodes: list[str]) -> None:
            await run_job(execute, "snapshot-save", {"tag": tag, "vmstate": STORE_NODE, "devices": nodes})
        await self._attached(execute, save)

    async def _load(self, execute: Execute, tag: str) -> None:
        if not self.store.exists():
            raise SnapshotError(f"{self.name} has no snapshot {tag}")

        async def load(nodes: list[str]) -> None:
            await run_job(execute, "snapshot-load", {"tag": tag, "vmstate": STORE_NODE, "devices": nodes})
        await self._attached(execute, load)

    async def _delete(self, execute: Execute, tag: str) -> None:
        if not self.store.exists():
            return  # nothing kept: already gone

        async def delete(nodes: list[str]) -> None:
            # a node without the tag (a disk overlay that went with an earlier QEMU) is skipped by QEMU
            await run_job(execute, "snapshot-delete", {"tag": tag, "devices": nodes})
        await self._attached(execute, delete)
        if not await store_tags(self.store):
            self.store.unlink(missing_ok=True)  # the last one: the file itself is storage too

    async def _copy(self, tag: str, to: VmSnapshots) -> None:
        """``to``'s store becomes a copy of ours holding ``tag`` only (QEMU on our side stays off it)."""
        source = self.store
        if tag not in (await store_tags(source) if source.exists() else []):
            raise SnapshotError(f"{self.name} has no snapshot {tag}")
        target = to.store
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, source, target)
        for other in await store_tags(target):
            if other != tag:
                await qemu_img("snapshot", "-d", other, str(target))


def _failed(exc: BaseException) -> concurrent.futures.Future[None]:
    future: concurrent.futures.Future[None] = concurrent.futures.Future()
    future.set_exception(exc)
    return future
