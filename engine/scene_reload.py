"""Development mode: re-read the scene file when it changes and apply what can be applied.

Applied live: effects (list, order and params), tile titles, positions and sizes,
the frame rate.  Not applied (a warning says so): tiles added, removed or given a
different source — those need a restart, since a running VM cannot be re-created
silently.  An invalid edit is reported (on screen and in the log) and the running
scene is kept.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import attrs

from geometry_os.scene import SceneError, load_scene

log = logging.getLogger(__name__)


class SceneWatcher:
    """A reloadable (``poll()``) that follows the scene file of a shell."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.path = shell.scene.path
        self._stamp = self._read_stamp()

    def _read_stamp(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
            return stat.st_mtime_ns, stat.st_size
        except OSError:
            return None

    def poll(self) -> bool:
        stamp = self._read_stamp()
        if stamp == self._stamp or stamp is None:
            return False
        self._stamp = stamp
        try:
            scene = load_scene(self.path, self.shell.host)
        except SceneError as exc:
            if exc.lines != self.shell.scene_errors:
                log.error("scene edit not applied:\n%s", "\n".join(exc.lines))
            self.shell.scene_errors = exc.lines
            return True
        self.shell.scene_errors = []
        apply_scene(self.shell, scene)
        return True


def apply_scene(shell: Any, scene: Any) -> None:
    """Bring the running shell in line with ``scene`` where that is possible live."""
    from geometry_os.render.effects import activate

    old = shell.scene
    if [t.source for t in scene.tiles] != [t.source for t in old.tiles] or scene.tile_names() != old.tile_names():
        log.warning("scene edit: tiles added, removed or with a new source need a restart; "
                    "applying titles, positions, sizes and effects only")
    for tile, spec in zip(shell.tiles, scene.tiles):  # noqa: B905 - extra tiles need a restart (warned above)
        if spec.source == tile.spec.source:
            tile.spec = spec
            tile.ctx.title = spec.title or tile.name
    new_effects = activate(scene.effects, shell.registry)
    if [e.name for e in new_effects] != [e.name for e in shell.effects]:
        shell.effects = new_effects
        shell.tile_chain.replace(new_effects)
        shell.screen_chain.replace(new_effects)
    else:
        for current, new in zip(shell.effects, new_effects, strict=True):
            current.params = new.params
    shell.scene = attrs.evolve(scene, tiles=[t.spec for t in shell.tiles])
    object.__setattr__(shell.scene, "path", scene.path)
    log.info("scene %s reloaded", scene.path)
