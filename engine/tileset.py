"""The tiles of a running scene: creating their sources, finding them, starting and stopping them.

Sources are plugin objects, so every call into one goes through the plugin host's
isolation (:meth:`~geometry_os.plugin_host.PluginHost.call`): a source that raises is
reported against the plugin that registered its type, and the map keeps running.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from geometry_os import rundir
from geometry_os.camera import Camera
from geometry_os.frames import FrameMailbox
from geometry_os.plugin_host import PluginHost
from geometry_os.scene.model import TileSpec
from geometry_os.tiles import StateChange, Tile, TileContext, TileState

log = logging.getLogger(__name__)


class TileSet(Sequence[Tile]):
    """The scene's tiles in drawing order (last on top), and the calls into their sources."""

    def __init__(self, host: PluginHost, scene_dir: Path, wake: Callable[[], None],
                 on_state: Callable[[StateChange], None]) -> None:
        self.host = host
        self.scene_dir = scene_dir
        self._wake = wake
        self._on_state = on_state
        self._tiles: list[Tile] = []
        self._published: dict[str, int] = {}
        self._stats_at = 0.0  # the first update measures at once

    # ------------------------------------------------------------- the sequence
    def __getitem__(self, index: Any) -> Any:
        return self._tiles[index]

    def __len__(self) -> int:
        return len(self._tiles)

    def __iter__(self) -> Iterator[Tile]:
        return iter(self._tiles)

    # ----------------------------------------------------------------- making
    def add(self, spec: TileSpec) -> Tile:
        """Create the tile for ``spec`` (its source is created, not started).

        A tile without an ``id`` is named ``tile-N`` with N its position, or the next
        number no other tile uses (tiles added while the map runs).
        """
        index = len(self._tiles)
        name = spec.id or self._free_name(index)
        if any(tile.name == name for tile in self._tiles):
            raise ValueError(f"a tile named {name!r} is already on the map")
        ctx = TileContext(name=name, title=spec.title or name, scene_dir=self.scene_dir,
                          runtime_dir=rundir.tile_runtime_dir(name), mailbox=FrameMailbox())
        ctx.mailbox.on_ready = self._wake
        ctx.on_state = self._on_state
        source_type = self.host.registry.sources.get(spec.source.type)
        source = None
        if source_type is None:  # its plugin was disabled after the scene was loaded
            ctx.report_state(TileState.FAILED, f"source type {spec.source.type} is not installed")
        else:
            try:
                source = source_type.factory(ctx, spec.source.params)
            except Exception as exc:  # a broken plugin object must not stop the shell
                self.host.report_failure(self.owner_of(spec), f"creating source for {name}", exc)
                ctx.report_state(TileState.FAILED, f"source {spec.source.type} could not be created: {exc}")
        tile = Tile(index=index, spec=spec, ctx=ctx, source=source)
        self._tiles.append(tile)
        return tile

    def _free_name(self, index: int) -> str:
        taken = {tile.name for tile in self._tiles}
        while f"tile-{index}" in taken:
            index += 1
        return f"tile-{index}"

    def remove(self, tile: Tile) -> concurrent.futures.Future[Any]:
        """Take ``tile`` off the map and stop its source on a thread of its own (the future
        says when it stopped); the tiles after it move up one place."""
        self._tiles.remove(tile)
        for index, other in enumerate(self._tiles):
            other.index = index
        self._published.pop(tile.name, None)
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        source = tile.source
        if source is None:
            done.set_result(None)
            return done

        def stop() -> None:
            ok, _ = self.host.call(self.owner_of(tile.spec), f"stopping {tile.name}", source.stop)
            done.set_result(ok)

        threading.Thread(target=stop, name=f"geos-stop-{tile.name}", daemon=True).start()
        return done

    def owner_of(self, spec: TileSpec) -> str:
        return self.host.registry.sources.owner(spec.source.type) or "?"

    # ---------------------------------------------------------------- finding
    def find(self, name: str) -> Tile:
        """A tile by id, title or 1-based number; KeyError naming the tiles otherwise."""
        for tile in self._tiles:
            if name in (tile.name, tile.title, str(tile.index + 1)):
                return tile
        known = ", ".join(tile.name for tile in self._tiles) or "none"
        raise KeyError(f"no tile {name!r} (tiles: {known})")

    def at(self, camera: Camera, sx: float, sy: float) -> Tile | None:
        """The topmost tile under a screen point."""
        wx, wy = camera.screen_to_world(sx, sy)
        for tile in reversed(self._tiles):
            if tile.footprint.contains(wx, wy):
                return tile
        return None

    # -------------------------------------------------------------- lifecycle
    def start_all(self) -> None:
        for tile in self._tiles:
            source = tile.source
            if source is not None:
                tile.ctx.report_state(TileState.BOOTING)
                self.host.call(self.owner_of(tile.spec), f"starting {tile.name}", source.start)

    def stop_all(self) -> None:
        """Stop every source at once, each on its own thread.

        A VM with persistent disks is powered down through the guest (up to 10 s for
        QEMU tiles), and ten of them must not take ten times as long.  Off the main
        thread a slow stop is also not mistaken for a hang by the watchdog.
        """
        stopping = [tile for tile in self._tiles if tile.source is not None]
        with concurrent.futures.ThreadPoolExecutor(max(1, len(stopping)), thread_name_prefix="geos-stop") as pool:
            for tile in stopping:
                source = tile.source
                assert source is not None
                pool.submit(self.host.call, self.owner_of(tile.spec), f"stopping {tile.name}", source.stop)

    def update_stats(self, now: float) -> None:
        """Once a second: each tile's update rate, and its source's CPU load if it reports one."""
        if now - self._stats_at < 1.0:
            return
        elapsed = max(now - self._stats_at, 1e-3)
        self._stats_at = now
        for tile in self._tiles:
            published = tile.ctx.mailbox.published
            tile.update_rate = (published - self._published.get(tile.name, 0)) / elapsed
            self._published[tile.name] = published
            telemetry = tile.source.capabilities.telemetry if tile.source is not None else None
            if telemetry is not None:
                ok, values = self.host.call(self.owner_of(tile.spec), "telemetry", telemetry.telemetry)
                if ok and values:
                    tile.cpu_load = float(values.get("cpu_load", 0.0))
