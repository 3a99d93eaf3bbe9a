"""Snapshots of VMs as ghost tiles: taking, restoring, forking, renaming and deleting them.

Everything here runs on the main loop; the machine's work happens behind its ``snapshots``
capability and comes back through futures, whose follow-ups are put back on the main loop
with ``shell.call_soon``.  Where a ghost goes: a VM's first snapshot below the VM, each
next one to the right of the snapshot it was taken after (its ``parent``), and a second
branch from the same snapshot on a row of its own below the others (:func:`place`).

The plugin remembers, per VM, the snapshot its current state grew from (its *head*: the
last one taken or restored) and whether the VM has not run since (*clean*): a restore
asks first unless the VM is clean.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import os
import re
import shutil
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs

from geometry_os import api
from geometry_os.plugins.snapshots.ghost import GhostParams, GhostSource

T = TypeVar("T")
GHOST_TYPE = "snapshot"
GHOST_SCALE = 1 / 3  # a ghost's size against its VM's
GAP = 40.0  # world units between a VM and its ghosts, and between ghosts
LIVE = (api.TileState.RUNNING, api.TileState.PAUSED)


def stills_dir() -> Path:
    """Where the ghosts' still images are kept (per user, like the VMs' snapshot stores)."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "geometry-os" / "snapshots"


def is_ghost(tile: api.Tile) -> bool:
    return isinstance(tile.source, GhostSource)


def ghost_params(tile: api.Tile) -> GhostParams:
    params: GhostParams = tile.spec.source.params
    return params


def ghosts_of(shell: api.ShellView, vm: str) -> list[api.Tile]:
    """The ghosts of the VM named ``vm``, oldest first."""
    ghosts = [t for t in shell.tiles if is_ghost(t) and ghost_params(t).vm == vm]
    return sorted(ghosts, key=lambda t: ghost_params(t).time)


def machine_of(tile: api.Tile) -> api.Snapshots | None:
    return tile.source.capabilities.snapshots if tile.source is not None else None


def vm_of(shell: api.ShellView, ghost: api.Tile) -> api.Tile | None:
    """The VM tile a ghost belongs to, if it is on the map."""
    name = ghost_params(ghost).vm
    return next((t for t in shell.tiles if t.name == name and not is_ghost(t)), None)


@attrs.define
class Branches:
    """What the plugin remembers about a shell's VMs (main thread)."""

    head: dict[str, str] = attrs.field(factory=dict)  # VM -> the tag its state grew from
    clean: set[str] = attrs.field(factory=set)  # VMs that did not run since their head
    forks: dict[str, Fork] = attrs.field(factory=dict)  # new VM -> its fork under way


_BRANCHES: weakref.WeakKeyDictionary[Any, Branches] = weakref.WeakKeyDictionary()


def branches_of(shell: api.ShellView) -> Branches:
    found = _BRANCHES.get(shell)
    if found is None:
        found = _BRANCHES[shell] = Branches()
    return found


def state_changed(shell: api.ShellView, change: api.StateChange) -> None:
    """A VM that runs again is no longer at its head; a fork that came up loads its moment."""
    branches = branches_of(shell)
    if change.new in (api.TileState.RUNNING, api.TileState.BOOTING):
        branches.clean.discard(change.tile)
    if change.new is api.TileState.STOPPED or change.new is api.TileState.FAILED:
        branches.head.pop(change.tile, None)  # it starts afresh next time
    fork = branches.forks.get(change.tile)
    if fork is not None:
        fork.state_changed(change.new)


# ------------------------------------------------------------------ futures
def _then(shell: api.ShellView, future: concurrent.futures.Future[Any], fn: Callable[[], T]) \
        -> concurrent.futures.Future[T]:
    """A future for ``fn()``, run on the main loop once ``future`` succeeded (its failure otherwise)."""
    result: concurrent.futures.Future[T] = concurrent.futures.Future()

    def on_main() -> None:
        try:
            result.set_result(fn())
        except Exception as exc:  # handed to whoever waits (the desktop shows it)
            result.set_exception(exc)

    def done(finished: concurrent.futures.Future[Any]) -> None:
        error = finished.exception()
        if error is not None:
            result.set_exception(error)
        else:
            shell.call_soon(on_main)

    future.add_done_callback(done)
    return result


