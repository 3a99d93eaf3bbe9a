"""The no-Hello dbus-fast subclass against a real QEMU ``-display dbus,p2p=yes``."""

from __future__ import annotations

import asyncio
import socket
import subprocess

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.__version__ import __version__ as dbus_fast_version
from qemu.qmp import QMPClient

from geometry_os.plugins.qemu.p2p_bus import TESTED_DBUS_FAST, P2PMessageBus

pytestmark = pytest.mark.qemu


def test_dbus_fast_is_the_tested_version():
    # P2PMessageBus relies on dbus-fast internals; a new version needs this file's
    # QEMU test to pass before TESTED_DBUS_FAST is bumped.
    assert dbus_fast_version == TESTED_DBUS_FAST


def test_getall_vm_over_p2p_without_hello(qemu_binary):
    async def main() -> dict:
        qmp_ours, qmp_theirs = socket.socketpair()
        proc = subprocess.Popen(
            [qemu_binary, "-accel", "tcg", "-M", "pc", "-m", "32", "-display", "dbus,p2p=yes",
             "-chardev", f"socket,id=qmp,fd={qmp_theirs.fileno()}",
             "-mon", "chardev=qmp,mode=control", "-nic", "none", "-serial", "none",
             "-monitor", "none", "-parallel", "none", "-S"],
            pass_fds=[qmp_theirs.fileno()], stderr=subprocess.DEVNULL)
        qmp_theirs.close()
        qmp = QMPClient("p2p-test")
        try:
            await asyncio.wait_for(qmp.connect(qmp_ours), 10)
            ours, theirs = socket.socketpair()
            qmp.send_fd_scm(theirs.fileno())
            await qmp.execute("getfd", {"fdname": "d"})
            await qmp.execute("add_client", {"protocol": "@dbus-display", "fdname": "d"})
            theirs.close()
            bus = P2PMessageBus(ours)
            await asyncio.wait_for(bus.connect(), 5)
            assert bus.connected
            reply = await asyncio.wait_for(bus.call(Message(
                path="/org/qemu/Display1/VM", interface="org.freedesktop.DBus.Properties",
                member="GetAll", signature="s", body=["org.qemu.Display1.VM"])), 5)
            assert reply.message_type is MessageType.METHOD_RETURN, reply.body
            bus.disconnect()
            return {k: v.value for k, v in reply.body[0].items()}
        finally:
            proc.kill()
            proc.wait()
            await qmp.disconnect()

    props = asyncio.run(main())
    assert props["Name"].startswith("QEMU")
    assert list(props["ConsoleIDs"]) == [0]
