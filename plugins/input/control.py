"""Automation of a running shell: ``geos type`` and ``geos keys`` reach it here.

Each running shell listens on ``<its runtime dir>/control.sock``, a Unix socket in
a per-user 0700 directory (nothing listens on TCP).  A request is one JSON line,
the answer one JSON line:

* ``{"op": "type", "tile": T, "text": S}`` types ``S`` into tile ``T``'s VM;
* ``{"op": "keys", "tile": T, "combo": "ctrl-alt-del"}`` sends a key combination;
* ``{"op": "tiles"}`` lists the tiles, the focus and the camera: ``{"tiles": [{"name",
  "title", "state"}...], "focus": name or null, "camera": {"x", "y", "zoom"}}``;
* ``{"op": "screenshot", "path": P}`` writes the window's last frame to PNG file ``P``.

Answers are ``{"ok": true, ...}`` once the keys have been sent, or
``{"error": "one line"}``.  The work happens on the main loop
(:meth:`geometry_os.shell.Shell.call_soon`); this thread only moves bytes.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from geometry_os import rundir
from geometry_os.png import write_png

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
MAX_REQUEST = 1 << 20
REPLY_TIMEOUT = 120.0


class ControlError(Exception):
    """A request that could not be delivered or was refused; the message is one line."""


class ControlServer:
    """Serves one shell's control socket on a daemon thread."""

    def __init__(self, shell: Any, bridge: Any) -> None:
        from geometry_os.plugins.input.bridge import combo_events, text_events

        self.shell = shell
        self.bridge = bridge
        self._events = {"type": lambda r: text_events(str(r.get("text", ""))),
                        "keys": lambda r: combo_events(str(r.get("combo", "")))}
        self.path = Path(shell.run_dir) / SOCKET_NAME
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
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
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a request is a JSON object")
                reply = self._answer(request)
            except (ValueError, KeyError, OSError, ControlError) as exc:
                reply = {"error": str(exc).strip("'\"")}
            stream.write(json.dumps(reply).encode() + b"\n")
            stream.flush()

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "tiles":
            return self.shell.call_soon(self._tiles).result(REPLY_TIMEOUT)
        if op == "screenshot":
            path = Path(str(request.get("path", "")))
            if not path.is_absolute():
                raise ValueError(f"screenshot path must be absolute (got {str(path)!r})")
            self.shell.call_soon(lambda: write_png(path, self.shell.screenshot())).result(REPLY_TIMEOUT)
            return {"ok": True, "path": str(path)}
        if op not in self._events:
            raise ValueError(f"unknown op {op!r} (use: type, keys, tiles, screenshot)")
        done: concurrent.futures.Future = concurrent.futures.Future()

        def start() -> float:
            tile = self.shell.find_tile(str(request.get("tile", "")))
            return self.bridge.send_sequence(tile, self._events[op](request),
                                             done=lambda: done.set_result(None))

        seconds = self.shell.call_soon(start).result(REPLY_TIMEOUT)
        done.result(REPLY_TIMEOUT + seconds)
        return {"ok": True}

    def _tiles(self) -> dict[str, Any]:
        shell = self.shell
        return {"tiles": [{"name": t.name, "title": t.title, "state": t.ctx.state.value} for t in shell.tiles],
                "focus": shell.focused.name if shell.focused else None,
                "camera": {"x": shell.camera.x, "y": shell.camera.y, "zoom": shell.camera.zoom}}


def running_shells() -> dict[int, Path]:
    """Control sockets of this user's running shells, by shell pid."""
    root = rundir.runtime_root()
    found: dict[int, Path] = {}
    for path in sorted(root.glob(f"*/{SOCKET_NAME}")) if root.is_dir() else ():
        pid = path.parent.name
        if pid.isdigit() and rundir.alive(int(pid)):
            found[int(pid)] = path
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
        raise ControlError(reply["error"])
    return reply


def _pids(shells: dict[int, Path]) -> str:
    return ", ".join(str(pid) for pid in shells) or "none"
