"""Fixtures for the RFB client tests: a scenario runner over the fake RFB server (fault injection)
and, for the tests marked ``qemu``, one real tiny Linux guest per module with its VNC socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from geometry_os import api
from geometry_os.plugins.libvirt.rfb.client import RfbClient
from tests.libvirt.fake_rfb_server import FakeRfbServer, connected
from tests.qemu.conftest import qemu_binary, tiny_linux_iso  # noqa: F401 (fixtures, by name)

Body = Callable[[RfbClient, FakeRfbServer, api.FrameMailbox, "asyncio.Task[None]"], Awaitable[None]]


async def until(predicate: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    """Poll ``predicate`` on the event loop until truthy; AssertionError naming ``what`` on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.005)
    return value


@pytest.fixture
def scenario() -> Callable[..., None]:
    """``scenario(body, width=64, height=48, **client_options)``: a client connected to the fake server,
    its ``run()`` task started, ``body(client, server, mailbox, task)`` awaited, everything closed after."""
    def run(body: Body, width: int = 64, height: int = 48, **options: Any) -> None:
        async def main() -> None:
            mailbox = api.FrameMailbox()
            client = RfbClient(mailbox, **options)
            server = await connected(client, width, height)
            task = asyncio.create_task(client.run())
            try:
                await body(client, server, mailbox, task)
            finally:
                server.close()
                client.close()
                with contextlib.suppress(Exception):
                    await task
        asyncio.run(main())
    return run
