"""The running map: window, main loop, tiles, layers and input sinks.

Threads: the main thread owns pyglet, the GL context and every tile's texture.
Frame sources publish from their own threads into their tile's
:class:`~geometry_os.frames.FrameMailbox`; a publish wakes the main loop through
``post_event`` (thread-safe), which uploads the dirty rectangles at once.  Drawing is
paced against an absolute deadline (``schedule_interval`` drifts).

Per frame the shell calls plugin objects directly (layers' ``draw``, sinks'
``on_*``), never through pluggy; a raising object is reported to the plugin host,
which disables its plugin after repeated failures, and the map keeps running.
"""

from __future__ import annotations

import concurrent.futures
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import attrs

from geometry_os import rundir
from geometry_os.camera import Camera, bounds
from geometry_os.frames import FrameMailbox
from geometry_os.plugin_host import PluginHost
from geometry_os.resources import shaders_dir
from geometry_os.scene.model import Scene
from geometry_os.streaming import StreamingPolicy
from geometry_os.tiles import StateChange, Tile, TileContext, TileState

log = logging.getLogger(__name__)


@attrs.define
class RunOptions:
    headless: bool = False
    frames: int | None = None  # stop after this many frames
    screenshot: Path | None = None  # write the last frame here (PNG)
    dev: bool = True  # watch shader files and the scene for changes


@attrs.define
class FrameStats:
    """Frame timing for the HUD and benchmarks (exponentially smoothed)."""

    fps: float = 0.0
    frame_ms: float = 0.0
    frames: int = 0
    _last: float | None = None

    def tick(self, now: float, work_seconds: float) -> None:
        if self._last is not None:
            interval = now - self._last
            if interval > 0:
                self.fps = 1.0 / interval if self.fps == 0 else self.fps * 0.9 + 0.1 / interval
        self.frame_ms = work_seconds * 1000 if self.frame_ms == 0 else self.frame_ms * 0.9 + work_seconds * 100
        self._last = now
        self.frames += 1


def gl_config(pyglet_module: Any) -> Any:
    """An OpenGL 3.3 core config with 8-bit RGBA (headless otherwise picks RGB565)."""
    gl = pyglet_module.gl
    return gl.Config(major_version=3, minor_version=3, forward_compatible=True, double_buffer=True,
                     red_size=8, green_size=8, blue_size=8, alpha_size=8)


