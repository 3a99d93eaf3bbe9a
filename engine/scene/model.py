"""What a scene file holds, as attrs classes.  docs/scenes.md is generated from here.

Every field is a :func:`geometry_os.settings.setting`: its ``doc`` is the reference text,
``min``/``max``/``choices`` are enforced when the scene is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from geometry_os.scene.structure import DISPATCH, Typed
from geometry_os.settings import setting


@attrs.define(frozen=True)
class WindowSettings:
    """The shell's window."""

    title: str = setting("Geometry OS", doc="Window title.")
    width: int = setting(1280, doc="Window width in pixels.", min=320, max=16384)
    height: int = setting(720, doc="Window height in pixels.", min=240, max=16384)
    fullscreen: bool = setting(False, doc="Start fullscreen (F11 toggles).")
    fps: int = setting(60, doc="Target frame rate; frames are paced against an absolute deadline.", min=1, max=144)
    hud: bool = setting(False, doc="Show the HUD (FPS, frame time, per-tile update rate) at start (H toggles).")
    streaming: bool = setting(
        True, doc="Zoom-aware streaming: tiles drawn smaller than their guest screen upload less often, tiles "
                  "out of view not at all (they catch up when seen), and the map is redrawn only when something "
                  "changed. Off: every frame is uploaded and drawn at `fps` (see docs/performance.md).")


@attrs.define(frozen=True)
class CameraSettings:
    """Where the camera starts.  World units: one unit is one guest pixel at zoom 1."""

    x: float = setting(0.0, doc="World x at the centre of the window.")
    y: float = setting(0.0, doc="World y at the centre of the window (y grows downwards).")
    zoom: float = setting(1.0, doc="Screen pixels per world unit.", min=0.02, max=32.0)
    fit: bool = setting(True, doc="Start with every tile in view (ignores x, y and zoom).")


@attrs.define(frozen=True)
class TileSpec:
    """One tile on the map."""

    source: Typed = attrs.field(metadata={
        "geos.doc": "What the tile shows: a mapping with `type` (an installed source type, "
                    "see `geos plugins`) and that type's parameters.",
        DISPATCH: "sources"})
    title: str = setting("", doc="Title shown in the tile's title bar (default: the tile's id).")
    id: str | None = setting(None, doc="Unique name used by `geos type`, the API and logs (default: tile-N).")
    position: tuple[float, float] = setting((0.0, 0.0), doc="World position [x, y] of the tile's top-left corner.")
    size: tuple[float, float] = setting(
        (640.0, 480.0), doc="Size [width, height] in world units; the guest image keeps its aspect ratio inside.")
    offscreen: str = setting(
        "run", choices=["run", "pause"],
        doc="Time dilation: `pause` pauses the machine once it has been out of view for `offscreen_grace` seconds "
            "and resumes it as the view comes near it again; `run` (default) never pauses it. A machine that "
            "serves the network or others' disks should keep `run` (see docs/controls.md).")
    offscreen_grace: float = setting(
        10.0, doc="Seconds a tile with `offscreen: pause` may be out of view before it is paused.", min=0.0,
        max=86400.0)


@attrs.define(frozen=True)
class PluginSettings:
    """Plugins a scene brings along, and options for installed plugins."""

    load: list[str] = setting(factory=list, doc="Plugin files (.py) to load, relative to the scene file.",
                              must_exist=True)
    options: dict[str, Any] = setting(
        factory=dict, doc="Options per plugin name, validated by the plugin's options class.")


@attrs.define(frozen=True)
class Scene:
    """A whole scene file."""

    window: WindowSettings = setting(factory=WindowSettings, doc="The window (see below).")
    camera: CameraSettings = setting(factory=CameraSettings, doc="The camera's start (see below).")
    tiles: list[TileSpec] = setting(factory=list, doc="The tiles on the map, in drawing order.")
    effects: list[Typed] = attrs.field(factory=list, metadata={
        "geos.doc": "Post effects, applied in this order: each a mapping with `type` (an installed "
                    "effect) and its parameters.",
        DISPATCH: "effects"})
    plugins: PluginSettings = setting(factory=PluginSettings, doc="Plugin files and options (see below).")
    path: Path | None = attrs.field(default=None, init=False, eq=False)  # set by the loader

    @property
    def directory(self) -> Path:
        """Relative paths in the scene resolve against this folder."""
        return self.path.parent if self.path is not None else Path.cwd()

    def tile_names(self) -> list[str]:
        return [tile.id or f"tile-{index}" for index, tile in enumerate(self.tiles)]
