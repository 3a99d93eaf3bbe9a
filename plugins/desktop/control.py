"""Control-socket operations of the desktop: ``vm``, ``add``, ``move`` and ``save`` (what
``geos vm``, ``geos add``, ``geos move`` and ``geos save`` send).

A refusal (an unknown tile, an action that does not apply now, a bad argument) raises
ValueError/KeyError: the answer is ``{"error": ...}``.  An action that was accepted but
failed answers ``{"ok": false, "failed": ...}``, so the command can tell the two apart.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

from geometry_os import api
from geometry_os.plugins.desktop.actions import VERBS
from geometry_os.plugins.desktop.desktop import desktop_of


def _number(request: dict[str, Any], name: str) -> float:
    value = request.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number (got {value!r})")
    return float(value)


def vm_op(shell: api.ShellView, request: dict[str, Any]) -> concurrent.futures.Future[dict[str, Any]]:
    """``{"verb": pause|resume|reset|powerdown|off|restart|save, "tile": NAME}``; answered when done."""
    verb = str(request.get("verb", ""))
    if verb not in VERBS:
        raise ValueError(f"unknown verb {verb!r} (use: {', '.join(VERBS)})")
    tile = shell.find_tile(str(request.get("tile", "")))
    action = next((a for a in shell.actions if a.name == VERBS[verb]), None)
    if action is None:
        raise ValueError(f"action {VERBS[verb]} is not available (is the desktop plugin blocked?)")
    if not action.applies(shell, [tile]):
        state = tile.ctx.state.value + (f" ({tile.ctx.reason})" if tile.ctx.reason else "")
        what = "is not a machine" if tile.source is None or tile.source.capabilities.lifecycle is None \
            else f"is {state}"
        raise ValueError(f"tile {tile.name} {what}: cannot {verb} it")
    answer: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()

    def done(error: BaseException | None) -> None:
        reply: dict[str, Any] = {"ok": error is None, "tile": tile.name, "state": tile.ctx.state.value}
        if error is not None:
            reply["failed"] = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        answer.set_result(reply)

    desktop_of(shell).perform(action, [tile], done=done)
    return answer


def add_op(shell: api.ShellView, request: dict[str, Any]) -> dict[str, Any]:
    """``{"path": ABSOLUTE, "at": [x, y] | null}``: a new VM tile booting the file."""
    from geometry_os.plugins.desktop.media import add_file

    path = Path(str(request.get("path", "")))
    if not path.is_absolute():
        raise ValueError(f"path must be absolute (got {str(path)!r})")
    at = request.get("at")
    position = None
    if at is not None:
        if not isinstance(at, list) or len(at) != 2:
            raise ValueError(f"at must be [x, y] (got {at!r})")
        position = (_number({"x": at[0]}, "x"), _number({"y": at[1]}, "y"))
    tile = add_file(desktop_of(shell), path, position)
    return {"ok": True, "tile": tile.name}


def move_op(shell: api.ShellView, request: dict[str, Any]) -> dict[str, Any]:
    """``{"tile": NAME, "x": X, "y": Y, "w": W?, "h": H?}``: place a tile (world units)."""
    tile = shell.find_tile(str(request.get("tile", "")))
    w, h = tile.spec.size
    if request.get("w") is not None or request.get("h") is not None:
        w, h = _number(request, "w"), _number(request, "h")
    shell.place_tile(tile, (_number(request, "x"), _number(request, "y")), (w, h))
    return {"ok": True, "tile": tile.name, "position": list(tile.spec.position), "size": list(tile.spec.size)}


def save_op(shell: api.ShellView, request: dict[str, Any]) -> dict[str, Any]:
    """``{"path": ABSOLUTE?}``: write the scene (where: the answer's ``path``)."""
    wanted = request.get("path")
    if wanted is not None and not Path(str(wanted)).is_absolute():
        raise ValueError(f"path must be absolute (got {wanted!r})")
    try:
        written = shell.save_scene(Path(str(wanted)) if wanted is not None else None)
    except (OSError, ValueError) as exc:
        return {"ok": False, "failed": f"cannot save the scene: {exc}"}
    desktop_of(shell).say(f"Scene saved to {written}")
    return {"ok": True, "path": str(written)}


OPS = [
    api.ControlOp("vm", "act on a tile's machine: pause, resume, reset, powerdown, off, restart, save", vm_op),
    api.ControlOp("add", "start a new VM tile from a disk, ISO or kernel file", add_op),
    api.ControlOp("move", "move and resize a tile", move_op),
    api.ControlOp("save", "write the map's layout back to the scene file", save_op),
]