# ------------------------------------------------------------------ layout
def place(shell: api.ShellView, vm: api.Tile, parent: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Position and size of a new ghost of ``vm`` growing from the snapshot ``parent``."""
    (x, y), (w, h) = vm.spec.position, vm.spec.size
    size = (float(round(w * GHOST_SCALE)), float(round(h * GHOST_SCALE)))
    ghosts = ghosts_of(shell, vm.name)
    by_tag = {ghost_params(g).tag: g for g in ghosts}
    bottom = max((g.rect.y + g.rect.h for g in ghosts), default=y + h)
    below = bottom + GAP + api.TITLE_BAR_HEIGHT
    anchor = by_tag.get(parent)
    if anchor is None:
        return ((x, below), size)
    continues = not any(ghost_params(g).parent == parent for g in ghosts)
    ax, ay = anchor.spec.position
    return ((ax + anchor.spec.size[0] + GAP, ay if continues else below), size)


def beside(shell: api.ShellView, tile: api.Tile, size: tuple[float, float]) -> tuple[float, float]:
    """Where a tile of ``size`` goes to the right of ``tile``, top edges aligned, past any tile in the way."""
    x, y = tile.rect.x + tile.rect.w + GAP, tile.rect.y
    w, h = size
    for _ in shell.tiles:  # each pass moves past at least one tile, so this many passes are enough
        in_way = [t.rect for t in shell.tiles
                  if t.footprint.x < x + w and x < t.footprint.x + t.footprint.w
                  and t.footprint.y < y + h and y - api.TITLE_BAR_HEIGHT < t.footprint.y + t.footprint.h]
        if not in_way:
            break
        x = max(r.x + r.w for r in in_way) + GAP
    return (x, y)


# --------------------------------------------------------------- the verbs
def new_tag() -> str:
    return f"geos-{datetime.datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def _unique_id(shell: api.ShellView, base: str) -> str:
    # a closed fork's ghosts still name it: its store must not be overwritten by a new fork's
    taken = {t.name for t in shell.tiles} | {ghost_params(t).vm for t in shell.tiles if is_ghost(t)}
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-") or "vm"
    number = 1
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _save_still(vm: api.Tile, tag: str) -> str | None:
    """The VM's screen now, as a PNG for its ghost (None: it has shown nothing yet)."""
    from PIL import Image

    pixels = vm.ctx.mailbox.peek_pixels()
    if pixels is None:
        return None
    folder = stills_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{tag}.png"
    Image.fromarray(pixels[:, :, 2::-1].copy(), "RGB").save(path)  # BGRX -> RGB, copied: QEMU writes on
    return str(path)


def add_ghost(shell: api.ShellView, vm: api.Tile, params: GhostParams, name: str) -> api.Tile:
    position, size = place(shell, vm, params.parent)
    spec = api.TileSpec(source=api.Typed(GHOST_TYPE, params), title=name,
                        id=_unique_id(shell, f"{vm.name}-snapshot"), position=position, size=size)
    return shell.add_tile(spec)


def take(shell: api.ShellView, vm: api.Tile, name: str = "") -> concurrent.futures.Future[api.Tile]:
    """Snapshot ``vm`` now; the future holds its new ghost."""
    machine = machine_of(vm)
    if machine is None:
        raise ValueError(f"tile {vm.name} cannot take snapshots")
    branches = branches_of(shell)
    tag = new_tag()
    taken = datetime.datetime.now().replace(microsecond=0)
    image = _save_still(vm, tag)
    parent = branches.head.get(vm.name, "")
    if parent not in {ghost_params(g).tag for g in ghosts_of(shell, vm.name)}:
        parent = ""
    name = name or f"Snapshot {len(ghosts_of(shell, vm.name)) + 1}"
    params = GhostParams(vm=vm.name, tag=tag, taken=taken.isoformat(), parent=parent, image=image)
    paused = vm.ctx.state is api.TileState.PAUSED

    def saved() -> api.Tile:
        branches.head[vm.name] = tag
        if paused:
            branches.clean.add(vm.name)
        return add_ghost(shell, vm, params, name)

    def cleanup(future: concurrent.futures.Future[api.Tile]) -> None:
        if future.exception() is not None and image is not None:
            Path(image).unlink(missing_ok=True)

    result = _then(shell, machine.snapshot_save(tag), saved)
    result.add_done_callback(cleanup)
    return result


def restore_question(shell: api.ShellView, ghost: api.Tile) -> str | None:
    """What to ask before restoring ``ghost`` (None: nothing would be lost)."""
    vm = vm_of(shell, ghost)
    if vm is None or vm.name in branches_of(shell).clean or vm.ctx.state not in LIVE:
        return None
    return (f"Restore '{ghost.title}'? {vm.title} has run since its last snapshot: what it did since is lost "
            "(take a Snapshot first to keep it).")


def restore(shell: api.ShellView, ghost: api.Tile) -> concurrent.futures.Future[None]:
    """Return the ghost's VM to the ghost's moment."""
    vm = _live_vm(shell, ghost)
    machine = machine_of(vm)
    assert machine is not None  # _live_vm checked
    tag = ghost_params(ghost).tag
    branches = branches_of(shell)

    def loaded() -> None:
        branches.head[vm.name] = tag
        if vm.ctx.state is api.TileState.PAUSED:
            branches.clean.add(vm.name)

    return _then(shell, machine.snapshot_load(tag), loaded)


def delete(shell: api.ShellView, ghost: api.Tile) -> concurrent.futures.Future[Any]:
    """Delete the snapshot (its storage is freed) and take its ghost off the map."""
    vm = _live_vm(shell, ghost)
    machine = machine_of(vm)
    assert machine is not None
    params = ghost_params(ghost)
    branches = branches_of(shell)

    def deleted() -> concurrent.futures.Future[Any]:
        if branches.head.get(vm.name) == params.tag:
            branches.head[vm.name] = params.parent
        for child in ghosts_of(shell, vm.name):  # its branches now grow from its parent
            if ghost_params(child).parent == params.tag:
                child.spec = attrs.evolve(child.spec, source=api.Typed(
                    GHOST_TYPE, attrs.evolve(ghost_params(child), parent=params.parent)))
        if params.image and Path(params.image).parent == stills_dir():  # only a still we made ourselves
            Path(params.image).unlink(missing_ok=True)
        return shell.remove_tile(ghost)

    return _then(shell, machine.snapshot_delete(params.tag), deleted)


def rename(ghost: api.Tile, name: str) -> None:
    name = " ".join(name.split())
    if not name:
        raise ValueError("a snapshot needs a name")
    ghost.ctx.title = name
    ghost.spec = attrs.evolve(ghost.spec, title=name)


def _live_vm(shell: api.ShellView, ghost: api.Tile) -> api.Tile:
    vm = vm_of(shell, ghost)
    if vm is None or machine_of(vm) is None:
        raise ValueError(f"snapshot '{ghost.title}': its VM {ghost_params(ghost).vm} is not on the map")
    if vm.ctx.state not in LIVE:
        raise ValueError(f"snapshot '{ghost.title}': start {vm.title} first (it is {vm.ctx.state.value})")
    return vm


# -------------------------------------------------------------------- fork
class Fork:
    """A new VM from a ghost's moment: the VM's scene entry under a new id beside the ghost,
    given a copy of the snapshot, loaded once the new VM runs; then it gets a ghost of its own
    for that moment (its branch starts there).  :attr:`done` holds the new VM tile."""

    def __init__(self, shell: api.ShellView, ghost: api.Tile) -> None:
        self.shell = shell
        self.ghost = ghost
        vm = _live_vm(shell, ghost)
        self.params = ghost_params(ghost)
        machine = machine_of(vm)
        assert machine is not None  # _live_vm checked
        spec = attrs.evolve(vm.spec, id=_unique_id(shell, f"{vm.name}-fork"), title=f"{vm.title} (fork)",
                            position=beside(shell, ghost, vm.spec.size),
                            source=api.Typed(vm.spec.source.type, machine.fork_settings()))
        self.done: concurrent.futures.Future[api.Tile] = concurrent.futures.Future()
        self.tile = shell.add_tile(spec)
        self.copied = False
        self.loading = False
        branches_of(shell).forks[self.tile.name] = self
        original, new = machine_of(vm), machine_of(self.tile)
        if original is None or new is None:
            self._fail(ValueError(f"{self.tile.name} cannot take snapshots"))
            return
        _then(shell, original.snapshot_copy(self.params.tag, new), self._copied).add_done_callback(self._failed)

    def _copied(self) -> None:
        self.copied = True
        self.state_changed(self.tile.ctx.state)

    def state_changed(self, state: api.TileState) -> None:
        if state is api.TileState.FAILED:
            self._fail(RuntimeError(f"{self.tile.name} failed: {self.tile.ctx.reason}"))
        if not self.copied or self.loading or state is not api.TileState.RUNNING:
            return
        self.loading = True
        machine = machine_of(self.tile)
        assert machine is not None
        _then(self.shell, machine.snapshot_load(self.params.tag), self._loaded).add_done_callback(self._failed)

    def _loaded(self) -> None:
        branches = branches_of(self.shell)
        branches.forks.pop(self.tile.name, None)
        branches.head[self.tile.name] = self.params.tag
        image = self.params.image
        if image and Path(image).is_file():  # its own copy: deleting either ghost leaves the other's
            copy = stills_dir() / f"{self.tile.name}-{self.params.tag}.png"
            shutil.copyfile(image, copy)
            image = str(copy)
        add_ghost(self.shell, self.tile, attrs.evolve(self.params, vm=self.tile.name, parent="", image=image),
                  self.ghost.title)
        self.done.set_result(self.tile)

    def _failed(self, future: concurrent.futures.Future[Any]) -> None:
        error = future.exception()
        if error is not None:
            self.shell.call_soon(lambda: self._fail(error))

    def _fail(self, error: BaseException) -> None:
        branches_of(self.shell).forks.pop(self.tile.name, None)
        if not self.done.done():
            self.done.set_exception(error)


def fork(shell: api.ShellView, ghost: api.Tile) -> concurrent.futures.Future[api.Tile]:
    return Fork(shell, ghost).done
