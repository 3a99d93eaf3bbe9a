"""One map's desktop state: the selection, the overlay that is open, messages, actions in flight.

The layer, both input sinks, the actions and the control operations of one shell share
one :class:`Desktop` (:func:`desktop_of`).  Everything here runs on the main loop;
futures of actions complete on other threads and come back through ``call_soon``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pyglet

from geometry_os import api

log = logging.getLogger(__name__)

MESSAGE_SECONDS = 8.0
MAX_MESSAGES = 4

#: What a tile's badge says while an action on it is under way.
TRANSITIONS = {
    "vm.pause": "pausing", "vm.resume": "resuming", "vm.reset": "resetting", "vm.powerdown": "powering down",
    "vm.off": "forcing off", "vm.restart": "restarting", "vm.save": "saving state", "tile.close": "closing",
}


@attrs.define(frozen=True)
class DesktopOptions:
    """Options of the desktop plugin (``plugins.options.desktop`` in a scene)."""

    powerdown_timeout: float = api.setting(20.0, doc="seconds a VM may take to shut down after 'Power down' "
                                           "(the ACPI power button) before it is forced off", min=1.0, max=600.0)
    new_vm_memory: int = api.setting(512, doc="guest RAM in MiB of a VM started from a dropped file, "
                                     "'geos add' or 'New VM'", min=16, max=1048576)
    new_vm_network: bool = api.setting(True, doc="whether such a VM gets a user-mode network card")
    cards_below: float = api.setting(96.0, doc="semantic zoom: a tile drawn narrower than this many screen pixels "
                                     "is a card (title, state, CPU sparkline, activity glow) and its screen is not "
                                     "uploaded at all", min=0.0, max=100000.0)
    images_above: float = api.setting(144.0, doc="a tile drawn at least this many screen pixels wide shows only its "
                                      "live image; between cards_below and this width card and image cross-fade "
                                      "(a value not above cards_below switches without a fade)",
                                      min=0.0, max=100000.0)


@attrs.define
class Message:
    text: str
    error: bool
    until: float


@attrs.define
class Pull:
    """A named image being installed for a new VM: drawn as a placeholder where the tile will be."""

    image: str
    position: tuple[float, float]
    size: tuple[float, float]
    progress: str = "starting"


class Desktop:
    """The desktop of one running map."""

    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.options: DesktopOptions = shell.plugin_options("desktop") or DesktopOptions()
        self._selection: list[api.Tile] = []
        self.overlay: Any = None  # the open menu, palette or question (overlay.py), or None
        self.messages: list[Message] = []
        self.pending: dict[str, str] = {}  # tile name -> what its badge says while an action runs
        self.pulls: list[Pull] = []
        self.band: tuple[float, float, float, float] | None = None  # rubber band, screen x0, y0, x1, y1

    # -------------------------------------------------------------- selection
    @property
    def selection(self) -> list[api.Tile]:
        """The selected tiles still on the map, in drawing order."""
        on_map = list(self.shell.tiles)
        self._selection = [tile for tile in on_map if tile in self._selection]
        return list(self._selection)

    def select(self, tiles: Sequence[api.Tile]) -> None:
        self._selection = list(tiles)
        self.shell.redraw()

    def toggle(self, tile: api.Tile) -> None:
        if tile in self._selection:
            self._selection.remove(tile)
        else:
            self._selection.append(tile)
        self.shell.redraw()

    # --------------------------------------------------------------- messages
    def say(self, text: str, error: bool = False) -> None:
        """Show a message in the window's corner for a while (and log it)."""
        (log.error if error else log.info)("%s", text)
        self.messages = [*self.messages[-(MAX_MESSAGES - 1):], Message(text, error, time.monotonic() + MESSAGE_SECONDS)]
        self.shell.redraw()
        pyglet.clock.schedule_once(lambda dt: self.shell.redraw(), MESSAGE_SECONDS + 0.1)  # draw it gone

    def current_messages(self) -> list[Message]:
        now = time.monotonic()
        if any(message.until <= now for message in self.messages):
            self.messages = [message for message in self.messages if message.until > now]
            self.shell.redraw()
        return self.messages

    # ---------------------------------------------------------------- actions
    def applicable(self, tiles: Sequence[api.Tile]) -> list[api.ActionType]:
        """The actions offered for ``tiles`` now (map-wide ones too), menu order."""
        offered = [action for action in self.shell.actions if self._applies(action, tiles)]
        return sorted(offered, key=lambda action: action.group)

    def tile_actions(self, tiles: Sequence[api.Tile]) -> list[api.ActionType]:
        """What a tile's menu offers: actions that need tiles and apply to these."""
        return [action for action in self.applicable(tiles) if not self._applies(action, ())]

    def _applies(self, action: api.ActionType, tiles: Sequence[api.Tile]) -> bool:
        try:
            return bool(action.applies(self.shell, tiles))
        except Exception:  # a broken plugin action must not break the menu
            log.exception("action %s: applies() failed", action.name)
            return False

    def request(self, action: api.ActionType, tiles: Sequence[api.Tile]) -> None:
        """Run ``action`` as a person asked for it: ask first when it says so."""
        question = action.confirm(self.shell, tiles) if action.confirm is not None else None
        if question:
            from geometry_os.plugins.desktop.overlay import Question

            log.info("asking: %s", question)
            self.overlay = Question(question, lambda: self.perform(action, tiles))
            self.shell.redraw()
            return
        self.perform(action, tiles)

    def perform(self, action: api.ActionType, tiles: Sequence[api.Tile],
                done: Callable[[BaseException | None], None] | None = None) -> None:
        """Run ``action`` on ``tiles``; while its future runs their badges say so, and a failure
        is shown.  ``done(error)`` is called on the main loop when it finished."""
        log.info("action %s on %s", action.name, ", ".join(t.name for t in tiles) or "the map")
        try:
            result = action.run(self.shell, tiles)
        except (ValueError, KeyError, OSError, RuntimeError) as exc:
            self.say(f"{action.label}: {_one_line(exc)}", error=True)
            if done is not None:
                done(exc)
            return
        if not isinstance(result, concurrent.futures.Future):
            if done is not None:
                done(None)
            return
        transition = TRANSITIONS.get(action.name)
        if transition is not None:
            for tile in tiles:
                self.pending[tile.name] = transition
            self.shell.redraw()

        def finished(future: concurrent.futures.Future[Any]) -> None:
            def on_main() -> None:
                for tile in tiles:
                    if self.pending.get(tile.name) == transition:
                        del self.pending[tile.name]
                error = future.exception()
                if error is not None:
                    self.say(f"{action.label}: {_one_line(error)}", error=True)
                if done is not None:
                    done(error)
                self.shell.redraw()

            self.shell.call_soon(on_main)

        result.add_done_callback(finished)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


_DESKTOPS: weakref.WeakKeyDictionary[Any, Desktop] = weakref.WeakKeyDictionary()


def desktop_of(shell: api.ShellView) -> Desktop:
    """The desktop of ``shell`` (made on first use)."""
    desktop = _DESKTOPS.get(shell)
    if desktop is None:
        desktop = _DESKTOPS[shell] = Desktop(shell)
    return desktop
