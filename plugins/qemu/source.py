"""``QemuSource``: a QEMU virtual machine as a tile's frame source.

The shell calls :meth:`start`/:meth:`stop`/:meth:`restart` on the main thread;
the work happens on the backend loop (:mod:`.backend`, QMP and process) and the
VM's display thread (:mod:`.dbus_display`, frames).  What else it can do it
declares in :attr:`capabilities` (every protocol of :mod:`geometry_os.api`):

* lifecycle: :meth:`pause`, :meth:`resume`, :meth:`reset`, :meth:`powerdown`,
  :meth:`force_off`, :meth:`relaunch`, :meth:`save_and_stop` (return a
  ``concurrent.futures.Future``; never block) and :attr:`persistent`;
* keyboard and pointer: :meth:`key_press` ... :meth:`mouse_release`,
  :meth:`send_keys`, :attr:`is_absolute`, :attr:`keyboard_modifiers` (queued to the
  display thread; never block).  Keys are paced by the display client's KeyPacer;
  while the D-Bus display is not connected they go over QMP ``input-send-event``,
  paced by this source's own KeyPacer on the backend loop;
* cursor: :attr:`cursor` and :attr:`cursor_pos`;
* telemetry: :meth:`telemetry` -> ``{"cpu_load": 0..1, "update_rate": frames/s}``;
* snapshots: :attr:`snapshots` (:mod:`.snapshots`: save, restore, delete, copy to a fork);
* the serial port: :attr:`serial` (:mod:`.serial`), which a docked console reads; with
  ``display: none`` the tile itself is that console: a :class:`~.terminal_view.TerminalView`
  draws into the tile and is its keyboard and pointer.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from geometry_os import api, rundir

from . import audio_output, backend, images, serial
from .clipboard import ClipboardClient
from .dbus_display import DisplayClient
from .mixer import VmSound
from .params import QemuParams, media
from .process import KILL_TIMEOUT, QUIT_TIMEOUT
from .resize import FollowSize
from .session import POWERDOWN_TIMEOUT, VmSession
from .snapshots import VmSnapshots, store_for
from .terminal_view import TerminalView
from .vmstate import SAVE_TIMEOUT

log = logging.getLogger(__name__)

T = TypeVar("T")

_STOP_MARGIN = 5.0


class QemuSource(api.FrameSource):
    """Runs one QEMU VM and publishes its screen to the tile's mailbox."""

    params: QemuParams

    def __init__(self, ctx: api.TileContext, params: QemuParams) -> None:
        super().__init__(ctx, params)
        self.serial = serial.line_for(ctx.runtime_dir.parent, ctx.name)
        self.console: TerminalView | None = None  # display: none: the tile shows its serial console
        self.console_wanted = params.serial_console and params.display != "none"  # a docked console (channels.py)
        self.follow = FollowSize(ctx.name, lambda: self.display) if params.resize == "follow" else None
        self.sound: VmSound | None = None  # audio: true: its place in the shell's mixer, made at start
        self.snapshots = VmSnapshots(ctx.name, lambda work: self._submit(lambda s: work(s.command)),
                                     lambda: store_for(self.state_file()), params)
        if params.display == "none":
            self.console = TerminalView(ctx.name, self.serial, ctx.mailbox)
            self.capabilities = api.Capabilities(keyboard=self.console, pointer=self.console, lifecycle=self,
                                                 telemetry=self, serial=self.serial, snapshots=self.snapshots)
        else:
            self.capabilities = api.Capabilities(keyboard=self, pointer=self, lifecycle=self, telemetry=self,
                                                 cursor=self, serial=self.serial, snapshots=self.snapshots)
        self._lock = threading.Lock()
        self._session: VmSession | None = None
        self._qmp_keys: api.KeyPacer | None = None  # made on first use: it starts the backend loop
        self._qmp_inputs: set[concurrent.futures.Future[Any]] = set()  # input-send-event calls in flight

    # --------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Spawn QEMU and its display client in the background; returns at once.

        With a state saved by the last run (``resume``) or by :meth:`save_and_stop`, QEMU
        continues from it.
        """
        with self._lock:
            if self._session is not None and self._session.active:
                return
            saved = self.state_file()
            if self.params.audio and self.sound is None:
                self.sound = audio_output.mixer().add(self.ctx.name)
            session = VmSession(self.ctx, self.params, self._report,
                                resume_from=saved if saved.exists() else None, serial=self.serial,
                                sound=self.sound)
            self._session = session
        if self.console is not None:
            self.console.start()
        session.booting()
        backend.call_soon(session.start)

    def stop(self) -> None:
        """Stop QEMU (ACPI power-off first when ``persistent``) and wait for it.

        Idempotent; joins the display thread.  Bounded: QEMU that ignores
        ``quit`` is killed.  With ``resume`` the VM's state is saved instead.
        """
        self._stop(save=self.params.resume)

    def _stop(self, *, save: bool) -> None:
        with self._lock:
            session, self._session = self._session, None
        if self.console is not None:
            self.console.stop()
        if session is None:
            return
        if save and self._save(session):
            return
        timeout = QUIT_TIMEOUT * 2 + KILL_TIMEOUT + _STOP_MARGIN
        if self.params.persistent:
            timeout += POWERDOWN_TIMEOUT
        future = backend.submit(session.stop())
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            log.error("%s: stop did not finish in %.0f s; killing QEMU", self.ctx.name, timeout)
            if session.process is not None:
                session.process.kill()
            session.active = False
            self.ctx.report_state(api.TileState.STOPPED, "stopped")
        except Exception:
            log.exception("%s: stop failed", self.ctx.name)

    def state_file(self) -> Path:
        """Where ``resume`` keeps this VM's saved state: per user, keyed by the tile and
        the files it boots from (the state belongs with its disks)."""
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        key = "\0".join([str(self.ctx.scene_dir), self.ctx.name,
                          *(str(path) for _, path, _ in media(self.params, self.ctx.scene_dir))])
        digest = hashlib.sha1(key.encode()).hexdigest()[:12]
        return base / "geometry-os" / "state" / f"{rundir.safe_name(self.ctx.name)}-{digest}.vmstate"

    def _save(self, session: VmSession) -> bool:
        """Save the VM's state for the next run; False (and a log line) when it could not."""
        if not session.active or self.ctx.state not in (api.TileState.RUNNING, api.TileState.PAUSED):
            return False
        path = self.state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            backend.submit(session.save_state(path)).result(SAVE_TIMEOUT + _STOP_MARGIN)
        except Exception as exc:  # whatever went wrong, the VM then stops the usual way
            log.error("%s: could not save its state (%s); stopping it instead", self.ctx.name, exc)
            path.unlink(missing_ok=True)
            return False
        session.active = False
        return True

    def restart(self) -> None:
        self.stop()
        self.start()

    def relaunch(self) -> concurrent.futures.Future[None]:
        """Stop (without saving) and start again, on a thread of its own; done once it is starting."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def work() -> None:
            try:
                self._stop(save=False)
                self.start()
            except Exception as exc:  # handed to whoever asked, who shows it
                future.set_exception(exc)
            else:
                future.set_result(None)

        threading.Thread(target=work, name=f"geos-restart-{self.ctx.name}", daemon=True).start()
        return future

    def save_and_stop(self) -> concurrent.futures.Future[None]:
        """Save the whole VM to :meth:`state_file` and stop it; the next start resumes it."""
        with self._lock:
            session = self._session
            if session is None or not session.active or \
                    self.ctx.state not in (api.TileState.RUNNING, api.TileState.PAUSED):
                return _failed(RuntimeError(f"{self.ctx.name} is not running"))
            self._session = None
        path = self.state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = backend.submit(session.save_state(path))

        def kept_running(done: concurrent.futures.Future[None]) -> None:
            if done.exception() is not None:  # refused or failed: the VM runs on, still ours
                path.unlink(missing_ok=True)
                with self._lock:
                    if self._session is None:
                        self._session = session

        saved.add_done_callback(kept_running)
        return saved

    def force_off(self) -> concurrent.futures.Future[None]:
        """Quit QEMU at once (killed if it does not quit): no ACPI, no saved state."""
        with self._lock:
            session, self._session = self._session, None
        if session is None:
            return _failed(RuntimeError(f"{self.ctx.name} is not running"))

        async def off() -> None:
            await session.stop(graceful=False)
            self.ctx.report_state(api.TileState.STOPPED, "forced off")

        return backend.submit(off())

    @property
    def persistent(self) -> bool:
        """True when the VM writes to its disk images (``persistent`` with disks)."""
        try:
            return any(writable for _, _, writable in media(self.params, self.ctx.scene_dir))
        except images.ImageError:  # not installed: nothing is written yet
            return False

    def _report(self, state: api.TileState, reason: str) -> None:
        self.ctx.report_state(state, reason)

    def _submit(self, work: Callable[[VmSession], Coroutine[Any, Any, T]]) -> concurrent.futures.Future[T]:
        session = self._session
        if session is None:
            return _failed(RuntimeError(f"{self.ctx.name} is not running"))
        return backend.submit(work(session))

    def qmp(self, cmd: str, args: dict[str, Any] | None = None,
            timeout: float = 5.0) -> concurrent.futures.Future[Any]:
        """Run any QMP command; the future holds QEMU's answer."""
        return self._submit(lambda session: session.command(cmd, args, timeout))

    def pause(self) -> concurrent.futures.Future[Any]:
        return self.qmp("stop")

    def resume(self) -> concurrent.futures.Future[Any]:
        return self.qmp("cont")

    def reset(self) -> concurrent.futures.Future[Any]:
        return self.qmp("system_reset")

    def powerdown(self, timeout: float | None = None) -> concurrent.futures.Future[None]:
        """ACPI power-off; ``quit`` after ``timeout`` s (default POWERDOWN_TIMEOUT), then SIGKILL."""
        wait = POWERDOWN_TIMEOUT if timeout is None else timeout
        return self._submit(lambda session: session.powerdown(wait))

    # ----------------------------------------------------------------- queries

    @property
    def session(self) -> VmSession | None:
        return self._session

    @property
    def display(self) -> DisplayClient | None:
        session = self._session
        return session.display if session is not None else None

    @property
    def clipboard(self) -> ClipboardClient | None:
        """The shared clipboard (``clipboard: true``, once QEMU took our registration)."""
        session = self._session
        clipboard = session.clipboard if session is not None else None
        return clipboard if clipboard is not None and clipboard.registered else None

    @property
    def pid(self) -> int | None:
        session = self._session
        if session is None or session.process is None:
            return None
        return session.process.pid

    def telemetry(self) -> dict[str, float]:
        """Last sample of ``cpu_load`` (0..1) and ``update_rate`` (frames/s); cheap."""
        session = self._session
        if session is None:
            return {"cpu_load": 0.0, "update_rate": 0.0}
        return dict(session.telemetry)

    @property
    def cursor(self) -> api.Cursor | None:
        display = self.display
        return display.cursor if display is not None else None

    @property
    def cursor_pos(self) -> api.CursorPos | None:
        display = self.display
        return display.cursor_pos if display is not None else None

    # ------------------------------------------------------------------- input

    @property
    def is_absolute(self) -> bool:
        display = self.display
        return display.is_absolute if display is not None else False

    @property
    def keyboard_modifiers(self) -> int:
        display = self.display
        return display.keyboard_modifiers if display is not None else 0

    def key_press(self, qnum: int) -> None:
        self._key_pacer().press(qnum)

    def key_release(self, qnum: int) -> None:
        self._key_pacer().release(qnum)

    def send_keys(self, events: Sequence[api.KeyEvent]) -> concurrent.futures.Future[None]:
        """Queue key events; the future is done once the last one was sent to QEMU."""
        return self._key_pacer().send(events)

    def _key_pacer(self) -> api.KeyPacer:
        """The D-Bus Keyboard's (the display client's KeyPacer, shared by live typing and sequences);
        QMP ``input-send-event`` while the display is not connected."""
        display = self.display
        if display is not None and display.connected and display.keys is not None:
            return display.keys
        return self._qmp_key_pacer()

    def _qmp_key_pacer(self) -> api.KeyPacer:
        with self._lock:
            if self._qmp_keys is None:
                self._qmp_keys = api.KeyPacer(backend.loop(), self._send_qmp_key)
            return self._qmp_keys

    def _send_qmp_key(self, pressed: bool, qnum: int) -> None:
        """The QMP KeyPacer's sender (backend loop): one ``input-send-event``, not awaited."""
        session = self._session
        if session is None or not session.active:
            raise ConnectionError(f"{self.ctx.name} is not running")
        event = {"type": "key", "data": {"down": pressed, "key": {"type": "number", "data": qnum}}}
        future = backend.submit(session.command("input-send-event", {"events": [event]}))
        self._qmp_inputs.add(future)
        future.add_done_callback(self._qmp_input_done)

    def _qmp_input_done(self, future: concurrent.futures.Future[Any]) -> None:
        self._qmp_inputs.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.debug("%s: input-send-event failed: %s", self.ctx.name, future.exception())

    def mouse_set_abs(self, x: int, y: int) -> None:
        if (display := self.display) is not None:
            display.mouse_set_abs(x, y)

    def mouse_rel(self, dx: int, dy: int) -> None:
        if (display := self.display) is not None:
            display.mouse_rel(dx, dy)

    def mouse_press(self, button: int) -> None:
        if (display := self.display) is not None:
            display.mouse_press(button)

    def mouse_release(self, button: int) -> None:
        if (display := self.display) is not None:
            display.mouse_release(button)


def _failed(exc: Exception) -> concurrent.futures.Future[Any]:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.set_exception(exc)
    return future
