"""``geos tiles``, ``geos vm``, ``geos add``, ``geos move`` and ``geos save``: the desktop from a terminal.

Exit status: 0 done; 1 no shell to talk to, or the action was accepted but failed;
2 the shell refused it (an unknown tile, an action that does not apply now, bad input).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from geometry_os import api
from geometry_os.plugins.desktop.actions import VERBS


def _pid(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pid", type=int, default=None, help="the geos shell to talk to, when several run")


def _tile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tile", help="the tile: its id, its title or its number (1 is the first)")


def _fail(command: str, message: str, status: int) -> int:
    sys.stderr.write(f"geos {command}: {message}\n")
    return status


def _ask(command: str, message: dict[str, Any], pid: int | None) -> tuple[int, dict[str, Any]]:
    """Send ``message``; (exit status, answer).  A shell that cannot be reached is 1, a refusal 2."""
    try:
        api.control_request({"op": "tiles"}, pid=pid)
    except api.ControlError as exc:
        return _fail(command, str(exc), api.EXIT_FAILED), {}
    try:
        answer = api.control_request(message, pid=pid)
    except api.ControlError as exc:
        return _fail(command, str(exc), api.EXIT_INVALID), {}
    if answer.get("ok") is False:
        return _fail(command, str(answer.get("failed", "failed")), api.EXIT_FAILED), answer
    return api.EXIT_OK, answer


# --------------------------------------------------------------------- tiles
def _run_tiles(args: argparse.Namespace, host: Any) -> int:
    try:
        answer = api.control_request({"op": "tiles"}, pid=args.pid)
    except api.ControlError as exc:
        return _fail("tiles", str(exc), api.EXIT_FAILED)
    rows = [("id", "title", "state", "position", "size")]
    for tile in answer["tiles"]:
        (x, y), (w, h) = tile["position"], tile["size"]
        state = tile["badge"] + (f" ({tile['reason']})" if tile["state"] == "failed" and tile["reason"] else "")
        rows.append((tile["name"], tile["title"], state, f"{x:g},{y:g}", f"{w:g}x{h:g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] + "\n")
    return api.EXIT_OK


# ------------------------------------------------------------------------ vm
def _configure_vm(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("verb", choices=list(VERBS), help="what to do: " + ", ".join(VERBS))
    _tile(parser)
    _pid(parser)


def _run_vm(args: argparse.Namespace, host: Any) -> int:
    status, answer = _ask("vm", {"op": "vm", "verb": args.verb, "tile": args.tile}, args.pid)
    if status == api.EXIT_OK:
        sys.stdout.write(f"{answer['tile']}: {answer['state']}\n")
    return status


# ----------------------------------------------------------------------- add
def _position(text: str) -> tuple[float, float]:
    try:
        x, y = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y (two numbers), got {text!r}") from None
    return x, y


def _configure_add(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="an ISO, a disk image (raw, qcow2...) or a Linux kernel")
    parser.add_argument("--at", type=_position, default=None, metavar="X,Y",
                        help="world position of the new tile (default: right of the others)")
    _pid(parser)


def _run_add(args: argparse.Namespace, host: Any) -> int:
    message = {"op": "add", "path": str(args.path.expanduser().absolute()),
               "at": list(args.at) if args.at is not None else None}
    status, answer = _ask("add", message, args.pid)
    if status == api.EXIT_OK:
        sys.stdout.write(f"{answer['tile']}\n")
    return status


# ---------------------------------------------------------------------- move
def _configure_move(parser: argparse.ArgumentParser) -> None:
    _tile(parser)
    parser.add_argument("numbers", type=float, nargs="+", metavar="X Y [W H]",
                        help="new position, and optionally size, in world units")
    _pid(parser)


def _run_move(args: argparse.Namespace, host: Any) -> int:
    if len(args.numbers) not in (2, 4):
        return _fail("move", f"give X Y or X Y W H (got {len(args.numbers)} numbers)", api.EXIT_INVALID)
    message: dict[str, Any] = {"op": "move", "tile": args.tile, "x": args.numbers[0], "y": args.numbers[1]}
    if len(args.numbers) == 4:
        message.update(w=args.numbers[2], h=args.numbers[3])
    return _ask("move", message, args.pid)[0]


# ---------------------------------------------------------------------- save
def _configure_save(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, nargs="?", default=None,
                        help="where to write it (default: the scene file, or the config folder for a "
                             "read-only or shipped scene)")
    _pid(parser)


def _run_save(args: argparse.Namespace, host: Any) -> int:
    path = str(args.path.expanduser().absolute()) if args.path is not None else None
    status, answer = _ask("save", {"op": "save", "path": path}, args.pid)
    if status == api.EXIT_OK:
        sys.stdout.write(f"{answer['path']}\n")
    return status


COMMANDS = [
    api.CommandType("tiles", "list a running shell's tiles: id, title, state, position, size", _pid, _run_tiles),
    api.CommandType("vm", "pause, resume, reset, powerdown, off, restart or save a tile's VM", _configure_vm,
                    _run_vm),
    api.CommandType("add", "start a new VM tile from an ISO, disk image or kernel", _configure_add, _run_add),
    api.CommandType("move", "move (and resize) a tile: geos move TILE X Y [W H]", _configure_move, _run_move),
    api.CommandType("save", "write the map's layout back to its scene file", _configure_save, _run_save),
]
