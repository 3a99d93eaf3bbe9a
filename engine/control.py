"""The shell's control socket: ``geos tiles``, ``geos type``, ``geos shot`` ... reach a running shell here.

Each running shell listens on a Unix socket in its private 0700 runtime directory
(nothing listens on TCP).  A request is one JSON line, the answer one JSON line:
``{"op": NAME, ...}`` -> ``{"ok": true, ...}`` or ``{"error": "one line"}``.

The engine serves two operations itself: ``tiles`` (every tile's id, title, state,
position and size, the focus and the camera) and ``screenshot`` (``path``: write the
window's last frame as a PNG).  Plugins add more through the ``register_control_ops``
hook (:class:`~geometry_os.registry.ControlOp`): the input plugin's ``type`` and
``keys``, for instance.  An operation runs on the main loop
(:meth:`~geometry_os.view.ShellView.call_soon`); this module's threads only move bytes.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from geometry_os import rundir
from geometry_os.png import write_png
from geometry_os.registry import ControlOp
from geometry_os.view import ShellView

log = logging.getLogger(__name__)

SOCKET_SUFFIX = ".sock"
SOCKET_PREFIX = "control"
MAX_REQUEST = 1 << 20
REPLY_TIMEOUT = 120.0
_serial = itertools.count()  # several shells in one process (tests) get one socket each


class ControlError(Exception):
    """A request that could not be delivered or was refused; the message is one line."""


def tiles_op(shell: ShellView, request: dict[str, Any]) -> dict[str, Any]:
    """Every tile, the focus and the camera."""
    camera = shell.camera
    tiles = [{"name": t.name, "title": t.title, "state": t.ctx.state.value, "reason": t.ctx.reason,
              "badge": t.ctx.badge or t.ctx.state.value,
              "position": list(t.spec.position), "size": list(t.spec.size)} for t in shell.tiles]
    return {"ok": True, "tiles": tiles, "focus": shell.focused.name if shell.focused else None,
            "camera": {"x": camera.x, "y": camera.y, "zoom": camera.zoom}}


def screenshot_op(shell: ShellView, request: dict[str, Any]) -> dict[str, Any]:
    """Write the window's last frame to the PNG file ``path`` (absolute)."""
    path = Path(str(request.get("path", "")))
    if not path.is_absolute():
        raise ValueError(f"screenshot path must be absolute (got {str(path)!r})")
    write_png(path, shell.screenshot())
    return {"ok": True, "path": str(path)}


ENGINE_OPS = (ControlOp("tiles", "list the tiles, the focus and the camera", tiles_op),
              ControlOp("screenshot", "write a PNG of the window", screenshot_op))


class ControlServer:
    """Serves one shell's control socket on a daemon thread."""

    def __init__(self, shell: ShellView, ops: Iterable[ControlOp],
                 report: Callable[[str, str, BaseException], None]) -> None:
        """``ops`` are the plugins' operations; ``report(op, where, exc)`` records a plugin
        operation that raised something other than a refusal (ValueError/KeyError)."""
        self.shell = shell
        self.ops = {op.name: op for op in (*ENGINE_OPS, *ops)}
        self._report = report
        serial = next(_serial)
        name = SOCKET_PREFIX + (f"-{serial}" if serial else "") + SOCKET_SUFFIX
        self.path = shell.runtime_dir / name
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.path.unlink(missing_ok=True)
        self._sock.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self._sock.listen(4)
        self._thread = threading.Thread(target=self._serve, name="geos-control", daemon=True)
        self._thread.start()
        log.info("control socket %s", self.path)

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self.path.unlink(missing_ok=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._handle, args=(conn,), name="geos-control-client", daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as stream:
            line = stream.readline(MAX_REQUEST)
            request: Any = None
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a request is a JSON object")
                reply = self.answer(request)
            except (ValueError, KeyError, OSError, ControlError, concurrent.futures.TimeoutError) as exc:
                reply = {"error": _one_line(exc)}  # a refusal: the request's fault
            except Exception as exc:  # a plugin's operation broke: its plugin answers for it
                name = str(request.get("op")) if isinstance(request, dict) else "?"
                self._report(name, f"control op {name}", exc)
                reply = {"error": f"control op {name} failed: {_one_line(exc)}"}
            stream.write(json.dumps(reply).encode() + b"\n")
            stream.flush()

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request (control thread): on the main loop, waiting for its result."""
        name = request.get("op")
        op = self.ops.get(str(name))
        if op is None:
            raise ValueError(f"unknown op {name!r} (use: {', '.join(sorted(self.ops))})")
        result = self.shell.call_soon(lambda: op.run(self.shell, request)).result(REPLY_TIMEOUT)
        if isinstance(result, concurrent.futures.Future):
            result = result.result(REPLY_TIMEOUT)
        if not isinstance(result, dict):
            raise TypeError(f"answered {type(result).__name__}, not a dict")
        return result


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().strip("'\"") or type(exc).__name__
    return text.splitlines()[0]


# ------------------------------------------------------------------ the client side
def running_shells() -> dict[int, Path]:
    """Control sockets of this user's running shells, by shell pid (the first shell of a process)."""
    root = rundir.runtime_root()
    found: dict[int, Path] = {}
    for path in sorted(root.glob(f"*/{SOCKET_PREFIX}*{SOCKET_SUFFIX}")) if root.is_dir() else ():
        pid = path.parent.name
        if pid.isdigit() and rundir.alive(int(pid)):
            found.setdefault(int(pid), path)
    return found


def request(message: dict[str, Any], pid: int | None = None, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
    """Send ``message`` to a running shell (the only one, or ``pid``); its answer.

    Raises :class:`ControlError` with one line when no shell runs, several do and no
    ``pid`` picks one, or the shell refused the request.
    """
    shells = running_shells()
    if pid is not None:
        if pid not in shells:
            raise ControlError(f"no running geos shell with pid {pid} (running: {_pids(shells)})")
        path = shells[pid]
    elif len(shells) == 1:
        path = next(iter(shells.values()))
    elif not shells:
        raise ControlError("no running geos shell (start one with 'geos run')")
    else:
        raise ControlError(f"several geos shells run ({_pids(shells)}): pick one with --pid")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            sock.sendall(json.dumps(message).encode() + b"\n")
            with sock.makefile("rb") as stream:
                reply = json.loads(stream.readline(MAX_REQUEST) or b"null")
        except (OSError, ValueError) as exc:
            raise ControlError(f"{path}: {exc}") from exc
    if not isinstance(reply, dict):
        raise ControlError(f"{path}: no answer")
    if "error" in reply:
        raise ControlError(str(reply["error"]))
    return reply


def _pids(shells: dict[int, Path]) -> str:
    return ", ".join(str(pid) for pid in shells) or "none"
