"""Tile actions only libvirt domains have: start and reboot.

Pause, resume, reset, power down, force off, restart and save-and-stop are the
``lifecycle`` capability every VM tile declares, so the desktop's VM actions (tile
menu, palette, ``geos vm``) reach libvirt tiles too.  These two are libvirt's own:
"Start" for a stopped domain (restoring a managed save) and "Reboot", which asks
the guest.  Each runs on every selected libvirt tile it applies to; the future
fails with the first one-line reason.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

from geometry_os import api

from . import states
from .source import LibvirtSource

GROUP = "1 machine"  # with the desktop's VM actions


def _sources(tiles: Sequence[api.Tile], wanted: Callable[[LibvirtSource], bool]) -> list[LibvirtSource]:
    return [tile.source for tile in tiles if isinstance(tile.source, LibvirtSource) and wanted(tile.source)]


def _inactive(source: LibvirtSource) -> bool:
    return source.domain_state not in states.ACTIVE and source.domain_state != -1


def _active(source: LibvirtSource) -> bool:
    return source.domain_state in states.ACTIVE


def _all(futures: list[concurrent.futures.Future[Any]]) -> concurrent.futures.Future[None]:
    """Done when every future is; fails with the first failure."""
    done: concurrent.futures.Future[None] = concurrent.futures.Future()
    pending = len(futures)

    def one(future: concurrent.futures.Future[Any]) -> None:
        nonlocal pending
        pending -= 1
        error = future.exception()
        if error is not None and not done.done():
            done.set_exception(error)
        elif pending == 0 and not done.done():
            done.set_result(None)

    if not futures:
        done.set_result(None)
    for future in futures:
        future.add_done_callback(one)
    return done


def _action(name: str, label: str, call: Callable[[LibvirtSource], concurrent.futures.Future[Any]],
            wanted: Callable[[LibvirtSource], bool]) -> api.ActionType:
    def run(shell: api.ShellView, tiles: Sequence[api.Tile]) -> concurrent.futures.Future[None]:
        return _all([call(source) for source in _sources(tiles, wanted)])

    def applies(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
        return bool(_sources(tiles, wanted))

    return api.ActionType(name, label, run, applies=applies, group=GROUP)


def actions() -> list[api.ActionType]:
    return [
        _action("libvirt.start", "Start", LibvirtSource.start_domain, _inactive),
        _action("libvirt.reboot", "Reboot (ask the guest)", LibvirtSource.reboot, _active),
    ]
