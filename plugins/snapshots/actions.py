"""The snapshot actions of a tile's menu and the palette: Snapshot on a VM; Restore, Fork, Rename
and Delete on a ghost.  Failures are shown by whoever runs them (the desktop)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence

from geometry_os import api
from geometry_os.plugins.snapshots import branches
from geometry_os.plugins.snapshots.rename import begin_rename

MACHINE, SNAPSHOT = "1 machine", "2 snapshot"


def can_snapshot(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return bool(tiles) and all(not branches.is_ghost(t) and branches.machine_of(t) is not None
                               and t.ctx.state in branches.LIVE for t in tiles)


def _one_ghost_of_a_live_vm(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    if len(tiles) != 1 or not branches.is_ghost(tiles[0]):
        return False
    vm = branches.vm_of(shell, tiles[0])
    return vm is not None and branches.machine_of(vm) is not None and vm.ctx.state in branches.LIVE


def _one_ghost(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return len(tiles) == 1 and branches.is_ghost(tiles[0])


def _snapshot(shell: api.ShellView, tiles: Sequence[api.Tile]) -> concurrent.futures.Future[None]:
    """Each tile's snapshot; done when all are (the first failure otherwise)."""
    futures = [branches.take(shell, tile) for tile in tiles]
    combined: concurrent.futures.Future[None] = concurrent.futures.Future()

    def one_done(_: concurrent.futures.Future[api.Tile]) -> None:
        if not all(f.done() for f in futures) or combined.done():
            return
        errors = [error for f in futures if (error := f.exception()) is not None]
        if errors:
            combined.set_exception(errors[0])
        else:
            combined.set_result(None)

    for future in futures:
        future.add_done_callback(one_done)
    return combined


def _confirm_restore(shell: api.ShellView, tiles: Sequence[api.Tile]) -> str | None:
    return branches.restore_question(shell, tiles[0])


def _confirm_delete(shell: api.ShellView, tiles: Sequence[api.Tile]) -> str | None:
    return f"Delete snapshot '{tiles[0].title}'? Its storage is freed; that moment cannot be restored afterwards."


ACTIONS = [
    api.ActionType("snapshot.take", "Snapshot", _snapshot, can_snapshot, shortcut="Ctrl+Shift+S", group=MACHINE),
    api.ActionType("snapshot.restore", "Restore this moment", lambda s, t: branches.restore(s, t[0]),
                   _one_ghost_of_a_live_vm, confirm=_confirm_restore, group=SNAPSHOT),
    api.ActionType("snapshot.fork", "Fork a new VM from here", lambda s, t: branches.fork(s, t[0]),
                   _one_ghost_of_a_live_vm, group=SNAPSHOT),
    api.ActionType("snapshot.rename", "Rename snapshot", lambda s, t: begin_rename(s, t[0]), _one_ghost,
                   shortcut="F2", group=SNAPSHOT),
    api.ActionType("snapshot.delete", "Delete snapshot", lambda s, t: branches.delete(s, t[0]),
                   _one_ghost_of_a_live_vm, confirm=_confirm_delete, group=SNAPSHOT),
]
