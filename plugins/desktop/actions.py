"""The desktop's actions: what a tile's menu, the palette, shortcuts and ``geos vm`` can do.

Actions on machines use the tiles' ``lifecycle`` capability, so they work for any frame
source that declares it (QEMU tiles today).  Each returns a future when the work goes on
in the background; the desktop shows the transition on the badge meanwhile.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from geometry_os import api
from geometry_os.plugins.desktop import arrange
from geometry_os.plugins.desktop.desktop import desktop_of

State = api.TileState
LIVE = (State.BOOTING, State.RUNNING, State.PAUSED)
DUPLICATE_GAP = 40.0


def lifecycle_of(tile: api.Tile) -> api.Lifecycle | None:
    return tile.source.capabilities.lifecycle if tile.source is not None else None


def in_states(*states: api.TileState) -> Callable[[api.ShellView, Sequence[api.Tile]], bool]:
    """Applies to one or more machines, each in one of ``states``."""
    def applies(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
        return bool(tiles) and all(lifecycle_of(t) is not None and t.ctx.state in states for t in tiles)
    return applies


def all_of(futures: dict[str, concurrent.futures.Future[Any]]) -> concurrent.futures.Future[None]:
    """Done when every future is; fails with the first failure, naming its tile."""
    combined: concurrent.futures.Future[None] = concurrent.futures.Future()
    remaining = set(futures)
    if not remaining:
        combined.set_result(None)

    def one_done(name: str, future: concurrent.futures.Future[Any]) -> None:
        remaining.discard(name)
        if remaining or combined.done():
            return
        errors = [(n, f.exception()) for n, f in futures.items() if f.exception() is not None]
        if errors:
            name, error = errors[0]
            combined.set_exception(RuntimeError(f"{name}: {error}") if len(futures) > 1 else
                                   error or RuntimeError(name))
        else:
            combined.set_result(None)

    def watcher(name: str) -> Callable[[concurrent.futures.Future[Any]], None]:
        return lambda future: one_done(name, future)

    for name, future in list(futures.items()):
        future.add_done_callback(watcher(name))
    return combined


def on_each(call: Callable[[api.ShellView, api.Lifecycle], concurrent.futures.Future[Any]]) \
        -> Callable[[api.ShellView, Sequence[api.Tile]], concurrent.futures.Future[None]]:
    def run(shell: api.ShellView, tiles: Sequence[api.Tile]) -> concurrent.futures.Future[None]:
        futures = {}
        for tile in tiles:
            machine = lifecycle_of(tile)
            if machine is None:
                raise ValueError(f"tile {tile.name} is not a machine")
            futures[tile.name] = call(shell, machine)
        return all_of(futures)
    return run


def _titles(tiles: Sequence[api.Tile]) -> str:
    return ", ".join(f"'{tile.title}'" for tile in tiles)


def _persistent_and_live(tiles: Sequence[api.Tile]) -> list[api.Tile]:
    return [t for t in tiles if (m := lifecycle_of(t)) is not None and m.persistent and t.ctx.state in LIVE]


def _confirm_off(shell: api.ShellView, tiles: Sequence[api.Tile]) -> str | None:
    risky = _persistent_and_live(tiles)
    return (f"Force off {_titles(risky)}? It writes to its disks: pulling the plug can lose what the "
            "guest has not written yet.") if risky else None


def _confirm_close(shell: api.ShellView, tiles: Sequence[api.Tile]) -> str | None:
    risky = _persistent_and_live(tiles)
    return (f"Close {_titles(risky)}? Its VM is running and writes to its disks; it will be shut down "
            "and taken off the map.") if risky else None


def _powerdown(shell: api.ShellView, machine: api.Lifecycle) -> concurrent.futures.Future[Any]:
    return machine.powerdown(desktop_of(shell).options.powerdown_timeout)


# --------------------------------------------------------------- screenshots
def pictures_dir() -> Path:
    """The user's pictures folder: ``$XDG_PICTURES_DIR``, else ``~/Pictures``."""
    return Path(os.environ.get("XDG_PICTURES_DIR") or Path.home() / "Pictures")


