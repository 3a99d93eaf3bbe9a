"""The running map: one scene, its window, its tiles, layers and input sinks.

(Over 400 lines for a reason: most of it is the ShellView members, one-line
delegations to the parts below, kept together so the protocol reads as one class.)

The shell composes the engine's parts — :class:`~geometry_os.tileset.TileSet` (tiles
and their sources), :class:`~geometry_os.frame_path.FramePath` (mailbox -> streaming ->
texture), :class:`~geometry_os.programs.ProgramRegistry` (shared shaders, hot reload),
:class:`~geometry_os.pacing.FramePacer` (when to draw) and the control socket
(:mod:`geometry_os.control`) — and is what plugins see, through the
:class:`~geometry_os.view.ShellView` protocol it implements.

Threads: the main thread owns pyglet, the GL context and every tile's texture.  Frame
sources publish from their own threads into their tile's mailbox; a publish wakes the
main loop through ``post_event`` (thread-safe), which uploads the dirty rectangles at
once.  Per frame the shell calls plugin objects directly (layers' ``draw``, sinks'
``on_*``), never through pluggy; a raising object is reported to the plugin host,
which disables its plugin after repeated failures, and the map keeps running.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import numpy as np

from geometry_os import heap, rundir
from geometry_os.camera import Camera, bounds
from geometry_os.control import ControlServer
from geometry_os.frame_path import FramePath
from geometry_os.pacing import FramePacer, FrameStats
from geometry_os.plugin_host import ACTIVE, PluginHost
from geometry_os.programs import ProgramRegistry
from geometry_os.registry import ActionType, Namespace
from geometry_os.render.effects import EffectChain, activate
from geometry_os.render.shaders import ReloadableProgram, ShaderSource
from geometry_os.render.target import RenderTarget
from geometry_os.resources import shaders_dir
from geometry_os.scene.model import Scene, TileSpec
from geometry_os.streaming import StreamingPolicy
from geometry_os.tiles import StateChange, Tile, TileState
from geometry_os.tileset import TileSet

log = logging.getLogger(__name__)
T = TypeVar("T")

_live_shells = 0  # shells of this process still running: the last one removes the runtime directory


@attrs.define
class RunOptions:
    headless: bool = False
    frames: int | None = None  # stop after this many frames
    screenshot: Path | None = None  # write the last frame here (PNG)
    dev: bool = True  # watch shader files and the scene for changes


class Shell:
    """One running scene.  Create with :func:`run_scene` (or :mod:`geometry_os.testing` in tests)."""

    def __init__(self, scene: Scene, host: PluginHost, window: Any, options: RunOptions) -> None:
        import pyglet

        from geometry_os.events import ShellEvents

        global _live_shells
        _live_shells += 1
        heap.limit_arenas()  # before the VMs' and plugins' threads start
        self.pyglet = pyglet
        self.scene = scene
        self.host = host
        self.registry = host.registry
        self.window = window
        self.options = options
        self._shaders_dir = shaders_dir()
        width, height = window.get_framebuffer_size()
        self._camera = Camera(width, height, scene.camera.x, scene.camera.y, scene.camera.zoom)
        self._target = RenderTarget(width, height)
        self.start_time = time.monotonic()
        self._time = 0.0
        self._frame_dt = 0.0
        self._stats = FrameStats()
        self._hud_visible = scene.window.hud
        self._focused: Tile | None = None
        self._broadcast: list[Tile] = []
        self.running = True
        self.exit_code = 0
        self.programs = ProgramRegistry()
        self.scene_errors: list[str] = []  # errors of the last scene edit that was not applied
        self._wake_pending = False
        self._events = ShellEvents()
        self._events.push_handlers(on_frames_ready=self._on_frames_ready, on_state_change=self._on_state_change,
                                   on_call=self._on_call)
        rundir.clean_stale()  # leftovers of shells that died without cleaning up
        self._runtime_dir = rundir.shell_runtime_dir()
        self._headless_clipboard = ""  # the clipboard of a shell without a window
        self.streaming = StreamingPolicy(scene.window.streaming, scene.window.fps)
        self.frame_path = FramePath(self.streaming)
        self.pacer = FramePacer(self.tick, lambda: float(self.scene.window.fps), self._finished,
                                self.streaming.draw_due, lambda now: self.streaming.idle_until(self, now))
        self.streaming.wake = self.pacer.wake
        self._tiles = TileSet(host, scene.directory, self._wake, self._state_from_any_thread)
        for spec in scene.tiles:
            self._tiles.add(spec)
        self.effects = activate(scene.effects, self.registry)
        self._tile_chain = EffectChain("tile", self.effects, on_change=self.redraw)
        self._screen_chain = EffectChain("screen", self.effects, on_change=self.redraw)
        self.programs.watched += [self._tile_chain, self._screen_chain]  # effects' files: hot reload
        self.layers = self._instantiate(self.registry.layers, key=lambda t: t.order)
        self.sinks = self._instantiate(self.registry.input_sinks, key=lambda t: -t.priority)
        self.control: ControlServer | None = None
        if scene.camera.fit:
            self.fit_all(animate=False)
        if options.dev and scene.path is not None:
            from geometry_os.scene_reload import SceneWatcher

            self.programs.watched.append(SceneWatcher(self))

    # ------------------------------------------------------------------ set-up
    def _instantiate(self, namespace: Namespace[Any], key: Callable[[Any], Any]) -> list[tuple[str, Any]]:
        made = []
        for kind in sorted(namespace, key=key):
            plugin = namespace.owner(kind.name) or "?"
            try:
                made.append((plugin, kind.factory(self)))
            except Exception as exc:  # a broken plugin object must not stop the shell
                self.host.report_failure(plugin, f"{namespace.kind} {kind.name}", exc)
        return made

    # -------------------------------------------------------- cross-thread wake
    def _wake(self) -> None:
        """Called by sources from any thread: wake the main loop once per batch."""
        if not self._wake_pending:
            self._wake_pending = True
            self.pyglet.app.platform_event_loop.post_event(self._events, "on_frames_ready")

    def _state_from_any_thread(self, change: StateChange) -> None:
        self.pyglet.app.platform_event_loop.post_event(self._events, "on_state_change", change)

    def call_soon(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run ``fn`` on the main loop (from any thread); the future gets its result."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.pyglet.app.platform_event_loop.post_event(self._events, "on_call", fn, future)
        return future

    def _on_call(self, fn: Callable[[], Any], future: concurrent.futures.Future[Any]) -> None:
        self.pacer.wake()  # a request may move the camera or change tiles: tick at the frame rate
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except Exception as exc:  # handed to the caller, who reports it
            future.set_exception(exc)

    def _on_frames_ready(self) -> None:
        self._wake_pending = False
        self.pump_frames()
        self.pacer.draw_now()

    def _on_state_change(self, change: StateChange) -> None:
        self.pacer.wake()  # the tile's badge changes
        self.host.tile_state_changed(self, change)

    def pump_frames(self) -> None:
        """Upload the frames that are due into the tiles' textures (engine/frame_path.py)."""
        self.window.switch_to()
        self.frame_path.upload(self._tiles, self._camera, self._focused, whole_images=bool(self._tile_chain.effects))

    # ---------------------------------------------------------------- the loop
    def start(self) -> None:
        self._tiles.start_all()
        self.control = ControlServer(self, self.registry.control_ops, self._report_op)
        self.host.scene_loaded(self, self.scene)

    def _report_op(self, op: str, where: str, exc: BaseException) -> None:
        self.host.report_failure(self.registry.control_ops.owner(op) or "?", where, exc)

    def tick(self, dt: float = 0.0) -> None:
        """Draw one frame into the offscreen target and present it."""
        started = time.monotonic()
        self._time = started - self.start_time
        if self.options.dev:
            self.programs.poll()
        self._frame_dt = dt if dt > 0 else 1.0 / self.scene.window.fps
        self._camera.update(self._frame_dt)
        self._tiles.update_stats(started)
        self.pump_frames()
        if not self.streaming.frame_needed(self, started):
            return  # nothing on screen changed (zoom-aware streaming: engine/streaming.py)
        self.window.switch_to()
        self._target.bind()
        gl = self.pyglet.gl
        region = self.streaming.region  # only tile pixels changed: redraw just around them
        if region is not None:
            gl.glEnable(gl.GL_SCISSOR_TEST)
            gl.glScissor(*region)
        gl.glClearColor(0.08, 0.09, 0.11, 1.0)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT)
        gl.glEnable(gl.GL_BLEND)
        gl.glBlendFunc(gl.GL_SRC_ALPHA, gl.GL_ONE_MINUS_SRC_ALPHA)
        for plugin, layer in list(self.layers):
            self._guarded(plugin, "draw", layer.draw)
        gl.glDisable(gl.GL_SCISSOR_TEST)
        if not self.options.headless:
            width, height = self.window.get_framebuffer_size()
            self._target.blit_to_default(width, height)
            self.window.flip()
        self._stats.tick(time.monotonic(), time.monotonic() - started)

    def _finished(self) -> bool:
        return not self.running or (self.options.frames is not None and self._stats.frames >= self.options.frames)

    def run_until_closed(self) -> None:
        self.pacer.run()

    def set_effect_param(self, effect: str, name: str, value: Any) -> None:
        """Change an effect parameter at run time (visible on the next frame).  ``effect`` is a
        type name (its first entry in the scene) or ``name#N`` (its N-th entry).

        Raises :class:`geometry_os.render.effects.ParamError` for an unknown effect or
        parameter, a wrong type or a value out of range.
        """
        from geometry_os.render.effects import find_effect, set_param

        set_param(find_effect(self.effects, effect), name, value)

    def _guarded(self, plugin: str, where: str, call: Callable[[], Any]) -> Any:
        """Call into a plugin object; on error report it and drop the plugin's objects if disabled."""
        ok, value = self.host.call(plugin, where, call)
        info = self.host.infos.get(plugin)
        if not ok and info is not None and info.status != ACTIVE:
            self.layers = [(p, layer) for p, layer in self.layers if p != plugin]
            self.sinks = [(p, sink) for p, sink in self.sinks if p != plugin]
        return value

    def dispatch_input(self, event: str, *args: Any) -> bool:
        """Offer an input event to the sinks, highest priority first, until one consumes it."""
        self.streaming.poke()
        for plugin, sink in list(self.sinks):
            handler = getattr(sink, event, None)  # sinks implement the events they care about
            if handler is not None and self._guarded(plugin, event, lambda h=handler: h(*args)):
                return True
        return False

    # ------------------------------------------------ ShellView: the map
    @property
    def camera(self) -> Camera:
        return self._camera

    @property
    def tiles(self) -> Sequence[Tile]:
        return self._tiles

    @property
    def focused(self) -> Tile | None:
        return self._focused

    def fit_all(self, animate: bool = True) -> None:
        rect = bounds(tile.footprint for tile in self._tiles)
        if rect is None:
            return
        if animate:
            self._camera.fly_to(rect)
        else:
            self._camera.set(*self._camera.fit_target(rect))

    def fly_to_tile(self, index: int) -> None:
        if 0 <= index < len(self._tiles):
            self._camera.fly_to(self._tiles[index].footprint)
            self.focus(self._tiles[index])

    def tile_at(self, sx: float, sy: float) -> Tile | None:
        return self._tiles.at(self._camera, sx, sy)

    def find_tile(self, name: str) -> Tile:
        return self._tiles.find(name)

    def add_tile(self, spec: TileSpec) -> Tile:
        """Put a new tile on the map and start its source (ValueError: its id is taken)."""
        tile = self._tiles.add(spec)
        if tile.source is not None:
            tile.ctx.report_state(TileState.BOOTING)
            self.host.call(self._tiles.owner_of(spec), f"starting {tile.name}", tile.source.start)
        self.streaming.poke()
        return tile

    def remove_tile(self, tile: Tile) -> concurrent.futures.Future[Any]:
        """Take a tile off the map; its source stops in the background (the future says when)."""
        if tile is self._focused:
            self.focus(None)
        if tile in self._broadcast:
            self._broadcast.remove(tile)
        self.window.switch_to()
        self.frame_path.forget(tile)
        stopped = self._tiles.remove(tile)
        self.streaming.poke()
        return stopped

    def place_tile(self, tile: Tile, position: tuple[float, float], size: tuple[float, float]) -> None:
        """Move and resize a tile (its spec changes, so saving the scene keeps it)."""
        numbers = (*position, *size)
        if not all(math.isfinite(n) for n in numbers) or size[0] <= 0 or size[1] <= 0:
            raise ValueError(f"tile {tile.name}: position {list(position)} and size {list(size)} "
                             "must be finite numbers, the size positive")
        tile.spec = attrs.evolve(tile.spec, position=(float(position[0]), float(position[1])),
                                 size=(float(size[0]), float(size[1])))
        self._camera.version += 1  # what is on screen moved: layers re-place what they cache by it
        self.streaming.poke()

    def tile_spec(self, entry: Mapping[str, Any]) -> TileSpec:
        from geometry_os.scene.save import spec_from_entry

        return spec_from_entry(entry, self.registry, self.scene.directory)

    def save_scene(self, path: Path | None = None) -> Path:
        """Write the map's tiles back into the scene file (or ``path``); where it went."""
        from geometry_os.scene.save import save_scene

        written = save_scene(self.scene, [(tile.name, tile.spec) for tile in self._tiles], path)
        original = self.scene.path
        self.scene = attrs.evolve(self.scene, tiles=[tile.spec for tile in self._tiles])
        object.__setattr__(self.scene, "path", written)
        if not self.options.headless and original is not None and written.resolve() != original.resolve():
            self.window.set_caption(f"{self.scene.window.title} - {written}")
        return written

    @property
    def broadcast(self) -> Sequence[Tile]:
        return tuple(self._broadcast)

    def broadcast_to(self, tiles: Sequence[Tile]) -> None:
        """Keys typed go to every tile of ``tiles``; the first has the focus (and the pointer)."""
        group = list(tiles)
        self.focus(None)  # the keys held in the VMs typed into so far are released
        self.focus(group[0] if group else None)
        self._broadcast = group if len(group) > 1 else []
        if self._broadcast:
            log.info("broadcast typing: %s", ", ".join(tile.name for tile in group))

    def clipboard_text(self) -> str:
        return self._headless_clipboard if self.options.headless else str(self.window.get_clipboard_text())

    def set_clipboard_text(self, text: str) -> None:
        if self.options.headless:
            self._headless_clipboard = text
        else:
            self.window.set_clipboard_text(text)

    @property
    def actions(self) -> Sequence[ActionType]:
        return list(self.registry.actions)

    def focus(self, tile: Tile | None) -> None:
        """Focus ``tile`` (None: the map); sinks with ``on_focus_changed`` are told.  Broadcast
        typing ends (after the sinks were told, so they release keys in every tile that had them)."""
        if tile is not self._focused:
            log.info("focus: %s", tile.name if tile else "map")
            old, self._focused = self._focused, tile
            for plugin, sink in list(self.sinks):
                handler = getattr(sink, "on_focus_changed", None)
                if handler is not None:
                    self._guarded(plugin, "on_focus_changed", lambda h=handler: h(old, tile))
            self._broadcast = []

    # ------------------------------------------------ ShellView: the frame
    @property
    def time(self) -> float:
        return self._time

    @property
    def frame_dt(self) -> float:
        return self._frame_dt

    @property
    def stats(self) -> FrameStats:
        return self._stats

    @property
    def hud_visible(self) -> bool:
        return self._hud_visible

    @hud_visible.setter
    def hud_visible(self, visible: bool) -> None:
        self._hud_visible = visible

    @property
    def headless(self) -> bool:
        return self.options.headless

    @property
    def region_opaque(self) -> bool:
        return self.streaming.region_opaque

    def redraw(self) -> None:
        self.streaming.poke()

    def screen_matrix(self) -> tuple[float, ...]:
        """Screen pixels (top-left origin, y down) -> clip space, column-major."""
        w, h = self._camera.width, self._camera.height
        return (2 / w, 0, 0, 0, 0, -2 / h, 0, 0, 0, 0, 1, 0, -1, 1, 0, 1)

    @property
    def target(self) -> RenderTarget:
        return self._target

    @property
    def tile_chain(self) -> EffectChain:
        return self._tile_chain

    @property
    def screen_chain(self) -> EffectChain:
        return self._screen_chain

    @property
    def shaders_dir(self) -> Path:
        return self._shaders_dir

    def program(self, name: str, build: Callable[[], tuple[ShaderSource, ShaderSource]]) -> ReloadableProgram:
        return self.programs.get(name, build)

    def errors(self) -> list[str]:
        """Errors to show on screen: shaders that failed to reload, effects left out, a scene edit
        not applied."""
        return self.programs.errors() + self._tile_chain.errors() + self._screen_chain.errors() + self.scene_errors

    def screenshot(self) -> np.ndarray:
        """The last frame drawn, as an (h, w, 4) RGBA array."""
        self.window.switch_to()
        return self._target.read_rgba()

    # ------------------------------------------------ ShellView: the session
    def plugin_options(self, plugin: str) -> Any:
        return self.scene.plugins.options.get(plugin)

    @property
    def runtime_dir(self) -> Path:
        return self._runtime_dir

    def set_pointer_grab(self, grabbed: bool) -> None:
        if not self.options.headless:
            self.window.set_exclusive_mouse(grabbed)

    def toggle_fullscreen(self) -> None:
        if not self.options.headless:
            self.window.set_fullscreen(not self.window.fullscreen)

    def quit(self, code: int = 0) -> None:
        self.running = False
        self.exit_code = code

    def shutdown(self) -> None:
        """Tell plugins, stop every source, release the layers and the tiles' textures."""
        global _live_shells
        self.host.scene_closing(self, self.scene)
        if self.control is not None:
            self.control.close()
        self._tiles.stop_all()
        for plugin, layer in self.layers:
            release = getattr(layer, "delete", None)  # layers that hold GL objects release them
            if release is not None:
                self._guarded(plugin, "delete", release)
        self.window.switch_to()
        for tile in self._tiles:
            self.frame_path.forget(tile)
        _live_shells -= 1
        if _live_shells == 0:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)


def run_scene(scene: Scene, host: PluginHost, options: RunOptions) -> int:
    """Open the window, run the scene until it is closed (or N frames), clean up."""
    from geometry_os.events import connect_window_events
    from geometry_os.png import write_png
    from geometry_os.window import open_window, use_headless

    if options.headless:
        use_headless()
    try:
        window = open_window(scene, options.headless)
    except Exception as exc:  # no GL 3.3 here: one line, not a traceback
        log.error("cannot open a window: %s", exc)
        return 1
    shell = Shell(scene, host, window, options)
    connect_window_events(shell)
    try:
        shell.start()
        shell.run_until_closed()
        if options.screenshot is not None:
            write_png(options.screenshot, shell.screenshot())
            log.info("screenshot written to %s", options.screenshot)
    finally:
        shell.shutdown()
        window.close()
    return shell.exit_code
