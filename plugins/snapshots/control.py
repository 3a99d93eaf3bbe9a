"""``geos snapshot``: the ghosts from a terminal (and the ``snapshot`` control operation it sends).

``geos snapshot take VM [NAME]``, ``restore GHOST [--yes]``, ``fork GHOST``, ``rename GHOST NAME``,
``delete GHOST``, ``list``.  A restore that would lose the VM's unsnapshotted state is refused
without ``--yes`` (the map asks instead).  Exit status: 0 done; 1 no shell, or the work failed;
2 refused (an unknown tile, a verb that does not apply to it).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
from typing import Any

from geometry_os import api
from geometry_os.plugins.snapshots import branches
from geometry_os.plugins.snapshots.actions import can_snapshot

VERBS = ("take", "restore", "fork", "rename", "delete", "list")


def _ghost(shell: api.ShellView, name: str) -> api.Tile:
    tile = shell.find_tile(name)
    if not branches.is_ghost(tile):
        raise ValueError(f"tile {tile.name} is not a snapshot")
    return tile


def _listing(shell: api.ShellView) -> dict[str, Any]:
    head = branches.branches_of(shell).head
    rows = [{"tile": g.name, "name": g.title, "vm": p.vm, "tag": p.tag, "taken": p.taken, "parent": p.parent,
             "head": head.get(p.vm) == p.tag}
            for g in shell.tiles if branches.is_ghost(g) for p in [branches.ghost_params(g)]]
    return {"ok": True, "snapshots": rows}


def snapshot_op(shell: api.ShellView, request: dict[str, Any]) -> Any:
    """``{"verb": take|restore|fork|rename|delete|list, "tile": NAME, "name": TEXT?, "force": bool?}``;
    answered when the work is done (``tile``: the new ghost or VM, where there is one)."""
    verb = str(request.get("verb", ""))
    if verb not in VERBS:
        raise ValueError(f"unknown verb {verb!r} (use: {', '.join(VERBS)})")
    if verb == "list":
        return _listing(shell)
    tile = shell.find_tile(str(request.get("tile", "")))
    name = str(request.get("name") or "")
    work: concurrent.futures.Future[Any]
    if verb == "take":
        if not can_snapshot(shell, [tile]):
            raise ValueError(f"tile {tile.name} is not a running VM that can take snapshots")
        work = branches.take(shell, tile, name)
    elif verb == "rename":
        branches.rename(_ghost(shell, tile.name), name)
        return {"ok": True, "tile": tile.name, "name": tile.title}
    elif verb == "restore":
        question = branches.restore_question(shell, _ghost(shell, tile.name))
        if question is not None and not request.get("force"):
            raise ValueError(f"{question} (--yes restores anyway)")
        work = branches.restore(shell, tile)
    elif verb == "fork":
        work = branches.fork(shell, _ghost(shell, tile.name))
    else:
        work = branches.delete(shell, _ghost(shell, tile.name))
    answer: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()

    def done(finished: concurrent.futures.Future[Any]) -> None:
        error = finished.exception()
        if error is not None:
            answer.set_result({"ok": False, "failed": str(error).strip().splitlines()[0] if str(error).strip()
                               else type(error).__name__})
            return
        result = finished.result()
        answer.set_result({"ok": True, "tile": result.name if isinstance(result, api.Tile) else tile.name})

    work.add_done_callback(done)
    return answer


OPS = [api.ControlOp("snapshot", "take, restore, fork, rename, delete or list VM snapshots (ghost tiles)",
                     snapshot_op)]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("verb", choices=VERBS, help="what to do: " + ", ".join(VERBS))
    parser.add_argument("tile", nargs="?", default="", help="the VM (take) or the ghost tile (the others)")
    parser.add_argument("name", nargs="?", default="", help="the snapshot's name (take, rename)")
    parser.add_argument("--yes", action="store_true", help="restore even when the VM's state since its last "
                        "snapshot would be lost")
    parser.add_argument("--pid", type=int, default=None, help="the geos shell to talk to, when several run")


def _run(args: argparse.Namespace, host: Any) -> int:
    if args.verb != "list" and not args.tile:
        sys.stderr.write(f"geos snapshot {args.verb}: name a tile\n")
        return api.EXIT_INVALID
    request = {"op": "snapshot", "verb": args.verb, "tile": args.tile, "name": args.name, "force": args.yes}
    try:
        api.control_request({"op": "tiles"}, pid=args.pid)
    except api.ControlError as exc:
        sys.stderr.write(f"geos snapshot: {exc}\n")
        return api.EXIT_FAILED
    try:
        answer = api.control_request(request, pid=args.pid)
    except api.ControlError as exc:
        sys.stderr.write(f"geos snapshot: {exc}\n")
        return api.EXIT_INVALID
    if answer.get("ok") is False:
        sys.stderr.write(f"geos snapshot: {answer.get('failed', 'failed')}\n")
        return api.EXIT_FAILED
    if args.verb == "list":
        for row in answer["snapshots"]:
            mark = "*" if row["head"] else " "
            sys.stdout.write(f"{mark} {row['tile']}  {row['vm']}  {row['taken']}  {row['name']}\n")
    else:
        sys.stdout.write(f"{answer.get('tile', '')}\n")
    return api.EXIT_OK


COMMANDS = [api.CommandType("snapshot", "take, restore, fork, rename, delete or list a VM's snapshots",
                            _configure, _run)]
