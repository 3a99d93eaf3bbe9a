"""What plugins may use of the running shell: the :class:`ShellView` protocol.

Layers, input sinks, effects' ``per_tile`` functions, control operations and lifecycle
hooks receive a ``ShellView``, never the shell object itself.  Everything here is
main-thread only, except :meth:`ShellView.call_soon`, which is how other threads get
work onto the main loop.  The engine's :class:`~geometry_os.shell.Shell` implements it;
``tests/test_api.py`` checks that it does, member for member.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import numpy as np

    from geometry_os.camera import Camera
    from geometry_os.registry import ActionType
    from geometry_os.render.effects import EffectChain
    from geometry_os.render.shaders import ReloadableProgram, ShaderSource
    from geometry_os.render.target import RenderTarget
    from geometry_os.scene.model import TileSpec
    from geometry_os.tiles import Tile

T = TypeVar("T")


class FrameStatsView(Protocol):
    """Frame timing (smoothed), for a HUD."""

    @property
    def fps(self) -> float: ...

    @property
    def frame_ms(self) -> float: ...


class ShellView(Protocol):
    """The running map as plugins see it."""

    # ---------------------------------------------------------------- the map
    @property
    def camera(self) -> Camera:
        """World <-> screen mapping; also the one to move (pan, zoom, fly)."""

    @property
    def tiles(self) -> Sequence[Tile]:
        """Every tile, in drawing order (last on top)."""

    @property
    def focused(self) -> Tile | None:
        """The tile that has the keyboard, or None (the map has it)."""

    def focus(self, tile: Tile | None) -> None:
        """Give the keyboard to ``tile`` (None: the map); sinks get ``on_focus_changed``."""

    def fly_to_tile(self, index: int) -> None:
        """Animate the camera to tile ``index`` (0-based) and focus it."""

    def fit_all(self, animate: bool = True) -> None:
        """Bring every tile into view."""

    def tile_at(self, sx: float, sy: float) -> Tile | None:
        """The topmost tile under a screen point (top-left origin, y down)."""

    def find_tile(self, name: str) -> Tile:
        """A tile by id, title or 1-based number; KeyError naming the tiles otherwise."""

    def add_tile(self, spec: TileSpec) -> Tile:
        """Put a new tile on the map (drawn on top) and start its source; ValueError when
        ``spec.id`` names a tile already there."""

    def remove_tile(self, tile: Tile) -> concurrent.futures.Future[Any]:
        """Take ``tile`` off the map; its source stops in the background (the future is done then)."""

    def place_tile(self, tile: Tile, position: tuple[float, float], size: tuple[float, float]) -> None:
        """Move and resize ``tile`` (world units): its scene entry changes, so :meth:`save_scene` keeps it.
        ValueError for a size that is not positive or a number that is not finite."""

    def tile_spec(self, entry: Mapping[str, Any]) -> TileSpec:
        """A tile's scene entry (one item of a scene's ``tiles``, as plain data) checked as the scene
        loader checks a file's, relative paths against the scene's folder; ValueError listing the
        mistakes, ``path: reason`` each, on one line."""

    def save_scene(self, path: Path | None = None) -> Path:
        """Write the tiles as they are now (positions, sizes, tiles added and removed) into the scene
        file, or into ``path``; comments and everything untouched are kept.  A scene that cannot be
        written there (read-only, the shipped default) goes under the user's config directory, and
        the window title says so.  Returns where it was written; OSError when nowhere would do."""

    # ------------------------------------------------------------ the keyboard
    @property
    def broadcast(self) -> Sequence[Tile]:
        """The tiles that all receive typed keys (broadcast typing), the focused one first; empty
        when keys go to the focused tile only."""

    def broadcast_to(self, tiles: Sequence[Tile]) -> None:
        """Type into every tile of ``tiles`` at once: the first is focused, the others get the same
        keys.  Any later change of focus ends it."""

    def clipboard_text(self) -> str:
        """The text on the host's clipboard ('' when there is none; headless: what
        :meth:`set_clipboard_text` put there)."""

    def set_clipboard_text(self, text: str) -> None:
        """Put ``text`` on the host's clipboard (headless: on the shell's own)."""

    @property
    def actions(self) -> Sequence[ActionType]:
        """Every action the plugins registered (``register_actions``): what menus and the palette offer."""

    # --------------------------------------------------------------- the frame
    @property
    def time(self) -> float:
        """Seconds since the shell started (animation clock)."""

    @property
    def frame_dt(self) -> float:
        """Seconds the current frame advances animations by."""

    @property
    def stats(self) -> FrameStatsView:
        """Frame rate and frame time."""

    @property
    def headless(self) -> bool:
        """True when drawing offscreen (no window, no pointer grab)."""

    hud_visible: bool
    """Whether the HUD is shown (H toggles it)."""

    @property
    def region_opaque(self) -> bool:
        """This frame only redraws pixels inside one opaque tile image: layers under the tiles may skip."""

    def redraw(self) -> None:
        """Something a layer draws changed by itself: draw the whole map on the next frame."""

    def screen_matrix(self) -> tuple[float, ...]:
        """Screen pixels (top-left origin, y down) -> clip space, column-major."""

    @property
    def target(self) -> RenderTarget:
        """The offscreen target this frame is drawn into (screen passes read it)."""

    @property
    def tile_chain(self) -> EffectChain:
        """The scene's tile-stage effects."""

    @property
    def screen_chain(self) -> EffectChain:
        """The scene's screen-stage effects."""

    @property
    def shaders_dir(self) -> Path:
        """The engine's GLSL folder (``tile_uniforms.glsl``, ``screen.vert`` ...)."""

    def program(self, name: str, build: Callable[[], tuple[ShaderSource, ShaderSource]]) -> ReloadableProgram:
        """The shared shader program ``name``, built once and hot-reloaded in development mode."""

    def errors(self) -> list[str]:
        """Error lines to show on screen (shaders, effects left out, a scene edit not applied)."""

    def screenshot(self) -> np.ndarray:
        """The last frame drawn, as an (h, w, 4) RGBA array."""

    # ----------------------------------------------------------- the session
    def plugin_options(self, plugin: str) -> Any:
        """The scene's structured ``plugins.options.<plugin>`` (None when the scene gives none)."""

    @property
    def runtime_dir(self) -> Path:
        """This shell's private 0700 directory (sockets, logs); removed at exit."""

    def set_pointer_grab(self, grabbed: bool) -> None:
        """Confine and hide the host pointer (for guests with a relative mouse)."""

    def toggle_fullscreen(self) -> None: ...

    def quit(self, code: int = 0) -> None:
        """Close the shell after this frame; ``code`` is the exit status."""

    def call_soon(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run ``fn`` on the main loop (from any thread); the future gets its result."""