class Shell:
    """One running scene.  Create with :func:`run_scene` (or directly in tests)."""

    def __init__(self, scene: Scene, host: PluginHost, window: Any, options: RunOptions) -> None:
        import pyglet

        from geometry_os.render.target import RenderTarget

        self.pyglet = pyglet
        self.scene = scene
        self.host = host
        self.registry = host.registry
        self.window = window
        self.options = options
        self.shaders_dir = shaders_dir()
        width, height = window.get_framebuffer_size()
        self.camera = Camera(width, height, scene.camera.x, scene.camera.y, scene.camera.zoom)
        self.target = RenderTarget(width, height)
        self.start_time = time.monotonic()
        self.time = 0.0
        self.stats = FrameStats()
        self.hud_visible = scene.window.hud
        self.focused: Tile | None = None
        self.running = True
        self.exit_code = 0
        self.reloadables: list[Any] = []  # objects with poll(): shader programs, watched files
        self.programs: dict[str, Any] = {}  # name -> ReloadableProgram (see program())
        self.scene_errors: list[str] = []  # errors of the last scene edit that was not applied
        self._wake_pending = False
        from geometry_os.events import ShellEvents

        self._events = ShellEvents()
        self._events.push_handlers(on_frames_ready=self._on_frames_ready, on_state_change=self._on_state_change,
                                   on_call=self._on_call)
        self._deadline = 0.0
        rundir.clean_stale()  # leftovers of shells that died without cleaning up
        self.run_dir = rundir.shell_runtime_dir()
        self.streaming = StreamingPolicy(scene.window.streaming, scene.window.fps)
        self._draw_now: Callable[[], None] | None = None  # set while run_until_closed runs
        self.tiles = [self._make_tile(index, spec) for index, spec in enumerate(scene.tiles)]
        from geometry_os.render.effects import EffectChain, activate

        self.effects = activate(scene.effects, self.registry)
        self.tile_chain = EffectChain("tile", self.effects)
        self.screen_chain = EffectChain("screen", self.effects)
        self._stats_at = 0.0  # the first tick measures at once
        self.frame_dt = 0.0  # seconds the current frame advances animations by
        self._published = {tile.name: 0 for tile in self.tiles}
        self.layers = self._instantiate(self.registry.layers, key=lambda t: t.order)
        self.sinks = self._instantiate(self.registry.input_sinks, key=lambda t: -t.priority)
        if scene.camera.fit:
            self.fit_all(animate=False)
        if options.dev and scene.path is not None:
            from geometry_os.scene_reload import SceneWatcher

            self.reloadables.append(SceneWatcher(self))

    # ------------------------------------------------------------------ set-up
    def _instantiate(self, namespace: Any, key: Callable[[Any], Any]) -> list[tuple[str, Any]]:
        made = []
        for kind in sorted(namespace, key=key):
            plugin = namespace.owner(kind.name)
            try:
                made.append((plugin, kind.factory(self)))
            except Exception as exc:  # a broken plugin object must not stop the shell
                self.host.report_failure(plugin, f"{namespace.kind} {kind.name}", exc)
        return made

    def _make_tile(self, index: int, spec: Any) -> Tile:
        name = spec.id or f"tile-{index}"
        tile_dir = rundir.tile_runtime_dir(name)
        ctx = TileContext(name=name, title=spec.title or name, scene_dir=self.scene.directory, runtime_dir=tile_dir,
                          mailbox=FrameMailbox())
        ctx.mailbox.on_ready = self._wake
        ctx.on_state = self._state_from_any_thread
        source_type = self.registry.sources.get(spec.source.type)
        source = None
        try:
            source = source_type.factory(ctx, spec.source.params)
        except Exception as exc:
            plugin = self.registry.sources.owner(spec.source.type)
            self.host.report_failure(plugin, f"creating source for {name}", exc)
            ctx.report_state(TileState.FAILED, f"source {spec.source.type} could not be created: {exc}")
        return Tile(index=index, spec=spec, ctx=ctx, source=source)

    # -------------------------------------------------------- cross-thread wake
    def _wake(self) -> None:
        """Called by sources from any thread: wake the main loop once per batch."""
        if not self._wake_pending:
            self._wake_pending = True
            self.pyglet.app.platform_event_loop.post_event(self._events, "on_frames_ready")

    def _state_from_any_thread(self, change: StateChange) -> None:
        self.pyglet.app.platform_event_loop.post_event(self._events, "on_state_change", change)

    def call_soon(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        """Run ``fn`` on the main loop (from any thread); the future gets its result."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.pyglet.app.platform_event_loop.post_event(self._events, "on_call", fn, future)
        return future

    @staticmethod
    def _on_call(fn: Callable[[], Any], future: concurrent.futures.Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except Exception as exc:  # handed to the caller, who reports it
            future.set_exception(exc)

    def _on_frames_ready(self) -> None:
        self._wake_pending = False
        self.pump_frames()
        if self._draw_now is not None:
            self._draw_now()

    def _on_state_change(self, change: StateChange) -> None:
        self.host.tile_state_changed(self, change)

    def pump_frames(self) -> None:
        """Hand new frames to the layers that upload them (the tile renderer)."""
        self.window.switch_to()
        for plugin, layer in self.layers:
            upload = getattr(layer, "upload_frames", None)
            if upload is not None:
                self._guarded(plugin, "upload_frames", upload)

    # ---------------------------------------------------------------- the loop
    def start(self) -> None:
        for tile in self.tiles:
            if tile.source is not None:
                tile.ctx.report_state(TileState.BOOTING)
                self._guarded(self.registry.sources.owner(tile.spec.source.type), f"starting {tile.name}",
                              tile.source.start)
        self.host.scene_loaded(self, self.scene)

    def tick(self, dt: float = 0.0) -> None:
        """Draw one frame into the offscreen target and present it."""
        started = time.monotonic()
        self.time = started - self.start_time
        if self.options.dev:
            for reloadable in self.reloadables:
                reloadable.poll()
        self.frame_dt = dt if dt > 0 else 1.0 / self.scene.window.fps
        self.camera.update(self.frame_dt)
        if started - self._stats_at >= 1.0:
            self._update_tile_stats(started)
        self.pump_frames()
        if not self.streaming.frame_needed(self, started):
            return  # nothing on screen changed (zoom-aware streaming: engine/streaming.py)
        self.window.switch_to()
        self.target.bind()
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
            self.target.blit_to_default(width, height)
            self.window.flip()
        self.stats.tick(time.monotonic(), time.monotonic() - started)

    def _update_tile_stats(self, now: float) -> None:
        """Once a second: each tile's update rate, and its source's CPU load if it reports one."""
        elapsed = max(now - self._stats_at, 1e-3)
        self._stats_at = now
        for tile in self.tiles:
            published = tile.ctx.mailbox.published
            tile.update_rate = (published - self._published.get(tile.name, 0)) / elapsed
            self._published[tile.name] = published
            telemetry = getattr(tile.source, "telemetry", None)
            if telemetry is not None:
                values = self._guarded(self.registry.sources.owner(tile.spec.source.type), "telemetry", telemetry)
                if values:
                    tile.cpu_load = float(values.get("cpu_load", 0.0))

    def set_effect_param(self, effect: str, name: str, value: Any) -> None:
        """Change an effect parameter at run time (visible on the next frame).

        Raises :class:`geometry_os.render.effects.ParamError` for an unknown effect or
        parameter, a wrong type or a value out of range.
        """
        from geometry_os.render.effects import ParamError, set_param

        matches = [e for e in self.effects if e.name == effect]
        if not matches:
            raise ParamError(f"no effect {effect!r} in this scene (has: {', '.join(e.name for e in self.effects)})")
        set_param(matches[0], name, value)

    def _guarded(self, plugin: str, where: str, call: Callable[[], Any]) -> Any:
        """Call into a plugin object; on error report it and drop the plugin's objects if disabled."""
        ok, value = self.host.call(plugin, where, call)
        info = self.host.infos.get(plugin)
        if not ok and info is not None and info.status != "active":
            self.layers = [(p, layer) for p, layer in self.layers if p != plugin]
            self.sinks = [(p, sink) for p, sink in self.sinks if p != plugin]
        return value

    def dispatch_input(self, event: str, *args: Any) -> bool:
        """Offer an input event to the sinks, highest priority first, until one consumes it."""
        self.streaming.poke()
        for plugin, sink in list(self.sinks):
            handler = getattr(sink, event, None)
            if handler is not None and self._guarded(plugin, event, lambda h=handler: h(*args)):
                return True
        return False

    # ------------------------------------------------------------ camera verbs
    def fit_all(self, animate: bool = True) -> None:
        rect = bounds(tile.footprint for tile in self.tiles)
        if rect is None:
            return
        if animate:
            self.camera.fly_to(rect)
        else:
            self.camera.set(*self.camera.fit_target(rect))

    def fly_to_tile(self, index: int) -> None:
        if 0 <= index < len(self.tiles):
            self.camera.fly_to(self.tiles[index].footprint)
            self.focus(self.tiles[index])

    def tile_at(self, sx: float, sy: float) -> Tile | None:
        """The topmost tile under a screen point."""
        wx, wy = self.camera.screen_to_world(sx, sy)
        for tile in reversed(self.tiles):
            if tile.footprint.contains(wx, wy):
                return tile
        return None

    def focus(self, tile: Tile | None) -> None:
        """Focus ``tile`` (None: the map); sinks with ``on_focus_changed`` are told."""
        if tile is not self.focused:
            log.info("focus: %s", tile.name if tile else "map")
            old, self.focused = self.focused, tile
            for plugin, sink in list(self.sinks):
                handler = getattr(sink, "on_focus_changed", None)
                if handler is not None:
                    self._guarded(plugin, "on_focus_changed", lambda h=handler: h(old, tile))

    def find_tile(self, name: str) -> Tile:
        """A tile by id, title or 1-based number; KeyError naming the tiles otherwise."""
        for tile in self.tiles:
            if name in (tile.name, tile.title, str(tile.index + 1)):
                return tile
        known = ", ".join(tile.name for tile in self.tiles) or "none"
        raise KeyError(f"no tile {name!r} (tiles: {known})")

    def toggle_fullscreen(self) -> None:
        if not self.options.headless:
            self.window.set_fullscreen(not self.window.fullscreen)

    def quit(self, code: int = 0) -> None:
        self.running = False
        self.exit_code = code

    def shutdown(self) -> None:
        """Tell plugins, stop every source cleanly, release the layers.

        Sources stop all at once, each on its own thread: a VM with persistent disks
        is powered down through the guest (up to 10 s for QEMU tiles), and
        ten of them must not take ten times as long.  Off the main thread a slow stop
        is also not mistaken for a hang by the watchdog.
        """
        self.host.scene_closing(self, self.scene)
        stopping = [tile for tile in self.tiles if tile.source is not None]
        with concurrent.futures.ThreadPoolExecutor(max(1, len(stopping)), thread_name_prefix="geos-stop") as pool:
            for tile in stopping:
                pool.submit(self._guarded, self.registry.sources.owner(tile.spec.source.type),
                            f"stopping {tile.name}", tile.source.stop)
        for plugin, layer in self.layers:
            release = getattr(layer, "delete", None)
            if release is not None:
                self._guarded(plugin, "delete", release)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def screenshot(self) -> Any:
        """The last frame drawn, as an (h, w, 4) RGBA array."""
        self.window.switch_to()
        return self.target.read_rgba()

    def program(self, name: str, build: Callable[[], Any]) -> Any:
        """The shell's shader program ``name``, built once from ``build`` and hot-reloaded
        in development mode.  Layers share programs by name (e.g. "solid")."""
        from geometry_os.render.shaders import ReloadableProgram

        if name not in self.programs:
            self.programs[name] = ReloadableProgram(name, build)
            self.reloadables.append(self.programs[name])
        return self.programs[name]

    def errors(self) -> list[str]:
        """Errors to show on screen: shaders that failed to reload, effects left out, a scene edit
        not applied."""
        lines = [line for program in self.programs.values() if program.error for line in program.error.lines]
        return lines + self.tile_chain.errors() + self.screen_chain.errors() + self.scene_errors

    def screen_matrix(self) -> tuple[float, ...]:
        """Screen pixels (top-left origin, y down) -> clip space, column-major."""
        w, h = self.camera.width, self.camera.height
        return (2 / w, 0, 0, 0, 0, -2 / h, 0, 0, 0, 0, 1, 0, -1, 1, 0, 1)

    # ------------------------------------------------------------- main loops
    def run_until_closed(self) -> None:
        pyglet = self.pyglet
        self._deadline = time.monotonic()
        last = [time.monotonic()]

        def frame(_dt: float) -> None:
            now = time.monotonic()
            self.tick(now - last[0])
            last[0] = now
            if not self.running or (self.options.frames is not None and self.stats.frames >= self.options.frames):
                pyglet.app.exit()
                return
            interval = 1.0 / self.scene.window.fps
            self._deadline += interval
            if self._deadline < now:  # fell behind: do not try to catch up with a burst
                self._deadline = now + interval
            pyglet.clock.schedule_once(frame, max(0.0, self._deadline - time.monotonic()))

        def draw_now() -> None:
            # A guest frame was just uploaded: draw it now, not at the next deadline (up to
            # a frame interval later), while frames stay an interval apart (streaming only).
            now = time.monotonic()
            if self.streaming.draw_due(now, 1.0 / self.scene.window.fps) and self._deadline - now > 0.001:
                pyglet.clock.unschedule(frame)
                self._deadline = now
                pyglet.clock.schedule_once(frame, 0)

        self._draw_now = draw_now
        pyglet.clock.schedule_once(frame, 0)
        try:
            pyglet.app.run(None)
        finally:
            self._draw_now = None


def open_window(scene: Scene, headless: bool) -> Any:
    """A pyglet window for the scene (an offscreen pbuffer when ``headless``)."""
    import pyglet

    pyglet.options["debug_gl"] = False  # ~1 us per GL call otherwise
    settings = scene.window
    window = pyglet.window.Window(settings.width, settings.height, caption=settings.title, resizable=not headless,
                                  visible=not headless, config=gl_config(pyglet), vsync=False)
    if settings.fullscreen and not headless:
        window.set_fullscreen(True)
    return window


def run_scene(scene: Scene, host: PluginHost, options: RunOptions) -> int:
    """Open the window, run the scene until it is closed (or N frames), clean up."""
    import pyglet

    if options.headless:
        pyglet.options["headless"] = True
    from geometry_os.events import connect_window_events
    from geometry_os.png import write_png

    try:
        window = open_window(scene, options.headless)
    except Exception as exc:  # no display, no GL 3.3: one line, not a traceback
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
