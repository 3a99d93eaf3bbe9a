"""One libvirt connection per URI, shared by every tile and grid that uses it; reconnects with back-off.

A :class:`Connection` lives on the libvirt loop (:mod:`.loop`).  It opens the URI on
the call pool (never on the map's thread: an unreachable host can take minutes to
give up), registers for domain lifecycle events and for the connection's close,
and from then on tells its watchers (:class:`Watcher`: the tiles' sources, the
domain grids) what happens: the connection's status (connecting, open, lost with the
reason and when it retries, each as one line), and every domain lifecycle event.
When the connection drops (libvirtd restarted, the SSH link broke, the keepalive
gave up) it reconnects after 1, 2, 4 ... 30 seconds.

It also samples every active domain's total CPU time once a second (one
``getAllDomainStats`` for all of them) for the tiles' ``cpu_load``: per-host-CPU
statistics fail on cgroup v2, the total works everywhere.

:func:`acquire` and :func:`release` share connections by URI (reference counted).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuid_module
from typing import Any, NamedTuple, Protocol

import attrs

from . import loop
from .errors import LibvirtFailure, describe
from .uri import ParsedUri, for_gui, parse

log = logging.getLogger(__name__)

BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # seconds before the next attempt to connect
KEEPALIVE = (5, 3)  # seconds between keepalive probes, probes missed before the connection counts as lost
STATS_INTERVAL = 1.0

CONNECTING, OPEN, LOST = "connecting", "open", "lost"

# libvirt's lifecycle event numbers (virDomainEventType), named for our own use.
DEFINED, UNDEFINED, STARTED, SUSPENDED, RESUMED, STOPPED, SHUTDOWN, PMSUSPENDED, CRASHED = range(9)
_CLOSE_REASONS = {0: "an error on the connection", 1: "the other end closed it", 2: "the keepalive timed out",
                  3: "closed by us"}


@attrs.frozen
class Status:
    """Where a connection stands; ``message`` is one line for a badge (empty when open)."""

    state: str
    message: str = ""


class DomainEvent(NamedTuple):
    uuid: str
    name: str
    event: int
    detail: int


class Watcher(Protocol):
    """What a connection tells; both run on the libvirt loop and must not block."""

    def connection_changed(self, status: Status) -> None: ...

    def domain_event(self, event: DomainEvent) -> None: ...


class Connection:
    """A shared libvirt connection; create with :func:`acquire`.  Libvirt loop only, except the
    ``status`` and ``cpu_load`` reads."""

    def __init__(self, uri: str) -> None:
        self.parsed: ParsedUri = parse(uri)
        self.uri = uri
        self.ssh = self.parsed.ssh_target()
        self.status = Status(CONNECTING, f"connecting to {uri}")
        self.conn: Any = None  # libvirt.virConnect while open
        self._event_id: int | None = None  # its lifecycle event subscription
        self._watchers: list[Watcher] = []
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._stats_task: asyncio.Task[None] | None = None
        self._cpu: dict[str, float] = {}  # uuid -> 0..1, swapped whole
        self._cpu_seen: dict[str, tuple[float, int]] = {}  # uuid -> (time, cpu.time ns) of the last sample
        self.refs = 0

    @property
    def remote(self) -> bool:
        return self.parsed.remote

    @property
    def is_open(self) -> bool:
        return self.status.state == OPEN and self.conn is not None

    # ------------------------------------------------------------- watchers
    def watch(self, watcher: Watcher) -> None:
        """Add a watcher; it hears the current status at once."""
        self._watchers.append(watcher)
        watcher.connection_changed(self.status)

    def unwatch(self, watcher: Watcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)

    def _tell(self, what: str, *args: Any) -> None:
        for watcher in list(self._watchers):
            try:
                getattr(watcher, what)(*args)
            except Exception:  # one broken watcher must not starve the others
                log.exception("libvirt watcher %r failed on %s", watcher, what)

    def _set_status(self, status: Status) -> None:
        self.status = status
        log.log(logging.INFO if status.state != LOST else logging.WARNING, "%s: %s%s", self.uri, status.state,
                f" ({status.message})" if status.message else "")
        self._tell("connection_changed", status)

    # ------------------------------------------------------------- running
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"libvirt {self.uri}")

    async def _run(self) -> None:
        attempt = 0
        while not self._closed:
            self._set_status(Status(CONNECTING, f"connecting to {self.uri}"))
            try:
                self.conn = await loop.blocking(self._open)
            except Exception as exc:
                message = describe(exc, self.uri, self.ssh)
                await self._back_off(message, attempt)
                attempt += 1
                continue
            attempt = 0
            self._lost.clear()
            self._set_status(Status(OPEN))
            self._stats_task = asyncio.get_running_loop().create_task(self._sample_cpu())
            await self._lost.wait()
            self._stats_task.cancel()
            conn, self.conn = self.conn, None
            await loop.blocking(_close_quietly, conn, self._event_id)
            if not self._closed:
                await self._back_off(f"connection to {self.parsed.host or 'libvirtd'} lost ({self._lost_reason})", 0)
                attempt = 1

    async def _back_off(self, message: str, attempt: int) -> None:
        delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
        self._set_status(Status(LOST, f"{message}; retrying in {delay:.0f} s"))
        await asyncio.sleep(delay)

    def _open(self) -> Any:
        """Open the URI and subscribe to its events (call pool)."""
        import libvirt

        conn = libvirt.open(for_gui(self.uri))
        try:
            conn.registerCloseCallback(self._on_close, None)
            self._event_id = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                         self._on_lifecycle, None)
            conn.setKeepAlive(*KEEPALIVE)
        except BaseException:
            _close_quietly(conn)
            raise
        log.info("%s: connected to %s", self.uri, conn.getHostname() if self.remote else "this machine")
        return conn

    # libvirt's event thread: hand over to the loop at once.
    def _on_close(self, conn: Any, reason: int, opaque: Any) -> None:
        loop.call_soon(self._mark_lost, _CLOSE_REASONS.get(reason, f"reason {reason}"))

    def _on_lifecycle(self, conn: Any, dom: Any, event: int, detail: int, opaque: Any) -> None:
        loop.call_soon(self._tell, "domain_event", DomainEvent(dom.UUIDString(), dom.name(), event, detail))

    def _mark_lost(self, reason: str) -> None:
        self._lost_reason = reason
        self._lost.set()

    def lost(self, reason: str) -> None:
        """A call found the connection dead before libvirt's close callback did: reconnect."""
        if self.is_open:
            self._mark_lost(reason)

    async def close(self) -> None:
        """Stop reconnecting and close the connection (last :func:`release`)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        if self._stats_task is not None:
            self._stats_task.cancel()
        conn, self.conn = self.conn, None
        if conn is not None:
            await loop.blocking(_close_quietly, conn, self._event_id)

    # ------------------------------------------------------------- calls
    async def call(self, fn: Any, *args: Any, domain: str | None = None) -> Any:
        """Run a blocking libvirt call on the pool; a libvirt error becomes a one-line :class:`LibvirtFailure`."""
        try:
            return await loop.blocking(fn, *args)
        except LibvirtFailure:
            raise
        except Exception as exc:
            if _is_libvirt_error(exc) and not _alive(self.conn):
                self.lost(str(exc).splitlines()[0] if str(exc) else "connection closed")
            raise LibvirtFailure(describe(exc, self.uri, self.ssh, domain)) from None

    async def lookup(self, key: str) -> Any:
        """The domain named ``key``, or whose UUID it is; :class:`LibvirtFailure` naming the domains otherwise."""
        conn = self.conn
        if conn is None:
            raise LibvirtFailure(self.status.message or f"not connected to {self.uri}")

        def find() -> Any:
            import libvirt

            try:
                uuid_module.UUID(key)
            except ValueError:
                return conn.lookupByName(key)
            try:
                return conn.lookupByUUIDString(key)
            except libvirt.libvirtError:
                return conn.lookupByName(key)  # a domain may be named like a UUID

        try:
            return await self.call(find, domain=key)
        except LibvirtFailure as failure:
            names = await self.call(lambda: sorted(d.name() for d in conn.listAllDomains(0)))
            raise LibvirtFailure(f"{failure} (domains: {', '.join(names) or 'none'})") from None

    # ------------------------------------------------------------- CPU
    def cpu_load(self, uuid: str) -> float:
        """The domain's CPU use, 0..1 of its vCPUs, from the last samples (0 when unknown); any thread."""
        return self._cpu.get(uuid, 0.0)

    async def _sample_cpu(self) -> None:
        import libvirt

        flags = libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_VCPU
        conn = self.conn

        def sample() -> list[tuple[str, dict[str, Any]]]:
            # virDomain objects stay in this thread: each holds the connection (and a remote one's ssh) open
            records = conn.getAllDomainStats(flags, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
            return [(dom.UUIDString(), stats) for dom, stats in records]

        while self.is_open and self.conn is conn:
            try:
                self._cpu = self._loads(await loop.blocking(sample), time.monotonic())
            except Exception as exc:  # a dropped connection is noticed by its close callback
                log.debug("%s: CPU statistics failed: %s", self.uri, exc)
            await asyncio.sleep(STATS_INTERVAL)

    def _loads(self, records: list[tuple[str, dict[str, Any]]], now: float) -> dict[str, float]:
        loads: dict[str, float] = {}
        seen: dict[str, tuple[float, int]] = {}
        for uuid, stats in records:
            cpu_ns = stats.get("cpu.time")
            if not isinstance(cpu_ns, int):
                continue
            vcpus = max(1, int(stats.get("vcpu.current", 1) or 1))
            seen[uuid] = (now, cpu_ns)
            last = self._cpu_seen.get(uuid)
            if last is not None and now > last[0] and cpu_ns >= last[1]:
                loads[uuid] = min(1.0, (cpu_ns - last[1]) / 1e9 / (now - last[0]) / vcpus)
        self._cpu_seen = seen
        return loads


def _is_libvirt_error(exc: BaseException) -> bool:
    return hasattr(exc, "get_error_code")


def _alive(conn: Any) -> bool:
    try:
        return conn is not None and bool(conn.isAlive())
    except Exception:
        return False


def _close_quietly(conn: Any, event_id: int | None = None) -> None:
    """Unsubscribe and close (call pool); a connection that is already dead fails each step quietly."""
    if conn is None:
        return
    steps = [conn.unregisterCloseCallback, conn.close]
    if event_id is not None:
        steps.insert(0, lambda: conn.domainEventDeregisterAny(event_id))
    for step in steps:
        try:
            step()
        except Exception as exc:  # the daemon or the connection is gone already
            log.debug("closing %s: a step failed: %r", conn, exc)


# ------------------------------------------------------------------ sharing by URI
_connections: dict[str, Connection] = {}


def acquire(uri: str) -> Connection:
    """The shared connection to ``uri`` (libvirt loop), started on first use."""
    connection = _connections.get(uri)
    if connection is None:
        connection = _connections[uri] = Connection(uri)
        connection.start()
    connection.refs += 1
    return connection


async def release(connection: Connection) -> None:
    """Drop one user of ``connection``; the last one closes it (libvirt loop)."""
    connection.refs -= 1
    if connection.refs <= 0 and _connections.get(connection.uri) is connection:
        del _connections[connection.uri]
        await connection.close()
