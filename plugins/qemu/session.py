"""One run of a VM, from spawn to exit, and how it maps to the tile's state.

A :class:`VmSession` lives on the backend loop (:mod:`.backend`); every state
decision is made there, in order.  A restart makes a new session, so events of a
dead QEMU can never touch the new one (``active`` guards every report).

States: BOOTING at start and after a guest reset; RUNNING once QMP says the VM
runs and the first frame arrived; PAUSED on the QMP STOP event; STOPPED on a
guest power-off or our own stop; FAILED with a one-line reason naming the cause
(missing media, no D-Bus display in QEMU, QEMU's stderr line and exit status).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path
from typing import Callable

from geometry_os import rundir
from geometry_os.tiles import TileContext, TileState

from . import accel as accel_mod
from .command import build_argv
from .dbus_display import DisplayClient, DisplayError
from .monitor import Monitor, MonitorError
from .params import QemuParams, check_media
from .process import QemuProcess
from .telemetry import CpuMeter, RateMeter

log = logging.getLogger(__name__)

QMP_CONNECT_TIMEOUT = 10.0
DISPLAY_TIMEOUT = 10.0
POWERDOWN_TIMEOUT = 10.0  # persistent disks: ACPI power-off before quit
QUIT_TIMEOUT = 3.0
KILL_TIMEOUT = 2.0
TELEMETRY_PERIOD = 1.0
LIVENESS_PERIOD = 0.25  # QMP ping interval (hang detection)
LIVENESS_TIMEOUT = 1.25  # no answer within this: QEMU is hung
EXIT_GRACE = 0.3  # a QEMU that is dying exits within this; tells a crash from a hang
SAVE_TIMEOUT = 60.0  # writing the VM state (RAM size / disk speed)
RESUME_TIMEOUT = 60.0
MIGRATION_POLL = 0.05
RECONNECT_ATTEMPTS = 3  # display reconnections per session before the tile is FAILED


class VmSession:
    """Start, watch and stop one QEMU process for a tile (backend loop only)."""

    def __init__(self, ctx: TileContext, params: QemuParams,
                 report: Callable[[TileState, str], None], *,
                 resume_from: Path | None = None) -> None:
        self.ctx = ctx
        self.params = params
        self.resume_from = resume_from  # a state file written by save_state: resume it
        self._report_fn = report
        self.active = True
        self.process: QemuProcess | None = None
        self.monitor: Monitor | None = None
        self.display: DisplayClient | None = None
        self.binary: str | None = None
        self.accel: str | None = None
        self.shm = False
        self.telemetry: dict[str, float] = {"cpu_load": 0.0, "update_rate": 0.0}
        self.telemetry_cpu: CpuMeter | None = None
        self.started_at: float | None = None
        self.first_frame_at: float | None = None
        self._state = TileState.STOPPED
        self._stopping = False
        self._vm_running = False
        self._frame_seen = False
        self._guest_shutdown = False
        self._reconnects = 0
        self._run_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

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
        loop = asyncio.get_running_loop()
        self.started_at = loop.time()
        try:
            if not await self._prepare():
                return
            await self._launch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an unexpected OS error: show it, stop QEMU
            log.exception("%s: start failed", self.ctx.name)
            self._fail(f"start failed: {exc}")
            if self.process is not None:
                self.process.kill()
            return
        if self.process is not None:
            await self._watch_exit()

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
        self.accel = await asyncio.to_thread(accel_mod.resolve_accel, self.params.accel,
                                             self.binary)
        transport = self.params.transport
        self.shm = transport == "shm" or (transport == "auto" and caps["shm_scanout"])
        if transport == "shm" and not caps["shm_scanout"]:
            log.warning("%s: QEMU %s has no shared-memory scanout (needs 9.2); pixels will "
                        "travel inline", self.ctx.name, caps["version"])
        return not self._stopping

    async def _launch(self) -> None:
        loop = asyncio.get_running_loop()
        runtime_dir = rundir.ensure_private_dir(self.ctx.runtime_dir)
        ours, theirs = socket.socketpair()
        try:
            argv = build_argv(self.params, binary=self.binary, scene_dir=self.ctx.scene_dir,
                              runtime_dir=runtime_dir, accel=self.accel, qmp_fd=theirs.fileno(),
                              name=self.ctx.title or self.ctx.name)
            if self.resume_from is not None:
                argv += ["-incoming", "defer"]  # the state is loaded over QMP once it is up
            log.info("%s: %s", self.ctx.name, " ".join(argv))
            self.process = QemuProcess(self.ctx.name, argv, cwd=runtime_dir,
                                       pass_fds=(theirs.fileno(),))
            self.process.spawn()  # on the backend thread: see backend.py
        finally:
            theirs.close()
        self.monitor = Monitor(self.ctx.name, ours, self._on_event)
        if not await self._until_exit(self.monitor.connect(), QMP_CONNECT_TIMEOUT, "QMP"):
            return
        self.telemetry_cpu = CpuMeter(self.process.pid, await self.monitor.vcpu_threads())
        if self.resume_from is not None and not await self._resume():
            return
        ready = await self._connect_display()
        if not await self._until_exit(ready, DISPLAY_TIMEOUT, "display"):
            return
        status = await self.monitor.execute("query-status")
        self._vm_running = bool(status.get("running"))
        if not self._vm_running and status.get("status") in ("paused", "prelaunch"):
            self._report(TileState.PAUSED, status.get("status", ""))
        self._maybe_running()
        self._spawn_task(self._telemetry_loop())
        self._spawn_task(self._liveness_loop())
        log.info("%s: QEMU up in %.2f s (accel %s, transport offered: %s)", self.ctx.name,
                 loop.time() - self.started_at, self.accel, "shm" if self.shm else "inline")

    async def _resume(self) -> bool:
        """Load the state file into the waiting QEMU; False (FAILED, QEMU killed) when it fails."""
        try:
            await self.monitor.execute("migrate-incoming", {"channels": [_file_channel(self.resume_from)]})
            await self._migration_done(RESUME_TIMEOUT)
            await self.monitor.execute("cont")  # save_state paused it, and QEMU keeps that
        except MonitorError as exc:
            # set aside, so that a restart boots afresh instead of failing the same way
            kept = self.resume_from.with_name(self.resume_from.name + ".failed")
            with contextlib.suppress(OSError):
                self.resume_from.replace(kept)
            self._fail(f"resuming {self.resume_from} failed: {exc} (kept as {kept.name}; restart boots afresh)")
            self.process.kill()
            return False
        log.info("%s: resumed from %s", self.ctx.name, self.resume_from)
        # A state is used once: resuming it again after the disks moved on would
        # corrupt them (the shell may be killed before it saves a new one).
        self.resume_from.unlink(missing_ok=True)
        return True

    async def save_state(self, path: Path, timeout: float = SAVE_TIMEOUT) -> None:
        """Pause the VM, write its whole state (RAM, devices) to ``path``, stop QEMU.

        QEMU migrates to a file; a later session with ``resume_from=path`` continues
        exactly there.  Disks are not in the file, so disks with ``snapshot=on`` (whose
        changes vanish with QEMU) are refused: the guest would resume against a disk
        older than its memory.  Raises MonitorError (the VM then keeps running).
        """
        if self.params.disk and not self.params.persistent:
            raise MonitorError("saving the VM state needs persistent disks "
                               "(without persistent the disks' changes are discarded at exit)")
        await self.command("stop")
        try:
            await self.command("migrate", {"channels": [_file_channel(path)]})
            await self._migration_done(timeout)
        except MonitorError:
            await self.command("cont")
            raise
        await self.stop(graceful=False)
        self._report_fn(TileState.STOPPED, "state saved")
        log.info("%s: state saved to %s", self.ctx.name, path)

    async def _migration_done(self, timeout: float) -> None:
        """Wait for the running migration (out or in) to complete; MonitorError otherwise."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            info = await self.monitor.execute("query-migrate")
            status = info.get("status")
            if status == "completed":
                return
            if status in ("failed", "cancelled"):
                raise MonitorError(info.get("error-desc") or f"migration {status}")
            if asyncio.get_running_loop().time() > deadline:
                raise MonitorError(f"migration not done after {timeout:.0f} s (status {status})")
            await asyncio.sleep(MIGRATION_POLL)

    async def _connect_display(self) -> asyncio.Future:
        """A new display client on a new QMP ``add_client`` socket; the future says when it is up."""
        d_ours, d_theirs = socket.socketpair()
        try:
            await self.monitor.add_display_client(d_theirs)
        finally:
            d_theirs.close()
        self.display = DisplayClient(self.ctx.name, self.ctx.mailbox, shm=self.shm,
                                     on_disabled=self._on_display_disabled,
                                     on_closed=self._on_display_closed)
        self.display.notify_next_frame(self._on_frame_threadsafe)
        return asyncio.wrap_future(self.display.start(d_ours))

    async def _until_exit(self, awaitable, timeout: float, what: str) -> bool:
        """Await ``awaitable`` unless QEMU exits first; False (and FAILED) on failure."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task, self.process.exited}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if task in done and task.exception() is None:
            return True
        if not task.done():
            task.cancel()
        if self.process.exited.done() or await self.process.wait(1.0) is not None:
            return False  # _watch_exit reports the exit with QEMU's own words
        if task in done:
            exc = task.exception()
            reason = str(exc) if isinstance(exc, (DisplayError, MonitorError)) else \
                f"{what} failed: {exc or type(exc).__name__}"
        else:
            reason = f"{what} did not answer within {timeout:.0f} s"
        self._fail(reason)
        self.process.kill()
        return False

    # ----------------------------------------------------------------- running

    def _spawn_task(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_frame_threadsafe(self) -> None:  # display thread
        try:
            self._loop_call(self._on_frame)
        except RuntimeError:
            pass

    def _loop_call(self, fn, *args) -> None:
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
        if self._stopping or not self._vm_running:
            return
        if not self._frame_seen:
            return
        if self._state in (TileState.BOOTING, TileState.PAUSED):
            self._report(TileState.RUNNING)

    def _on_display_disabled(self, disabled: bool) -> None:  # display thread
        self._loop_call(self._display_disabled, disabled)

    def _display_disabled(self, disabled: bool) -> None:
        if self._state is TileState.RUNNING and not self._stopping:
            self._report(TileState.RUNNING, "display disabled" if disabled else "")

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
        ``_watch_exit``, so wait briefly for it before reconnecting.  After
        RECONNECT_ATTEMPTS the tile is FAILED with the reason; QEMU is left running
        (a guest must not be taken down by our display), so restart or stop it.
        """
        if await self.process.wait(EXIT_GRACE) is not None or self._stopping:
            return
        await asyncio.to_thread(lost.close)
        self._reconnects += 1
        if self._reconnects > RECONNECT_ATTEMPTS:
            self._fail(f"{reason}; reconnect limit ({RECONNECT_ATTEMPTS}) reached")
            return
        log.warning("%s: %s; reconnecting (%d of %d)", self.ctx.name, reason, self._reconnects,
                    RECONNECT_ATTEMPTS)
        try:
            ready = await self._connect_display()
            await asyncio.wait_for(ready, DISPLAY_TIMEOUT)
        except (DisplayError, MonitorError, asyncio.TimeoutError) as exc:
            if not self._stopping and self.process.alive:
                self._fail(f"{reason}; reconnecting failed: {str(exc) or 'timed out'}")
            return
        log.info("%s: display reconnected", self.ctx.name)

    def _on_event(self, name: str, data: dict) -> None:
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
        elif name == "SHUTDOWN":
            if data.get("guest"):
                self._guest_shutdown = True
                self._report(TileState.STOPPED, "guest powered off")

    async def _watch_exit(self) -> None:
        code = await self.process.exited
        for task in list(self._tasks):
            task.cancel()
        await self._close_clients()
        if self._stopping:
            return
        if self._guest_shutdown and code == 0:
            self._report(TileState.STOPPED, "guest powered off")
        else:
            self._fail(self.process.exit_reason())

    async def _liveness_loop(self) -> None:
        """Ping QMP; a QEMU whose main loop stops answering shows as not responding.

        QEMU's main loop serves QMP, the display and device emulation, so no answer
        within LIVENESS_TIMEOUT means the VM is frozen (SIGSTOP, a deadlock) - or the
        host is so overloaded that QEMU did not get the CPU.  The two look the same
        from here, so the VM is never killed for it: the tile says so (within
        LIVENESS_PERIOD + LIVENESS_TIMEOUT, 1.5 s), goes back to its state when QEMU
        answers again, and a restart (bounded: quit, then SIGKILL) ends a real hang.
        The timeout is above the 1 s QEMU itself may block on our ScanoutMap reply.
        """
        while True:
            await asyncio.sleep(LIVENESS_PERIOD)
            ping = asyncio.ensure_future(self.monitor.execute("query-status"))
            ping.add_done_callback(_consume)  # it may fail after we stopped waiting for it
            try:
                await asyncio.wait_for(asyncio.shield(ping), LIVENESS_TIMEOUT)
                continue
            except asyncio.TimeoutError:
                pass
            except MonitorError:  # QMP closed: QEMU exiting, reported by _watch_exit
                return
            before, since = self._state, asyncio.get_running_loop().time() - LIVENESS_TIMEOUT
            if self._stopping or not self.process.alive:
                return
            self._report(TileState.FAILED, f"not responding: no answer to QMP for {LIVENESS_TIMEOUT} s "
                         "(frozen, or the host is overloaded); restart ends it")
            try:
                await ping  # as long as it takes; QEMU's exit ends it with an error
            except MonitorError:
                return
            log.info("%s: QEMU answers again after %.1f s", self.ctx.name,
                     asyncio.get_running_loop().time() - since)
            if self._state is TileState.FAILED and not self._stopping:
                self._report(before, "")

    async def _telemetry_loop(self) -> None:
        rate = RateMeter()
        while True:
            display = self.display
            frames = display.stats.frames if display is not None else 0
            cpu = self.telemetry_cpu
            self.telemetry = {"cpu_load": cpu.sample() if cpu is not None else 0.0,
                              "update_rate": rate.sample(frames)}
            await asyncio.sleep(TELEMETRY_PERIOD)

    # ------------------------------------------------------------ lifecycle

    async def command(self, cmd: str, args: dict | None = None, timeout: float = 5.0):
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
        proc = self.process
        if proc is None or proc.exited is None:
            if run_task is not None and not run_task.done():
                run_task.cancel()
                await asyncio.gather(run_task, return_exceptions=True)
            proc = self.process
        if self.display is not None:
            self.display.expect_close()
        if proc is not None and proc.exited is not None and proc.alive:
            if graceful and self.monitor is not None and self.monitor.connected:
                try:
                    await self.monitor.execute("system_powerdown")
                except MonitorError as exc:
                    log.info("%s: %s", self.ctx.name, exc)
                await proc.wait(powerdown_timeout)
            if proc.alive and self.monitor is not None and self.monitor.connected:
                try:
                    await self.monitor.execute("quit", timeout=QUIT_TIMEOUT)
                except MonitorError:
                    pass
                await proc.wait(QUIT_TIMEOUT)
            if proc.alive:
                log.warning("%s: QEMU did not quit, killing it", self.ctx.name)
                proc.kill()
            await proc.wait(KILL_TIMEOUT)
        if run_task is not None and not run_task.done():
            try:
                await asyncio.wait_for(asyncio.shield(run_task), KILL_TIMEOUT)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                run_task.cancel()
        await self._close_clients()

    async def _close_clients(self) -> None:
        display, self.display = self.display, None
        if display is not None:
            await asyncio.to_thread(display.close)
        monitor = self.monitor
        if monitor is not None:
            await monitor.close()


def _consume(task: asyncio.Future) -> None:
    """Mark a task's outcome as seen (asyncio logs exceptions nobody retrieved)."""
    if not task.cancelled():
        task.exception()


def _file_channel(path: Path) -> dict:
    """A QMP migration channel to a file: structured, so no URI escaping of the path."""
    return {"channel-type": "main", "addr": {"transport": "file", "filename": str(path), "offset": 0}}
