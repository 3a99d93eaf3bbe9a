"""One run of a VM, from spawn to exit, and how it maps to the tile's state.

(Over 400 lines on purpose: what is left here is the state machine itself;
saving/resuming, the watchers and the process are in their own modules already.)

A :class:`VmSession` lives on the backend loop (:mod:`.backend`); every state
decision is made there, in order.  A restart makes a new session, so events of a
dead QEMU can never touch the new one (``active`` guards every report).

States: BOOTING at start and after a guest reset; RUNNING once QMP says the VM
runs and the first frame arrived; PAUSED on the QMP STOP event; STOPPED on a
guest power-off or our own stop; FAILED with a one-line reason naming the cause
(missing media, no D-Bus display in QEMU, QEMU's stderr line and exit status).

Saving and resuming the whole VM is :mod:`.vmstate`; the liveness and telemetry
loops are :mod:`.watchers`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from geometry_os import rundir
from geometry_os.api import TileContext, TileState, release_freed

from . import accel as accel_mod
from . import vmstate, watchers
from .audio import AudioClient, AudioError
from .clipboard import AGENT_PORT, ClipboardClient, ClipboardError
from .command import build_argv, serial_log
from .dbus_display import DisplayClient, DisplayError
from .mixer import VmSound
from .monitor import Monitor, MonitorError
from .params import QemuParams, check_media
from .process import KILL_TIMEOUT, QemuProcess, SpawnError
from .serial import SerialLine
from .telemetry import CpuMeter

log = logging.getLogger(__name__)

QMP_CONNECT_TIMEOUT = 10.0
DISPLAY_TIMEOUT = 10.0
POWERDOWN_TIMEOUT = 10.0  # persistent disks: ACPI power-off before quit
EXIT_GRACE = 0.3  # a QEMU that is dying exits within this; tells a crash from a hang
RECONNECT_ATTEMPTS = 3  # display reconnections in a row before the tile is FAILED
RECONNECT_WINDOW = 60.0  # a display that stayed up this long (s) starts the count again
RECONNECT_BACKOFF = 0.5  # s before a failed reconnection is tried again, times the attempt number


class VmSession:
    """Start, watch and stop one QEMU process for a tile (backend loop only)."""

    def __init__(self, ctx: TileContext, params: QemuParams,
                 report: Callable[[TileState, str], None], *,
                 resume_from: Path | None = None, serial: SerialLine | None = None,
                 sound: VmSound | None = None) -> None:
        self.ctx = ctx
        self.params = params
        self.serial = serial  # the tile's serial line: QEMU's serial port is attached to it
        self.sound = sound  # the tile's voices in the shell's mixer (audio: true)
        self.audio: AudioClient | None = None
        self.clipboard: ClipboardClient | None = None  # clipboard: true, once registered with QEMU
        self.resume_from = resume_from  # a state file written by save_state: resume it
        self._report_fn = report
        self.active = True
        self.process: QemuProcess | None = None
        self.monitor: Monitor | None = None
        self.display: DisplayClient | None = None
        self.binary: str | None = None
        self.accel: str | None = None
        self.shm = False
        self.sandbox = False  # QEMU runs under -sandbox (params.sandbox and the build supports it)
        self.telemetry: dict[str, float] = {"cpu_load": 0.0, "update_rate": 0.0}
        self.started_at: float | None = None
        self.first_frame_at: float | None = None
        self._state = TileState.STOPPED
        self._stopping = False
        self._vm_running = False
        self._frame_seen = False
        self._guest_shutdown = False
        self._reconnects = 0
        self._connected_at = 0.0  # loop time the display connection last came up
        self._state_before_hang = TileState.STOPPED
        self._run_task: asyncio.Task[None] | None = None
        self._serial_sock: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ reports

    def _report(self, state: TileState, reason: str = "") -> None:
        if not self.active:
            return
        self._state = state
        self._report_fn(state, reason)

    def _fail(self, reason: str) -> None:
        # The first failure names the cause; a QEMU we kill because of it must
        # not replace it with "killed by SIGKILL".
        if not self._stopping and self._state is not TileState.FAILED:
            self._report(TileState.FAILED, reason.splitlines()[0] if reason else "failed")

    # ------------------------------------------------------------------- start

    def booting(self) -> None:
        """Report BOOTING (any thread, before :meth:`start`): start() shows it at once."""
        self._report(TileState.BOOTING, "starting")

    def start(self) -> None:
        """Begin the run (call on the backend loop)."""
        self._run_task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        self.started_at = asyncio.get_running_loop().time()
        try:
            if not await self._prepare():
                return
            await self._launch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an unexpected OS error: show it, stop QEMU
            if self._stopping:  # the shell quit mid-start: QEMU going away is expected
                log.debug("%s: start cut short by the stop: %s", self.ctx.name, exc)
                return
            log.exception("%s: start failed", self.ctx.name)
            self._fail(f"start failed: {exc}")
            if self.process is not None:
                self.process.kill()
            return
        if self.process is not None:
            await self._watch_exit(self.process)

    async def _prepare(self) -> bool:
        """Checks that need no QEMU process; False (and FAILED) when one fails."""
        reasons = check_media(self.params, self.ctx.scene_dir)
        if reasons:
            self._fail("; ".join(reasons))
            return False
        caps = await asyncio.to_thread(accel_mod.qemu_capabilities)
        if caps["binary"] is None:
            self._fail(f"QEMU not found: {caps['error']}")
            return False
        self.binary = caps["binary"]
        if not caps["dbus_display"]:
            self._fail(f"QEMU at {self.binary} has no D-Bus display (install qemu-system-gui)")
            return False
        self.accel = await asyncio.to_thread(accel_mod.resolve_accel, self.params.accel, self.binary)
        self.sandbox = self.params.sandbox and caps["sandbox"]
        if self.params.sandbox and not caps["sandbox"]:
            log.warning("%s: QEMU runs unconfined: its sandbox does not work here (%s)", self.ctx.name,
                        caps["sandbox_error"])
        transport = self.params.transport
        self.shm = transport == "shm" or (transport == "auto" and caps["shm_scanout"])
        if transport == "shm" and not caps["shm_scanout"]:
            log.warning("%s: QEMU %s has no shared-memory scanout (needs 9.2); pixels will "
                        "travel inline", self.ctx.name, caps["version"])
        return not self._stopping

    async def _launch(self) -> None:
        assert self.binary is not None and self.accel is not None  # set by _prepare
        runtime_dir = rundir.ensure_private_dir(self.ctx.runtime_dir)
        ours, theirs = socket.socketpair()
        # the serial port: a socketpair the line reads and logs (serial.py)
        serial_ours, serial_theirs = socket.socketpair() if self.serial is not None else (None, None)
        try:
            argv = build_argv(self.params, binary=self.binary, scene_dir=self.ctx.scene_dir,
                              runtime_dir=runtime_dir, accel=self.accel, qmp_fd=theirs.fileno(),
                              name=self.ctx.title or self.ctx.name,
                              serial_fd=serial_theirs.fileno() if serial_theirs is not None else None,
                              sandbox=self.sandbox)
            if self.resume_from is not None:
                argv += vmstate.INCOMING_ARGS
            log.info("%s: %s", self.ctx.name, " ".join(argv))
            fds = (theirs.fileno(),) + ((serial_theirs.fileno(),) if serial_theirs is not None else ())
            # on the backend thread: see backend.py
            process = QemuProcess.spawn(self.ctx.name, argv, cwd=runtime_dir, pass_fds=fds)
        except SpawnError as exc:
            ours.close()
            if serial_ours is not None:
                serial_ours.close()
            self._fail(str(exc))
            return
        finally:
            theirs.close()
            if serial_theirs is not None:
                serial_theirs.close()
        self.process = process
        if self.serial is not None and serial_ours is not None:
            self._serial_sock = serial_ours
            self.serial.attach(serial_ours, serial_log(self.params, self.ctx.scene_dir, runtime_dir))
        monitor = self.monitor = Monitor(self.ctx.name, ours, self._on_event)
        if not await self._until_exit(process, monitor.connect(), QMP_CONNECT_TIMEOUT, "QMP"):
            return
        cpu = CpuMeter(process.pid, await monitor.vcpu_threads())
        if self.resume_from is not None and not await self._resume(process, monitor, self.resume_from):
            return
        if self.params.display == "none":
            self._frame_seen = True  # no screen: the tile shows the serial console (terminal_view.py)
        ready = await self._connect_display(monitor)
        if not await self._until_exit(process, ready, DISPLAY_TIMEOUT, "display"):
            return
        self._connected_at = asyncio.get_running_loop().time()
        await self._connect_channels(sound=True)
        status = await monitor.execute("query-status")
        self._vm_running = bool(status.get("running"))
        if not self._vm_running and status.get("status") in ("paused", "prelaunch"):
            self._report(TileState.PAUSED, status.get("status", ""))
        self._maybe_running()
        self._spawn_task(watchers.sample_telemetry(cpu, self._frames, self._set_telemetry))
        self._spawn_task(watchers.watch_liveness(
            self.ctx.name, lambda: monitor.execute("query-status"), heard=self._frames,
            watching=lambda: not self._stopping and process.alive,
            on_hang=self._hung, on_answer=self._answers_again))
        log.info("%s: QEMU up in %.2f s (accel %s, transport offered: %s)", self.ctx.name,
                 asyncio.get_running_loop().time() - (self.started_at or 0.0), self.accel,
                 "shm" if self.shm else "inline")

    async def _resume(self, process: QemuProcess, monitor: Monitor, state: Path) -> bool:
        """Load the state file into the waiting QEMU; False (FAILED, QEMU killed) when it fails."""
        try:
            await vmstate.load(monitor.execute, state)
        except MonitorError as exc:
            kept = vmstate.set_aside(state)
            self._fail(f"resuming {state} failed: {exc} (kept as {kept.name}; restart boots afresh)")
            process.kill()
            return False
        log.info("%s: resumed from %s", self.ctx.name, state)
        # A state is used once: resuming it again after the disks moved on would
        # corrupt them (the shell may be killed before it saves a new one).
        state.unlink(missing_ok=True)
        return True

    async def save_state(self, path: Path, timeout: float = vmstate.SAVE_TIMEOUT) -> None:
        """Pause the VM, write its whole state (RAM, devices) to ``path``, stop QEMU.

        A later session with ``resume_from=path`` continues exactly there.  Disks are
        not in the file, so disks with ``snapshot=on`` (whose changes vanish with QEMU)
        are refused: the guest would resume against a disk older than its memory.
        Raises MonitorError (the VM then keeps running).
        """
        if self.params.disk and not self.params.persistent:
            raise MonitorError("saving the VM state needs persistent disks "
                               "(without persistent the disks' changes are discarded at exit)")
        await vmstate.save(self.command, path, timeout)
        await self.stop(graceful=False)
        self._report_fn(TileState.STOPPED, "state saved")
        log.info("%s: state saved to %s", self.ctx.name, path)

    async def _connect_display(self, monitor: Monitor) -> asyncio.Future[None]:
        """A new display client on a new QMP ``add_client`` socket; the future says when it is up."""
        d_ours, d_theirs = socket.socketpair()
        try:
            await monitor.add_display_client(d_theirs)
        finally:
            d_theirs.close()
        display = self.display = DisplayClient(self.ctx.name, self.ctx.mailbox, shm=self.shm,
                                               on_disabled=self._on_display_disabled,
                                               on_closed=self._on_display_closed,
                                               on_fault=self._on_display_fault,
                                               graphic=self.params.display != "none")
        # the clipboard object is served on this connection (QEMU calls it while taking our Register)
        self.clipboard = ClipboardClient(self.ctx.name, display) if self.params.clipboard else None
        display.notify_next_frame(self._on_frame_threadsafe)
        return asyncio.wrap_future(display.start(d_ours))

    async def _connect_channels(self, *, sound: bool) -> None:
        """Sound and clipboard on the display connection, once it is up; a VM whose sound or
        clipboard fails still runs (the log says why; paste then types keys)."""
        display = self.display
        if display is None:
            return
        if sound and self.sound is not None:
            with self.sound.lock:
                self.sound.voices.clear()  # a previous run's voices (QEMU killed before its Fini)
            audio = self.audio = AudioClient(self.ctx.name, self.sound)
            try:
                await asyncio.wrap_future(display.submit(audio.register))
            except (AudioError, DisplayError) as exc:
                log.warning("%s: no sound: %s", self.ctx.name, exc)
        clipboard = self.clipboard
        if clipboard is not None:
            try:
                await asyncio.wrap_future(clipboard.register())
            except (ClipboardError, DisplayError) as exc:
                log.warning("%s: the clipboard is not shared: %s", self.ctx.name, exc)
                self.clipboard = None

    async def _until_exit(self, process: QemuProcess, awaitable: Awaitable[Any], timeout: float,
                          what: str) -> bool:
        """Await ``awaitable`` unless QEMU exits first; False (and FAILED) on failure."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task, process.exited}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if task in done and task.exception() is None:
            return True
        if not task.done():
            task.cancel()
        if process.exited.done() or await process.wait(1.0) is not None:
            return False  # _watch_exit reports the exit with QEMU's own words
        if task in done:
            exc = task.exception()
            reason = str(exc) if isinstance(exc, (DisplayError, MonitorError)) else \
                f"{what} failed: {exc or type(exc).__name__}"
        else:
            reason = f"{what} did not answer within {timeout:.0f} s"
        self._fail(reason)
        process.kill()
        return False

    # ----------------------------------------------------------------- running

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _frames(self) -> int:
        display = self.display
        return display.stats.frames if display is not None else 0

    def _set_telemetry(self, sample: dict[str, float]) -> None:
        self.telemetry = sample

    def _hung(self) -> None:
        self._state_before_hang = self._state
        self._report(TileState.FAILED, f"not responding: no answer to QMP for {watchers.LIVENESS_TIMEOUT} s "
                     "(frozen, or the host is overloaded); restart ends it")

    def _answers_again(self) -> None:
        if self._state is TileState.FAILED and not self._stopping:
            self._report(self._state_before_hang, "")

    def _on_frame_threadsafe(self) -> None:  # display thread
        try:
            self._loop_call(self._on_frame)
        except RuntimeError:  # the backend loop is closed: the process is exiting
            pass

    def _loop_call(self, fn: Callable[..., None], *args: object) -> None:
        if self._run_task is not None:
            self._run_task.get_loop().call_soon_threadsafe(fn, *args)

    def _on_frame(self) -> None:
        if self.first_frame_at is None and self.started_at is not None:
            self.first_frame_at = asyncio.get_running_loop().time()
            log.info("%s: first frame %.2f s after start", self.ctx.name,
                     self.first_frame_at - self.started_at)
        self._frame_seen = True
        self._maybe_running()

    def _maybe_running(self) -> None:
        if self._stopping or not self._vm_running or not self._frame_seen:
            return
        if self._state in (TileState.BOOTING, TileState.PAUSED):
            self._report(TileState.RUNNING)

    def _on_display_disabled(self, disabled: bool) -> None:  # display thread
        self._loop_call(self._display_disabled, disabled)

    def _display_disabled(self, disabled: bool) -> None:
        if self._state is TileState.RUNNING and not self._stopping:
            self._report(TileState.RUNNING, "display disabled" if disabled else "")

    def _on_display_fault(self, reason: str) -> None:  # display thread
        # QEMU broke the shared screen (shrank its memfd): the tile says so; the guest runs on.
        self._loop_call(self._fail, f"screen lost: {reason}; restart the VM")

    def _on_display_closed(self, reason: str) -> None:  # display thread
        log.debug("%s: %s", self.ctx.name, reason)
        self._loop_call(self._display_lost, self.display, reason)

    def _display_lost(self, display: DisplayClient | None, reason: str) -> None:
        if display is None or display is not self.display or self._stopping:
            return  # an old client, or QEMU is being stopped on purpose
        self._spawn_task(self._reconnect_display(display, reason))

    async def _reconnect_display(self, lost: DisplayClient, reason: str) -> None:
        """The display connection went away while QEMU may still run: connect anew.

        A QEMU that died closes the connection first; its exit is reported by
        ``_watch_exit``, so wait briefly for it before reconnecting.  A failed attempt
        (QEMU busy, its handshake cut) is tried again after a pause.  After
        RECONNECT_ATTEMPTS in a row (a display that stayed up RECONNECT_WINDOW seconds
        starts the count again) the tile is FAILED with the reason; QEMU is left running
        (a guest must not be taken down by our display), so restart or stop it.
        """
        process, monitor = self.process, self.monitor
        if process is None or monitor is None:
            return
        if await process.wait(EXIT_GRACE) is not None or self._stopping:
            return
        await asyncio.to_thread(lost.close)
        release_freed()
        loop = asyncio.get_running_loop()
        if loop.time() - self._connected_at >= RECONNECT_WINDOW:
            self._reconnects = 0
        while True:
            self._reconnects += 1
            if self._reconnects > RECONNECT_ATTEMPTS:
                self._fail(f"{reason}; reconnect limit ({RECONNECT_ATTEMPTS}) reached")
                return
            log.warning("%s: %s; reconnecting (%d of %d)", self.ctx.name, reason, self._reconnects,
                        RECONNECT_ATTEMPTS)
            try:
                ready = await self._connect_display(monitor)
                await asyncio.wait_for(ready, DISPLAY_TIMEOUT)
                break
            except (TimeoutError, DisplayError, MonitorError) as exc:
                if self._stopping or not process.alive:
                    return
                reason = f"{reason}; reconnecting failed: {str(exc) or 'timed out'}"
                if self.display is not None:
                    await asyncio.to_thread(self.display.close)
                await asyncio.sleep(RECONNECT_BACKOFF * self._reconnects)
        self._connected_at = loop.time()
        await self._connect_channels(sound=False)  # the sound's own connection outlived the display's
        log.info("%s: display reconnected", self.ctx.name)

    def _on_event(self, name: str, data: dict[str, Any]) -> None:
        """QMP events -> tile state (backend loop)."""
        if self._stopping:
            return
        if name == "STOP":
            self._vm_running = False
            if self._state in (TileState.RUNNING, TileState.BOOTING):
                self._report(TileState.PAUSED, "paused")
        elif name == "RESUME":
            self._vm_running = True
            if self._state is TileState.PAUSED:
                self._report(TileState.RUNNING if self._frame_seen else TileState.BOOTING)
            self._maybe_running()
        elif name == "RESET":
            if self._state is TileState.RUNNING:
                self._frame_seen = False
                self._report(TileState.BOOTING, "guest reset")
                if self.display is not None:
                    self.display.notify_next_frame(self._on_frame_threadsafe)
        elif name == "VSERPORT_CHANGE" and data.get("id") == AGENT_PORT and self.clipboard is not None:
            self.clipboard.agent = bool(data.get("open"))
            log.info("%s: the guest's clipboard agent %s", self.ctx.name,
                     "is listening" if self.clipboard.agent else "went away")
        elif name == "SHUTDOWN" and data.get("guest"):
            self._guest_shutdown = True
            self._report(TileState.STOPPED, "guest powered off")

    async def _watch_exit(self, process: QemuProcess) -> None:
        code = await process.exited
        for task in list(self._tasks):
            task.cancel()
        await self._close_clients()
        if self._stopping:
            return
        if self._guest_shutdown and code == 0:
            self._report(TileState.STOPPED, "guest powered off")
        else:
            self._fail(process.exit_reason())

    # ------------------------------------------------------------ lifecycle

    async def command(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
        """Run a QMP command (raises MonitorError when QEMU is not there)."""
        if self.monitor is None or self.process is None or not self.process.alive:
            raise MonitorError(f"QMP {cmd}: QEMU is not running")
        return await self.monitor.execute(cmd, args, timeout)

    async def powerdown(self, timeout: float = POWERDOWN_TIMEOUT) -> None:
        """ACPI power button; ``quit`` after ``timeout`` s, then SIGKILL.  -> STOPPED."""
        await self._terminate(graceful=True, powerdown_timeout=timeout)
        self._report(TileState.STOPPED, "guest powered off" if self._guest_shutdown
                     else "powered off")

    async def stop(self, *, graceful: bool | None = None) -> None:
        """Stop QEMU for good and report STOPPED.  Idempotent.

        ``graceful`` (default: ``params.persistent``) tries an ACPI power-off first
        so a guest with writable disks can shut down cleanly; otherwise ``quit``.
        """
        if graceful is None:
            graceful = self.params.persistent
        await self._terminate(graceful=graceful, powerdown_timeout=POWERDOWN_TIMEOUT)
        self._report(TileState.STOPPED, "stopped")
        self.active = False

    async def _terminate(self, *, graceful: bool, powerdown_timeout: float) -> None:
        self._stopping = True
        run_task = self._run_task
        if self.process is None and run_task is not None and not run_task.done():
            run_task.cancel()
            await asyncio.gather(run_task, return_exceptions=True)
        if self.display is not None:
            self.display.expect_close()
        if self.process is not None:
            await self.process.stop(self.monitor, powerdown_timeout=powerdown_timeout if graceful else None)
        if run_task is not None and not run_task.done():
            try:
                await asyncio.wait_for(asyncio.shield(run_task), KILL_TIMEOUT)
            except (TimeoutError, asyncio.CancelledError):
                run_task.cancel()
        await self._close_clients()

    async def _close_clients(self) -> None:
        if self.serial is not None:
            self.serial.detach(self._serial_sock)
        if self.audio is not None:
            self.audio.close()
        if self.clipboard is not None:
            self.clipboard.close()
        display, self.display = self.display, None
        if display is not None:
            await asyncio.to_thread(display.close)
        monitor = self.monitor
        if monitor is not None:
            await monitor.close()
        release_freed()  # what the display thread freed stays in its arena otherwise
