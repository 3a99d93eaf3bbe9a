"""``type`` and ``keys``: the control-socket operations behind ``geos type`` and ``geos keys``.

Both turn the request into key events first (refusing what the layout cannot type
before anything is sent), then queue them on the tile's keyboard; the answer comes
once the last key reached the guest.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

from geometry_os import api
from geometry_os.plugins.input.bridge import combo_events, text_events


def _send(events_of: Callable[[dict[str, Any]], Sequence[api.KeyEvent]]) -> Callable[..., Any]:
    def run(shell: api.ShellView, request: dict[str, Any]) -> concurrent.futures.Future[dict[str, Any]]:
        events = events_of(request)  # ValueError: refused before anything is sent
        tile = shell.find_tile(str(request.get("tile", "")))
        keyboard = tile.source.capabilities.keyboard if tile.source is not None else None
        if keyboard is None:
            raise ValueError(f"tile {tile.name} does not take keyboard input")
        answer: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()

        def delivered(sent: concurrent.futures.Future[None]) -> None:
            error = sent.exception()
            if error is not None:
                answer.set_exception(ValueError(f"tile {tile.name}: {error}"))
            else:
                answer.set_result({"ok": True})

        keyboard.send_keys(events).add_done_callback(delivered)
        return answer

    return run


OPS = [
    api.ControlOp("type", "type text into a tile's VM (US layout)",
                  _send(lambda request: text_events(str(request.get("text", ""))))),
    api.ControlOp("keys", "send a key combination (ctrl-alt-del...) to a tile's VM",
                  _send(lambda request: combo_events(str(request.get("combo", ""))))),
]
