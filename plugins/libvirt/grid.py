"""Every domain of a libvirt connection as a tile: the ``connections`` option and ``geos run --libvirt``.

A :class:`DomainGrid` watches one connection (libvirt loop) and keeps the map in
step with its domains (main thread): when the connection opens, and after each
lifecycle event that may add or remove a domain (defined, undefined, and started
or stopped for transient domains, which exist only while they run), it lists the
domains and adds a tile for each new one and removes the tile of each that is gone.
Tiles go into a :class:`GridLayout` shared by all grids of the scene: rows of
``columns`` cells below the scene's own tiles, a freed cell reused by the next
domain.  Each tile is an ordinary ``libvirt`` source (:class:`~.params.LibvirtParams`)
keyed by the domain's UUID, titled with its name (and host, when remote).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from geometry_os import api

from . import connection as connections
from . import loop
from .connection import OPEN, Connection, DomainEvent, Status
from .errors import LibvirtFailure
from .params import LibvirtParams

log = logging.getLogger(__name__)

TILE_SIZE = (640.0, 480.0)  # world units of a grid cell's image area
GAP = 48.0  # world units between cells (the title bar sits in it)
BADGE_ROOM = 72.0  # world units under each row for the tiles' badges (a SPICE one takes three lines)
_MEMBERSHIP_EVENTS = {connections.DEFINED, connections.UNDEFINED, connections.STARTED, connections.STOPPED}


class GridLayout:
    """Cells in rows of ``columns``, starting at ``origin`` (the top-left of the first image)."""

    def __init__(self, columns: int, origin: tuple[float, float]) -> None:
        self.columns = columns
        self.origin = origin
        self._taken: set[int] = set()

    @classmethod
    def below(cls, tiles: list[api.Tile], columns: int) -> GridLayout:
        """A layout below every tile already on the map (at the origin on an empty map)."""
        if not tiles:
            return cls(columns, (0.0, 0.0))
        left = min(tile.footprint.x for tile in tiles)
        bottom = max(tile.footprint.y + tile.footprint.h for tile in tiles)
        return cls(columns, (left, bottom + GAP + BADGE_ROOM + api.TITLE_BAR_HEIGHT))

    def take(self) -> int:
        cell = 0
        while cell in self._taken:
            cell += 1
        self._taken.add(cell)
        return cell

    def free(self, cell: int) -> None:
        self._taken.discard(cell)

    def position(self, cell: int) -> tuple[float, float]:
        row, column = divmod(cell, self.columns)
        width, height = TILE_SIZE
        return (self.origin[0] + column * (width + GAP),
                self.origin[1] + row * (height + GAP + BADGE_ROOM + api.TITLE_BAR_HEIGHT))


class DomainGrid:
    """The domains of ``uri`` kept on the map as tiles; see the module docstring."""

    def __init__(self, shell: api.ShellView, uri: str, layout: GridLayout, graphics: str,
                 on_first: Callable[[], None]) -> None:
        self.shell = shell
        self.uri = uri
        self.layout = layout
        self.graphics = graphics
        self.status = Status(connections.CONNECTING, f"connecting to {uri}")
        self.domains = 0  # how many the last listing found
        self._on_first = on_first  # called (main thread) after the first listing was applied
        self._listed_once = False
        self._cells: dict[str, tuple[api.Tile, int]] = {}  # uuid -> its tile and cell (main thread)
        self._connection: Connection | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._again = False

    # ------------------------------------------------------------- libvirt loop
    def start(self) -> None:
        loop.call_soon(self._start)

    def _start(self) -> None:
        self._connection = connections.acquire(self.uri)
        self._connection.watch(self)

    async def close(self) -> None:
        conn, self._connection = self._connection, None
        if self._sync_task is not None:
            self._sync_task.cancel()
        if conn is not None:
            conn.unwatch(self)
            await connections.release(conn)

    def connection_changed(self, status: Status) -> None:
        self.status = status
        if status.state == OPEN:
            self._sync()

    def domain_event(self, event: DomainEvent) -> None:
        if event.event in _MEMBERSHIP_EVENTS:
            self._sync()

    def _sync(self) -> None:
        self._again = True
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.get_running_loop().create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        while self._again:
            self._again = False
            conn = self._connection
            if conn is None or not conn.is_open:
                return
            try:
                domains: list[tuple[str, str]] = await conn.call(_list_domains, conn.conn)
            except LibvirtFailure as failure:
                log.warning("%s: listing domains failed: %s", self.uri, failure)
                return
            self.shell.call_soon(functools.partial(self._apply, domains, conn))

    # ------------------------------------------------------------- main thread
    def _apply(self, domains: list[tuple[str, str]], conn: Connection) -> None:
        """Add a tile for each new domain (by name), remove the tiles of domains that are gone."""
        self.domains = len(domains)
        present = {uuid for uuid, _ in domains}
        for uuid in [uuid for uuid in self._cells if uuid not in present]:
            tile, cell = self._cells.pop(uuid)
            self.layout.free(cell)
            if tile in self.shell.tiles:
                log.info("%s: domain %s is gone; removing its tile", self.uri, tile.title)
                self.shell.remove_tile(tile)
        for uuid, name in sorted(domains, key=lambda d: d[1]):
            if uuid not in self._cells:
                self._add(uuid, name, conn)
        if not self._listed_once:
            self._listed_once = True
            self._on_first()

    def _add(self, uuid: str, name: str, conn: Connection) -> None:
        label = f"{name}@{conn.parsed.label}" if conn.parsed.label else name
        taken = {tile.name for tile in self.shell.tiles}
        tile_id, n = label, 2
        while tile_id in taken:
            tile_id, n = f"{label}-{n}", n + 1
        cell = self.layout.take()
        spec = api.TileSpec(source=api.Typed("libvirt", LibvirtParams(domain=uuid, uri=self.uri,
                                                                      graphics=self.graphics)),
                            title=label, id=tile_id, position=self.layout.position(cell), size=TILE_SIZE)
        try:
            tile = self.shell.add_tile(spec)
        except ValueError as exc:
            self.layout.free(cell)
            log.warning("%s: no tile for %s: %s", self.uri, name, exc)
            return
        self._cells[uuid] = (tile, cell)
        log.info("%s: domain %s on the map as %s", self.uri, name, tile_id)

    @property
    def tiles(self) -> list[api.Tile]:
        return [tile for tile, _ in self._cells.values()]


def _list_domains(conn: Any) -> list[tuple[str, str]]:
    return [(dom.UUIDString(), dom.name()) for dom in conn.listAllDomains(0)]
