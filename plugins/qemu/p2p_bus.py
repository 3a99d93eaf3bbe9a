"""dbus-fast's asyncio ``MessageBus`` driven on an already-connected socket, no Hello.

QEMU's ``-display dbus,p2p=yes`` speaks peer-to-peer D-Bus: there is no bus daemon,
so the client must *not* send ``org.freedesktop.DBus.Hello`` (QEMU answers
UnknownMethod and stock ``MessageBus.connect()`` fails).  dbus-fast has no public
API for this, so :class:`P2PMessageBus` re-does the small part of ``connect()``
that matters (socket setup, SASL as the *client*, start the reader) and skips the
Hello.  On both QEMU connections (the display connection handed over with QMP
``add_client`` and each listener connection handed over with ``RegisterListener``)
QEMU is the SASL *server* and we are the SASL client: GDBus is created with
``G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER`` on QEMU's side of both.

This touches dbus-fast internals (``_MessageWriter``, ``_authenticate``,
``build_message_reader``, ``_sock``/``_stream``/``_fd``), so the version is pinned:
:data:`TESTED_DBUS_FAST` is the one tests/qemu/test_p2p_bus.py exercises against
a real QEMU.  Another version logs a warning and is tried anyway.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from dbus_fast import Message
from dbus_fast.__version__ import __version__ as DBUS_FAST_VERSION
from dbus_fast.aio import message_bus as _aio_bus
from dbus_fast.aio.message_bus import MessageBus
from dbus_fast.aio.message_reader import build_message_reader
from dbus_fast.auth import Authenticator

from . import backend

log = logging.getLogger(__name__)

TESTED_DBUS_FAST = "5.2.0"

# A syntactically valid address nobody connects to: BaseMessageBus.__init__ parses
# an address (and would otherwise look up the session bus, which may not exist).
_UNUSED_ADDRESS = "unix:path=/nonexistent/geometry-os-p2p"

# The name reported as ``unique_name``.  p2p connections have no names; dbus-fast
# only needs a non-empty value to consider itself connected and to write directly.
P2P_NAME = ":p2p"

_version_checked = False

#: Builds a connection's reader callback from (socket, process(message), finalize(exc)).
ReaderFactory = Callable[[socket.socket, Callable[[Message], None], Callable[[Exception | None], None]],
                         Callable[[], None]]


def _check_version() -> None:
    global _version_checked
    if _version_checked:
        return
    _version_checked = True
    if DBUS_FAST_VERSION != TESTED_DBUS_FAST:
        log.warning("dbus-fast %s is untested with the p2p bus (tested: %s); "
                    "the QEMU display may not connect", DBUS_FAST_VERSION, TESTED_DBUS_FAST)


class P2PMessageBus(MessageBus):
    """A dbus-fast bus on a connected stream socket, authenticated, without Hello.

    Create it on the asyncio loop that will run it; call :meth:`connect` once.
    Add message handlers and exports *before* ``connect()`` when the peer may call
    us right after authentication (QEMU's listener connection does).  ``auth`` is
    dbus-fast's EXTERNAL with our uid unless given (a socket made by another process,
    such as libvirtd's ``openGraphicsFD``, carries that process's credentials).
    ``reader`` replaces dbus-fast's message reader once authenticated (the display
    listener's :class:`~.listener_reader.ListenerReader`).
    """

    def __init__(self, sock: socket.socket, *, negotiate_unix_fd: bool = True,
                 auth_timeout: float = 5.0, auth: Authenticator | None = None,
                 reader: ReaderFactory | None = None) -> None:
        _check_version()
        super().__init__(bus_address=_UNUSED_ADDRESS, negotiate_unix_fd=negotiate_unix_fd,
                         auth_timeout=auth_timeout, auth=auth)
        self._p2p_sock = sock
        self._reader_factory = reader
        # A peer that goes away ends this future with an exception; nobody may be
        # awaiting it, so mark it retrieved to keep asyncio from logging noise.
        self._disconnect_future.add_done_callback(backend.consume)

    async def connect(self) -> P2PMessageBus:
        """Authenticate as the SASL client (EXTERNAL, unix fds) and start reading."""
        sock = self._p2p_sock
        sock.setblocking(False)
        self._sock = sock
        self._stream = sock.makefile("rwb")
        self._fd = sock.fileno()
        self._writer = _aio_bus._MessageWriter(self)
        try:
            await self._authenticate()
        except BaseException:
            self._stream.close()
            sock.close()
            self._sock = self._stream = self._fd = self._writer = None
            raise
        # From here on the socket carries D-Bus messages.  No Hello: set the name
        # ourselves, then start the reader and flush anything queued meanwhile.
        self.unique_name = P2P_NAME
        if self._reader_factory is not None:
            reader = self._reader_factory(sock, self._process_message, self._finalize)
        else:
            reader = build_message_reader(self._sock, self._process_message, self._finalize,
                                          self._negotiate_unix_fd)
        self._loop.add_reader(self._fd, reader)
        self._writer.schedule_write()
        return self
