"""The libvirt plugin's part of one running map: its domain grids, and how big each libvirt tile is shown.

Made at ``scene_loaded``, closed at ``scene_closing``.  Twice a second while any
libvirt tile exists (a timer thread asking the main loop) it tells every libvirt tile
whether it is visible, focused and how many screen pixels a guest pixel covers, so a VNC display asks for fewer
updates for a small tile and none for a hidden one, and a screenshot display takes
fewer screenshots (:func:`~.display.update_interval`).
"""

from __future__ import annotations

import logging
import threading

from geometry_os import api

from . import loop
from .connection import LOST, Status
from .grid import DomainGrid, GridLayout
from .params import LibvirtOptions
from .source import LibvirtSource, any_started

log = logging.getLogger(__name__)

VIEW_PERIOD = 0.5  # seconds between two updates of the tiles' on-screen sizes
CLOSE_TIMEOUT = 5.0


class LibvirtMap:
    """Domain grids and view following for one shell."""

    def __init__(self, shell: api.ShellView, options: LibvirtOptions | None, fit: bool) -> None:
        self.shell = shell
        self.grids: list[DomainGrid] = []
        self._fit = fit
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._tick, name="libvirt-view", daemon=True)
        if options is not None and options.connections:
            layout = GridLayout.below(list(shell.tiles), options.columns)
            self.grids = [DomainGrid(shell, uri, layout, options.graphics, self._first_listing)
                          for uri in options.connections]

    def start(self) -> None:
        problem = loop.missing() if self.grids else None
        for grid in self.grids:
            if problem is None:
                grid.start()
            else:
                grid.status = Status(LOST, problem)
        self._timer.start()

    def _first_listing(self) -> None:
        """A grid put its first domains on the map: bring them into view, as a scene's tiles are."""
        if self._fit:
            self.shell.fit_all(animate=False)

    def close(self) -> None:
        self._stop.set()

        async def close_grids() -> None:
            for grid in self.grids:
                await grid.close()

        if self.grids:
            try:
                loop.submit(close_grids()).result(CLOSE_TIMEOUT)
            except Exception:
                log.exception("closing the libvirt grids failed")

    # ------------------------------------------------------------- view following
    def _tick(self) -> None:
        while not self._stop.wait(VIEW_PERIOD):
            if not any_started():  # no libvirt tile anywhere: leave the main loop alone
                continue
            try:
                self.shell.call_soon(self.follow_view)
            except RuntimeError:  # the shell is gone
                return

    def follow_view(self) -> None:
        """Tell each libvirt tile how it is shown now (main thread)."""
        camera = self.shell.camera
        view = camera.visible_world()
        focused = self.shell.focused
        for tile in self.shell.tiles:
            source = tile.source
            if not isinstance(source, LibvirtSource):
                continue
            fw, _ = tile.frame_size
            scale = tile.image_rect.w * camera.zoom / fw if fw else None
            shown = view.intersects(tile.footprint) and not tile.covered  # a card hides the image: fetch nothing
            source.set_view(shown, tile is focused, scale)