def _has_picture(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return bool(tiles) and all(tile.ctx.mailbox.peek_pixels() is not None for tile in tiles)


def _screenshot(shell: api.ShellView, tiles: Sequence[api.Tile]) -> None:
    """Each tile's guest screen as a PNG at the guest's own resolution (not as drawn on the map)."""
    from PIL import Image

    folder = pictures_dir() / "geometry-os"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for tile in tiles:
        pixels = tile.ctx.mailbox.peek_pixels()
        if pixels is None:
            raise ValueError(f"tile {tile.name} has shown nothing yet")
        rgb = pixels[:, :, 2::-1].copy()  # BGRX -> RGB (a copy: the source keeps writing its buffer)
        path = folder / f"{re.sub(r'[^A-Za-z0-9._-]', '_', tile.name)}-{stamp}.png"
        Image.fromarray(rgb, "RGB").save(path)
        desktop_of(shell).say(f"Screenshot of {tile.title} ({rgb.shape[1]}x{rgb.shape[0]}): {path}")


# --------------------------------------------------------------------- tiles
def unique_id(shell: api.ShellView, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever no tile on the map is named."""
    taken = {tile.name for tile in shell.tiles}
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-") or "vm"
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _duplicate(shell: api.ShellView, tiles: Sequence[api.Tile]) -> None:
    """Another tile from each tile's scene entry, to its right."""
    for tile in tiles:
        (x, y), w = tile.spec.position, tile.spec.size[0]
        spec = attrs.evolve(tile.spec, id=unique_id(shell, tile.name), title=f"{tile.title} (copy)",
                            position=(x + w + DUPLICATE_GAP, y))
        added = shell.add_tile(spec)
        desktop_of(shell).say(f"{added.title}: started from {tile.title}'s scene entry")


def _close(shell: api.ShellView, tiles: Sequence[api.Tile]) -> concurrent.futures.Future[None]:
    return all_of({tile.name: shell.remove_tile(tile) for tile in list(tiles)})


def _arrange(shell: api.ShellView, tiles: Sequence[api.Tile]) -> None:
    layout = arrange.grid_layout([(t.rect.x, t.rect.y, t.rect.w, t.rect.h) for t in tiles])
    for tile, (x, y, w, h) in zip(tiles, layout, strict=True):
        shell.place_tile(tile, (x, y), (w, h))


def _several(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return len(tiles) >= 2


def _some(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return bool(tiles)


def _machines(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return bool(tiles) and all(lifecycle_of(tile) is not None for tile in tiles)


def _no_tiles(shell: api.ShellView, tiles: Sequence[api.Tile]) -> bool:
    return True


# ----------------------------------------------------------------- the map
def _save(shell: api.ShellView, tiles: Sequence[api.Tile]) -> None:
    desktop_of(shell).say(f"Scene saved to {shell.save_scene()}")


def _select_all(shell: api.ShellView, tiles: Sequence[api.Tile]) -> None:
    desktop_of(shell).select(list(shell.tiles))


def _new_vm(shell: api.ShellView, tiles: Sequence[api.Tile]) -> None:
    from geometry_os.plugins.desktop.overlay import ImagePicker

    desktop = desktop_of(shell)
    desktop.overlay = ImagePicker(desktop)
    shell.redraw()


MACHINE, TILE, MAP = "1 machine", "3 tile", "4 map"

ACTIONS = [
    api.ActionType("vm.pause", "Pause", on_each(lambda s, m: m.pause()), in_states(State.RUNNING, State.BOOTING),
                   shortcut="Pause", group=MACHINE),
    api.ActionType("vm.resume", "Resume", on_each(lambda s, m: m.resume()), in_states(State.PAUSED),
                   shortcut="Pause", group=MACHINE),
    api.ActionType("vm.reset", "Reset", on_each(lambda s, m: m.reset()), in_states(*LIVE),
                   shortcut="Ctrl+Shift+R", group=MACHINE),
    api.ActionType("vm.powerdown", "Power down", on_each(_powerdown), in_states(*LIVE),
                   shortcut="Ctrl+Shift+O", group=MACHINE),
    api.ActionType("vm.off", "Force off", on_each(lambda s, m: m.force_off()),
                   in_states(*LIVE, State.FAILED), confirm=_confirm_off, shortcut="Ctrl+Shift+K", group=MACHINE),
    api.ActionType("vm.restart", "Restart", on_each(lambda s, m: m.relaunch()), _machines,
                   shortcut="Ctrl+Shift+T", group=MACHINE),
    api.ActionType("vm.save", "Save state and stop", on_each(lambda s, m: m.save_and_stop()),
                   in_states(State.RUNNING, State.PAUSED), shortcut="Ctrl+Shift+H", group=MACHINE),
    api.ActionType("vm.screenshot", "Screenshot", _screenshot, _has_picture, shortcut="Print", group=TILE),
    api.ActionType("tile.duplicate", "Duplicate", _duplicate, _some, shortcut="Ctrl+Shift+D", group=TILE),
    api.ActionType("tile.close", "Close", _close, _some, confirm=_confirm_close, shortcut="Ctrl+Shift+W",
                   group=TILE),
    api.ActionType("tiles.arrange", "Arrange in a grid", _arrange, _several, shortcut="Ctrl+Shift+G", group=TILE),
    api.ActionType("tiles.select-all", "Select all tiles", _select_all, _no_tiles, shortcut="Ctrl+A", group=MAP),
    api.ActionType("map.save", "Save scene", _save, _no_tiles, shortcut="Ctrl+S", group=MAP),
    api.ActionType("map.new-vm", "New VM...", _new_vm, _no_tiles, shortcut="Ctrl+Shift+N", group=MAP),
]

#: ``geos vm VERB TILE``: the verb -> the action it runs.
VERBS = {"pause": "vm.pause", "resume": "vm.resume", "reset": "vm.reset", "powerdown": "vm.powerdown",
         "off": "vm.off", "restart": "vm.restart", "save": "vm.save"}
