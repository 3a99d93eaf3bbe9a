"""``QemuSource``: a QEMU virtual machine as a tile's frame source.

The shell calls :meth:`start`/:meth:`stop`/:meth:`restart` on the main thread;
the work happens on the backend loop (:mod:`.backend`, QMP and process) and the
VM's display thread (:mod:`.dbus_display`, frames).  Optional capabilities the
shell discovers with ``getattr``:

* lifecycle: :meth:`pause`, :meth:`resume`, :meth:`reset`, :meth:`powerdown`
  (return a ``concurrent.futures.Future``; never block);
* input: :meth:`key_press` ... :meth:`mouse_release`, :attr:`is_absolute`,
  :attr:`keyboard_modifiers` (queued to the display thread; never block; keys fall
  back to QMP ``input-send-event`` while the D-Bus display is not connected);
* cursor: :attr:`cursor` (:class:`~.dbus_display.Cursor` or None) and
  :attr:`cursor_pos` (:class:`~.dbus_display.CursorPos` or None);
* :meth:`telemetry` -> ``{"cpu_load": 0..1, "update_rate": frames/s}``.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from geometry_os import rundir
from geometry_os.tiles import FrameSource, TileContext, TileState

from . import backend, registry
from .dbus_display import Cursor, CursorPos, DisplayClient
from .params import QemuParams, media
from .process import KILL_TIMEOUT, QUIT_TIMEOUT
from .session import POWERDOWN_TIMEOUT, VmSession
from .vmstate import SAVE_TIMEOUT

log = logging.getLogger(__name__)

_STOP_MARGIN = 5.0


class QemuSource(FrameSource):
    """Runs one QEMU VM and publishes its screen to the tile's mailbox."""

    params: QemuParams

    def __init__(self, ctx: TileContext, params: QemuParams) -> None:
        super().__init__(ctx, params)
        self._lock = threading.Lock()
        self._session: VmSession | None = None

    # --------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Spawn QEMU and its display client in the background; returns at once.

        With ``resume`` and a state saved by the last run, QEMU continues from it.
        """
        registry.install_signal_handlers()  # no-op off the main thread or when done
        with self._lock:
            if self._session is not None and self._session.active:
                return
            saved = self.state_file() if self.params.resume else None
            session = VmSession(self.ctx, self.params, self._report,
                                resume_from=saved if saved is not None and saved.exists() else None)
            self._session = session
        session.booting()
        backend.call_soon(session.start)

    def stop(self) -> None:
        """Stop QEMU (ACPI power-off first when ``persistent``) and wait for it.

        Idempotent; joins the display thread.  Bounded: QEMU that ignores
        ``quit`` is killed.
        """
        with self._lock:
            session, self._session = self._session, None
        if session is None:
            return
        if self.params.resume and self._save(session):
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
            self.ctx.report_state(TileState.STOPPED, "stopped")
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
        if not session.active or self.ctx.state not in (TileState.RUNNING, TileState.PAUSED):
            return False
        path = self.state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            backend.submit(session.save_state(path)).result(SAVE_TIMEOUT + _STOP_MARGIN)
        except Exception as exc:  # the VM then stops the usual way
            log.error("%s: could not save its state (%s); stopping it instead", self.ctx.name, exc)
            path.unlink(missing_ok=True)
            return False
        session.active = False
        return True

    def restart(self) -> None:
        self.stop()
        self.start()

    def _report(self, state: TileState, reason: str) -> None:
        self.ctx.report_state(state, reason)

    def _submit(self, name: str, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        session = self._session
        if session is None:
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.set_exception(RuntimeError(f"{self.ctx.name} is not running"))
            return future
        return backend.submit(getattr(session, name)(*args, **kwargs))

    def qmp(self, cmd: str, args: dict | None = None, timeout: float = 5.0) -> concurrent.futures.Future:
        """Run any QMP command; the future holds QEMU's answer."""
        return self._submit("command", cmd, args, timeout)

    def pause(self) -> concurrent.futures.Future:
        return self.qmp("stop")

    def resume(self) -> concurrent.futures.Future:
        return self.qmp("cont")

    def reset(self) -> concurrent.futures.Future:
        return self.qmp("system_reset")

    def powerdown(self) -> concurrent.futures.Future:
        """ACPI power-off; ``quit`` after a timeout, then SIGKILL."""
        return self._submit("powerdown")

    # ----------------------------------------------------------------- queries

    @property
    def session(self) -> VmSession | None:
        return self._session

    @property
    def display(self) -> DisplayClient | None:
        session = self._session
        return session.display if session is not None else None

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
    def cursor(self) -> Cursor | None:
        display = self.display
        return display.cursor if display is not None else None

    @property
    def cursor_pos(self) -> CursorPos | None:
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
        self._key(qnum, down=True)

    def key_release(self, qnum: int) -> None:
        self._key(qnum, down=False)

    def _key(self, qnum: int, down: bool) -> None:
        """Through the D-Bus Keyboard; over QMP ``input-send-event`` while it is not there."""
        display = self.display
        if display is not None and display.console_id is not None:
            (display.key_press if down else display.key_release)(qnum)
            return
        event = {"type": "key", "data": {"down": down, "key": {"type": "number", "data": int(qnum)}}}
        future = self.qmp("input-send-event", {"events": [event]})
        future.add_done_callback(self._log_input_failure)

    def _log_input_failure(self, future: concurrent.futures.Future) -> None:
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
