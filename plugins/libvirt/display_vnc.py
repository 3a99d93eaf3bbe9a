"""A libvirt domain's VNC display through our RFB client, on a thread of its own.

The socket comes from ``openGraphicsFD`` (this machine) or from an SSH tunnel's
local end (a remote host); either way :class:`VncDisplay` owns it from
:meth:`VncDisplay.open` on.  The client runs on its own asyncio loop and thread,
like the QEMU plugin's D-Bus display: decoding a large update must not delay the
libvirt loop's events, nor another tile's screen.  Encodings follow the transport
(docs/vnc.md, "Decode cost"): on this machine Raw and CopyRect (a copy costs less
than any decompression when the bytes do not cross a network); through a tunnel
Tight first, then ZRLE.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from collections.abc import Callable, Sequence

from geometry_os import api

from . import loop
from .display import update_interval
from .display_input import ClientPointer
from .rfb import Encoding, RfbClient, RfbError, ServerInit

log = logging.getLogger(__name__)

LOCAL_ENCODINGS = (Encoding.RAW, Encoding.COPYRECT)
REMOTE_ENCODINGS = (Encoding.TIGHT, Encoding.ZRLE, Encoding.COPYRECT, Encoding.RAW)
FASTEST = 1 / 60  # seconds between update requests of a focused or full-size tile


class VncDisplay(ClientPointer):
    """Frames and input over VNC for one domain; ``via`` names the transport for the badge."""

    client: RfbClient

    def __init__(self, name: str, mailbox: api.FrameMailbox, on_closed: Callable[[str], None], *,
                 remote: bool, password: str | None = None, via: str = "") -> None:
        self.name = name
        self.via = via
        self.client = RfbClient(mailbox, password=password, encodings=REMOTE_ENCODINGS if remote else LOCAL_ENCODINGS)
        self._on_closed = on_closed
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=f"libvirt-vnc-{name}", daemon=True)
        self._run_task: asyncio.Task[None] | None = None
        self._closing = False

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def open(self, sock: socket.socket) -> ServerInit:
        """Handshake on ``sock`` (owned from now on); RfbError (one line) when the server refuses."""
        self._thread.start()
        ready = asyncio.run_coroutine_threadsafe(self._start(sock), self._loop)
        try:
            return await asyncio.wrap_future(ready)
        except BaseException:
            await self.close()
            raise

    async def _start(self, sock: socket.socket) -> ServerInit:
        server = await self.client.start(sock)
        self._run_task = asyncio.get_running_loop().create_task(self._run())
        log.info("%s: VNC %s, %dx%d%s", self.name, server.name, server.width, server.height,
                 f" ({self.via})" if self.via else "")
        return server

    async def _run(self) -> None:
        reason = "the VNC server closed the connection"
        try:
            await self.client.run()
        except RfbError as exc:
            reason = f"VNC: {exc}"
        except Exception as exc:  # a bug here must still end the display visibly
            log.exception("%s: VNC client failed", self.name)
            reason = f"VNC client failed: {exc}"
        if not self._closing:
            self._on_closed(reason)

    @property
    def label(self) -> str:
        return f"VNC{', ' + self.via if self.via else ''}"

    @property
    def keyboard_modifiers(self) -> int:
        return self.client.keyboard_modifiers

    def key_press(self, qnum: int) -> None:
        self.client.key_press(qnum)

    def key_release(self, qnum: int) -> None:
        self.client.key_release(qnum)

    def send_keys(self, events: Sequence[api.KeyEvent]) -> concurrent.futures.Future[None]:
        # The pacer lives on the client's loop; send() itself is thread-safe.
        return self.client.send_keys(events)

    def set_view(self, visible: bool, focused: bool, scale: float | None) -> None:
        interval = update_interval(visible, focused, scale, FASTEST)
        if interval != self.client.update_interval:
            self.client.set_update_interval(interval)

    async def close(self) -> None:
        """Close the connection and stop the thread (libvirt loop); idempotent."""
        if self._closing:
            return
        self._closing = True
        if self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stop)
            except RuntimeError:  # the loop closed meanwhile
                pass
            await loop.blocking(self._thread.join, 3.0)

    def _stop(self) -> None:
        self.client.close()
        run = self._run_task
        if run is None or run.done():
            self._loop.stop()
        else:
            run.add_done_callback(lambda _: self._loop.stop())
