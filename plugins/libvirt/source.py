"""``LibvirtSource``: a domain that libvirt runs (here or on another host) as a tile's frame source.

(Over 400 lines on purpose: the source's lifecycle, its screen paths and their fallbacks share
one state machine; the connection, display, XML choice and tunnels are their own modules.)

The shell calls :meth:`start` and :meth:`stop` on its main thread; everything else
happens on the libvirt loop (:mod:`.loop`), driven by the shared
:class:`~.connection.Connection` of the tile's URI:

* the connection opens -> look the domain up (by UUID or name), read its state,
  and while it runs open its screen the best way its live XML allows
  (:mod:`.graphics`): D-Bus p2p, VNC (``openGraphicsFD`` here, an SSH tunnel
  remotely), or screenshots;
* a lifecycle event of the domain -> re-read its state (the truth, whatever order
  events and calls finish in) and follow it: a started domain gets its screen, a
  stopped one loses it, the badge says why (:mod:`.states`);
* the connection drops -> the screen closes, the tile says so and when it retries;
  back, it attaches again;
* the screen closes by itself while the domain runs -> it is opened again after 1,
  2, 4 ... 30 seconds.

Capabilities: keyboard, pointer and cursor forward to the current screen
connection (:mod:`.display`); lifecycle (suspend, resume, reset, shutdown, destroy,
start, managed save; plus start and reboot for the libvirt actions) and telemetry
(``cpu_load`` from libvirt's total CPU time) go through libvirt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from geometry_os import api

from . import connection as connections
from . import graphics, loop, states
from .connection import LOST, OPEN, Connection, DomainEvent, Status
from .display import Display
from .display_dbus import DbusDisplay
from .display_screenshot import ScreenshotDisplay
from .display_vnc import VncDisplay
from .errors import LibvirtFailure
from .params import LibvirtParams
from .tunnel import SshTunnel

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
_started: set[LibvirtSource] = set()  # sources between start() and stop(), in any shell of this process


def any_started() -> bool:
    """Whether a libvirt tile is on some map now (any thread): the view follower sleeps otherwise."""
    return bool(_started)
REATTACH = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # seconds before a screen that closed by itself is opened again


class LibvirtSource(api.FrameSource):
    """One libvirt domain on the map; see the module docstring."""

    params: LibvirtParams

    def __init__(self, ctx: api.TileContext, params: LibvirtParams) -> None:
        super().__init__(ctx, params)
        self.capabilities = api.Capabilities(keyboard=self, pointer=self, lifecycle=self, telemetry=self,
                                             cursor=self)
        self.domain_name = params.domain
        self.uuid: str | None = None
        # Read from any thread: values swapped whole.
        self._display: Display | None = None
        self.note = ""  # why the screen is not live, and the XML change that would make it so
        self.domain_state = -1  # libvirt's virDomainState, -1 before it is known
        # Libvirt loop only.
        self._connection: Connection | None = None
        self._domain: Any = None  # libvirt.virDomain
        self._tunnel: SshTunnel | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._again = False  # an event came while a refresh was running
        self._reattach: asyncio.TimerHandle | None = None
        self._failures = 0  # screens that closed by themselves in a row
        self._view: tuple[bool, bool, float | None] = (True, False, None)
        self._running = False

    # ------------------------------------------------------------- the shell's calls
    def start(self) -> None:
        problem = loop.missing()
        if problem is not None:
            self.ctx.report_state(api.TileState.FAILED, problem)
            return
        self.ctx.report_state(api.TileState.BOOTING, f"connecting to {self.params.uri}")
        _started.add(self)
        loop.call_soon(self._start)

    def stop(self) -> None:
        """Close the screen and let go of the connection; the domain itself keeps running."""
        _started.discard(self)
        try:
            loop.submit(self._stop()).result(STOP_TIMEOUT)
        except Exception:
            log.exception("%s: stopping failed", self.ctx.name)
        self.ctx.report_state(api.TileState.STOPPED, "")

    def _start(self) -> None:
        if self._running:
            return
        self._running = True
        self._connection = connections.acquire(self.params.uri)
        self._connection.watch(self)

    async def _stop(self) -> None:
        self._running = False
        self._cancel_pending()
        await self._close_display()
        self._domain = None  # a virDomain keeps its connection open (a remote one: its ssh)
        conn, self._connection = self._connection, None
        if conn is not None:
            conn.unwatch(self)
            await connections.release(conn)

    def _cancel_pending(self) -> None:
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            self._refresh_task = None
        if self._reattach is not None:
            self._reattach.cancel()
            self._reattach = None

    # ------------------------------------------------------------- what libvirt tells
    def connection_changed(self, status: Status) -> None:
        if not self._running:
            return
        if status.state == OPEN:
            self._refresh()
        elif status.state == LOST:
            self._cancel_pending()
            self._domain = None
            self._spawn(self._close_display())
            self.ctx.report_state(api.TileState.FAILED, status.message)
        elif self._display is None:
            self.ctx.report_state(api.TileState.BOOTING, status.message)

    def domain_event(self, event: DomainEvent) -> None:
        if not self._running:
            return
        ours = event.uuid == self.uuid if self.uuid else self.params.domain in (event.name, event.uuid)
        if ours:
            log.debug("%s: event %d/%d", self.ctx.name, event.event, event.detail)
            if event.event == connections.UNDEFINED:
                self._domain = self.uuid = None  # one defined again under this name is a new domain
            self._refresh()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(_log_failure)
        return task

    def _refresh(self) -> None:
        """Re-read the domain's state and follow it: one refresh at a time, and one more after it when
        something happened meanwhile."""
        self._again = True
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = self._spawn(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while self._again and self._running:
            self._again = False
            await self._follow()

    async def _follow(self) -> None:
        conn = self._connection
        if conn is None or not conn.is_open:
            return
        try:
            if self._domain is None:
                self._domain = await conn.lookup(self.uuid or self.params.domain)
                self.uuid, self.domain_name = self._domain.UUIDString(), self._domain.name()
            domain = self._domain
            state, reason = await conn.call(domain.state, 0, domain=self.domain_name)
            saved = state == states.SHUTOFF and bool(await conn.call(domain.hasManagedSaveImage, 0))
            self.domain_state = state
            tile_state, why = states.tile_state(state, reason, saved)
            if state not in states.ACTIVE:
                await self._close_display()
                self.note = ""
            elif self._display is None:
                self.ctx.report_state(api.TileState.BOOTING, "opening the screen")
                await self._open_display(conn, domain)
        except LibvirtFailure as failure:
            if self._domain is None or not conn.is_open:  # the domain or the connection is gone
                await self._close_display()
                self.domain_state = -1
                self.ctx.report_state(api.TileState.FAILED, str(failure))
            else:  # the domain is there but its screen would not open: try again later
                self._screen_failed(str(failure))
            return
        self.ctx.report_state(tile_state, why)

    def _screen_failed(self, reason: str) -> None:
        """The screen closed or would not open while the domain runs: say so, open it again later (1 ... 30 s)."""
        if not self._running or self.domain_state not in states.ACTIVE:
            return
        delay = REATTACH[min(self._failures, len(REATTACH) - 1)]
        self._failures += 1
        self.ctx.report_state(api.TileState.FAILED if self._failures > 1 else api.TileState.BOOTING,
                              f"{reason}; opening the screen again in {delay:.0f} s")
        if self._reattach is not None:
            self._reattach.cancel()
        self._reattach = asyncio.get_running_loop().call_later(delay, self._refresh)

    # ------------------------------------------------------------- the screen
    async def _open_display(self, conn: Connection, domain: Any) -> None:
        """Open the best screen connection; LibvirtFailure (one line) when none opens."""
        import libvirt

        flags = libvirt.VIR_DOMAIN_XML_SECURE if conn.remote else 0  # a remote VNC password is needed
        xml = await conn.call(domain.XMLDesc, flags, domain=self.domain_name)
        plan = graphics.choose(xml, remote=conn.remote, name=self.domain_name, prefer=self.params.graphics)
        owner = _Owner(self)
        try:
            display = await self._connect(conn, domain, plan, owner)
            note = plan.note
        except Exception as exc:  # a live screen that fails falls back to screenshots
            if not plan.live:
                raise LibvirtFailure(f"screenshots failed: {exc}") from None
            log.warning("%s: %s screen failed (%s); falling back to screenshots", self.ctx.name, plan.path, exc)
            note = f"{plan.path} failed: {exc}"
            try:
                display = await self._opened(ScreenshotDisplay(self.ctx.name, self.ctx.mailbox, domain,
                                                               lambda: conn.conn.newStream(0), owner, note))
            except Exception as fallback:
                raise LibvirtFailure(f"{note}; screenshots failed too: {fallback}") from None
        owner.display = display
        self._failures = 0
        self.note = note
        display.set_view(*self._view)
        self._display = display
        log.info("%s: screen of %s through %s%s", self.ctx.name, self.domain_name, display.label,
                 f" ({note})" if note else "")

    async def _opened(self, display: Any, *args: Any) -> Display:
        """``display`` once its ``open(*args)`` finished; closed again when that fails or is cancelled."""
        try:
            await display.open(*args)
        except BaseException:
            await display.close()
            raise
        opened: Display = display
        return opened

    async def _connect(self, conn: Connection, domain: Any, plan: graphics.GraphicsPlan,
                       owner: _Owner) -> Display:
        if plan.path == graphics.DBUS:
            sock = await self._graphics_socket(conn, domain, plan.index, 0)
            return await self._opened(DbusDisplay(self.ctx.name, self.ctx.mailbox, owner), sock)
        if plan.path == graphics.VNC and not conn.remote:
            import libvirt

            sock = await self._graphics_socket(conn, domain, plan.index, libvirt.VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH)
            vnc = VncDisplay(self.ctx.name, self.ctx.mailbox, owner, remote=False, via="local")
            return await self._opened(vnc, sock)
        if plan.path == graphics.VNC:
            return await self._remote_vnc(conn, plan, owner)
        return await self._opened(ScreenshotDisplay(self.ctx.name, self.ctx.mailbox, domain,
                                                    lambda: conn.conn.newStream(0), owner, plan.note))

    async def _graphics_socket(self, conn: Connection, domain: Any, index: int, flags: int) -> socket.socket:
        """``openGraphicsFD`` on this machine only: on a remote connection it cannot pass the fd and
        kills the connection (docs/libvirt.md)."""
        if conn.remote:
            raise LibvirtFailure("openGraphicsFD is never called on a remote connection")
        fd = await conn.call(domain.openGraphicsFD, index, flags, domain=self.domain_name)
        return socket.socket(fileno=fd)

    async def _remote_vnc(self, conn: Connection, plan: graphics.GraphicsPlan, owner: _Owner) -> Display:
        if conn.ssh is None:
            raise LibvirtFailure(f"the VNC display of {self.domain_name} is on another host and {conn.uri} is not "
                                 "an SSH connection: use qemu+ssh:// to reach it through a tunnel")
        self.ctx.runtime_dir.mkdir(parents=True, exist_ok=True)
        tunnel = SshTunnel(conn.ssh, self.ctx.runtime_dir / "vnc.sock", socket=plan.socket, host=plan.host,
                           port=plan.port)
        self._tunnel = tunnel
        try:
            await tunnel.open(conn.uri)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, str(tunnel.local))
            vnc = VncDisplay(self.ctx.name, self.ctx.mailbox, owner, remote=True, password=plan.password,
                             via=f"SSH tunnel to {conn.ssh.host}")
            return await self._opened(vnc, sock)
        except BaseException:
            await self._close_tunnel()
            raise

    def _display_closed(self, owner: _Owner, reason: str) -> None:
        display = self._display
        if display is None or owner.display is not display:
            return  # news of a screen already replaced
        log.info("%s: screen closed: %s", self.ctx.name, reason)
        self._spawn(self._close_display())
        self._screen_failed(reason)

    async def _close_display(self) -> None:
        display, self._display = self._display, None
        if display is not None:
            await display.close()
        await self._close_tunnel()

    async def _close_tunnel(self) -> None:
        tunnel, self._tunnel = self._tunnel, None
        if tunnel is not None:
            await tunnel.close()

    # ------------------------------------------------------------- zoom-aware rate
    def set_view(self, visible: bool, focused: bool, scale: float | None) -> None:
        """How the tile is shown (main thread, a few times a second): the screen fetches accordingly."""
        self._view = (visible, focused, scale)
        display = self._display
        if display is not None:
            display.set_view(visible, focused, scale)

    @property
    def badge(self) -> str:
        """How the screen travels and, when it is not live, why and what to change; without a screen, why
        (the domain's state reason: "shut off", "saved: Start restores it")."""
        display = self._display
        if display is None:
            return self.ctx.reason if self.ctx.state is not api.TileState.FAILED else ""
        return f"{display.label} — {self.note}" if self.note else display.label

    # ------------------------------------------------------------- lifecycle
    @property
    def persistent(self) -> bool:
        """A libvirt domain's disks are the user's: stopping it hard can always lose data."""
        return True

    def _domain_call(self, what: str, call: Callable[[Any], Any]) -> concurrent.futures.Future[Any]:
        async def run() -> None:
            conn, domain = self._connection, self._domain
            if conn is None or domain is None or not conn.is_open:
                raise LibvirtFailure(f"{self.domain_name}: cannot {what}: "
                                     f"{conn.status.message if conn and conn.status.message else 'not connected'}")
            await conn.call(call, domain, domain=self.domain_name)

        return loop.submit(run())

    def pause(self) -> concurrent.futures.Future[Any]:
        return self._domain_call("pause", lambda d: d.suspend())

    def resume(self) -> concurrent.futures.Future[Any]:
        return self._domain_call("resume", lambda d: d.resume())

    def reset(self) -> concurrent.futures.Future[Any]:
        return self._domain_call("reset", lambda d: d.reset(0))

    def powerdown(self, timeout: float | None = None) -> concurrent.futures.Future[Any]:
        """Ask the guest to shut down (ACPI power button).  With ``timeout``, force it off when it is
        still running after that many seconds; without (the default), never: the domain is the user's."""
        def shut_down(domain: Any) -> None:
            domain.shutdown()
            if timeout is None:
                return
            deadline = time.monotonic() + timeout
            while domain.isActive():
                if time.monotonic() > deadline:
                    log.info("%s: still running %.0f s after shutdown; forcing it off", self.domain_name, timeout)
                    domain.destroy()
                    return
                time.sleep(0.2)

        return self._domain_call("shut down", shut_down)

    def force_off(self) -> concurrent.futures.Future[Any]:
        """Stop the domain at once (``virsh destroy``), like pulling the plug."""
        return self._domain_call("force off", lambda d: d.destroy())

    def relaunch(self) -> concurrent.futures.Future[Any]:
        """Start the domain; a running or paused one is forced off first.  A managed save is restored."""
        def relaunch(domain: Any) -> None:
            if domain.isActive():
                domain.destroy()
            domain.create()

        return self._domain_call("start", relaunch)

    def save_and_stop(self) -> concurrent.futures.Future[Any]:
        """Managed save (``virsh managedsave``): memory to disk, domain stopped; the next start continues."""
        return self._domain_call("save", lambda d: d.managedSave(0))

    def start_domain(self) -> concurrent.futures.Future[Any]:
        """Start a stopped domain (restoring its managed save, if it has one)."""
        return self._domain_call("start", lambda d: d.create())

    def reboot(self) -> concurrent.futures.Future[Any]:
        """Ask the guest to reboot (ACPI or its agent, as libvirt chooses)."""
        return self._domain_call("reboot", lambda d: d.reboot(0))

    # ------------------------------------------------------------- telemetry
    def telemetry(self) -> dict[str, float]:
        conn, uuid = self._connection, self.uuid
        if conn is None or uuid is None:
            return {"cpu_load": 0.0}
        return {"cpu_load": conn.cpu_load(uuid)}

    # ------------------------------------------------------------- input and cursor
    @property
    def keyboard_modifiers(self) -> int:
        display = self._display
        return display.keyboard_modifiers if display is not None else 0

    def key_press(self, qnum: int) -> None:
        if (display := self._display) is not None:
            display.key_press(qnum)

    def key_release(self, qnum: int) -> None:
        if (display := self._display) is not None:
            display.key_release(qnum)

    def send_keys(self, events: Sequence[api.KeyEvent]) -> concurrent.futures.Future[None]:
        display = self._display
        if display is None:
            failed: concurrent.futures.Future[None] = concurrent.futures.Future()
            failed.set_exception(ConnectionError(f"{self.domain_name} has no screen connection "
                                                 f"({self.ctx.reason or self.ctx.state.value})"))
            return failed
        return display.send_keys(events)

    @property
    def is_absolute(self) -> bool:
        display = self._display
        return display.is_absolute if display is not None else False

    def mouse_set_abs(self, x: int, y: int) -> None:
        if (display := self._display) is not None:
            display.mouse_set_abs(x, y)

    def mouse_rel(self, dx: int, dy: int) -> None:
        if (display := self._display) is not None:
            display.mouse_rel(dx, dy)

    def mouse_press(self, button: int) -> None:
        if (display := self._display) is not None:
            display.mouse_press(button)

    def mouse_release(self, button: int) -> None:
        if (display := self._display) is not None:
            display.mouse_release(button)

    @property
    def cursor(self) -> api.Cursor | None:
        display = self._display
        return display.cursor if display is not None else None

    @property
    def cursor_pos(self) -> api.CursorPos | None:
        display = self._display
        return display.cursor_pos if display is not None else None


class _Owner:
    """A display's ``on_closed``, tied to that display: news from a screen already replaced is ignored."""

    def __init__(self, source: LibvirtSource) -> None:
        self.source = source
        self.display: Display | None = None

    def __call__(self, reason: str) -> None:  # any thread
        loop.call_soon(self.source._display_closed, self, reason)


def _log_failure(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        exc = task.exception()
        if exc is not None:
            log.error("libvirt tile task failed", exc_info=exc)
