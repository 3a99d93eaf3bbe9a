"""A libvirt domain's ``<graphics type='dbus' p2p='yes'/>`` display: the QEMU plugin's D-Bus client, reused.

``openGraphicsFD`` returns a socket connected to QEMU's display, exactly what the
QEMU plugin hands to its :class:`~geometry_os.plugins.qemu.dbus_display.DisplayClient`
after QMP ``add_client``: frames arrive the same way (shared memory where QEMU >= 9.2
offers it), keys are QEMU key numbers through the client's KeyPacer, the pointer and
cursor work the same.  One difference: libvirtd made the socket, so its kernel
credentials are libvirtd's; we log in with EXTERNAL without a uid (the kernel's
credentials count), which works for root and for members of the libvirt group alike
(sending our own uid is rejected when we are not root).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from collections.abc import Callable, Sequence

from dbus_fast.auth import UID_NOT_SPECIFIED, AuthExternal

from geometry_os import api
from geometry_os.plugins.qemu.dbus_display import DisplayClient

from . import loop
from .display_input import ClientPointer


class DbusDisplay(ClientPointer):
    """Frames and input over QEMU's p2p D-Bus display of one libvirt domain."""

    client: DisplayClient

    def __init__(self, name: str, mailbox: api.FrameMailbox, on_closed: Callable[[str], None]) -> None:
        self.client = DisplayClient(name, mailbox, on_closed=on_closed, auth=AuthExternal(UID_NOT_SPECIFIED))

    async def open(self, sock: socket.socket) -> None:
        """Connect and register the listener (the first frame follows); DisplayError when QEMU refuses."""
        await asyncio.wrap_future(self.client.start(sock))

    @property
    def label(self) -> str:
        return "D-Bus, shared memory" if self.client.transport == "shm" else "D-Bus"

    @property
    def keyboard_modifiers(self) -> int:
        return self.client.keyboard_modifiers

    def key_press(self, qnum: int) -> None:
        if self.client.keys is not None:
            self.client.keys.press(qnum)

    def key_release(self, qnum: int) -> None:
        if self.client.keys is not None:
            self.client.keys.release(qnum)

    def send_keys(self, events: Sequence[api.KeyEvent]) -> concurrent.futures.Future[None]:
        keys = self.client.keys
        if keys is None:
            failed: concurrent.futures.Future[None] = concurrent.futures.Future()
            failed.set_exception(ConnectionError("the D-Bus display is not connected"))
            return failed
        return keys.send(events)

    def set_view(self, visible: bool, focused: bool, scale: float | None) -> None:
        """Nothing to do: QEMU pushes D-Bus frames without flow control; the engine's streaming
        policy decides what is uploaded."""

    async def close(self) -> None:
        self.client.expect_close()
        await loop.blocking(self.client.close)
