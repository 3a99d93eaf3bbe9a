"""The shared clipboard: QEMU's D-Bus Clipboard protocol with the qemu-vdagent chardev, against a real
QEMU (registration, the serial reset, grabs and releases, requests, refusals), and our side of it
(QEMU's calls on our object, fuzzed).  No guest here runs spice-vdagent, so copying between a guest
and the host is not exercised: docs/qemu.md says which guests need what."""

from __future__ import annotations

import pytest
from dbus_fast import Message, MessageType
from hypothesis import given, settings
from hypothesis import strategies as st

from geometry_os.api import wait_until
from geometry_os.plugins.qemu import actions, clipboard
from geometry_os.plugins.qemu.clipboard import IFACE, MIME, PATH, ClipboardClient, ClipboardError
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.source import QemuSource
from geometry_os.tiles import Tile


def qemu_call(member: str, signature: str, body: list) -> Message:
    return Message(path=PATH, interface=IFACE, member=member, signature=signature, body=body, serial=1)


class NoDisplay:
    """Stands in for the display connection where only QEMU's calls on our object are tested."""

    def add_message_handler(self, handler) -> None:
        self.handler = handler


def test_qemu_calls_on_our_object():
    client = ClipboardClient("vm", NoDisplay())
    client.serial = 9
    assert client.handle(qemu_call("Register", "", [])).message_type is MessageType.METHOD_RETURN
    assert client.serial == 0 and client.resets == 1  # QEMU's Register restarts the serials
    client.handle(qemu_call("Grab", "uuas", [0, 41, [MIME]]))
    assert client.serial == 41 and client.grabs == [(0, 41, [MIME])]
    assert client.handle(qemu_call("Grab", "uuas", [5, 1, [MIME]])).message_type is MessageType.ERROR
    refused = client.handle(qemu_call("Request", "uas", [0, [MIME]]))
    assert refused.message_type is MessageType.ERROR  # the guest owns selection 0: we have nothing to give
    client._offered[1] = "héllo".encode()  # what offer() keeps (tested against QEMU below)
    answer = client.handle(qemu_call("Request", "uas", [1, [MIME]]))
    assert answer.body == [MIME, "héllo".encode()]
    assert client.handle(qemu_call("Request", "uas", [1, ["image/png"]])).message_type is MessageType.ERROR
    assert client.handle(qemu_call("Release", "u", [2])).message_type is MessageType.METHOD_RETURN
    assert client.releases == [2]
    assert client.handle(qemu_call("Grab", "uu", [0, 1])).message_type is MessageType.ERROR


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Register", "Unregister", "Grab", "Release", "Request", "Other"]),
                          st.sampled_from(["", "u", "uas", "uuas", "s"]),
                          st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                          st.lists(st.text(max_size=30), max_size=4)), max_size=20))
def test_fuzz_qemu_calls_never_raise(calls):
    client = ClipboardClient("vm", NoDisplay())
    for member, signature, a, b, mimes in calls:
        body = {"": [], "u": [a], "uas": [a, mimes], "uuas": [a, b, mimes], "s": ["x"]}[signature]
        answer = client.handle(qemu_call(member, signature, body))
        assert answer is False or answer.message_type in (MessageType.METHOD_RETURN, MessageType.ERROR)


@pytest.fixture
def vm(make_ctx, memtest_iso, sources, wait_for):
    """A QEMU with the vdagent clipboard (memtest: no agent; the protocol needs no guest)."""
    source = QemuSource(make_ctx("clip"), QemuParams(iso=str(memtest_iso), accel="tcg", memory=64, clipboard=True))
    sources.append(source)
    source.start()
    wait_for(lambda: source.clipboard is not None, 30, what="the clipboard registered")
    return source


def test_register_grab_release_and_request_against_qemu(vm, wait_for):
    client = vm.clipboard
    assert client.resets >= 1  # QEMU called our Register while taking ours: serials restarted
    with pytest.raises(ClipboardError, match="already registered"):  # one peer only
        vm.display.submit(lambda bus: clipboard._call(bus, "Register", "", [])).result(10)
    with pytest.raises(ClipboardError, match="Empty clipboard"):  # nobody else owns anything
        client.fetch().result(10)
    serial = client.offer("from the host").result(10)
    assert serial == client.serial >= 1
    with pytest.raises(ClipboardError, match="Empty clipboard"):  # our own text is not fetched back
        client.fetch().result(10)
    client.release().result(10)
    wait_for(lambda: 0 in client.releases, 10, what="QEMU's Release of the selection we gave up")
    with pytest.raises(ClipboardError, match="Invalid clipboard selection"):
        client.offer("x", selection=3).result(10)
    assert client.agent is False  # no spice-vdagent in this guest


def test_menu_says_keystrokes_without_an_agent(vm):
    tile = Tile(index=0, spec=None, ctx=vm.ctx, source=vm)
    by_name = {action.name: action for action in actions.ACTIONS}
    assert by_name["vm.clipboard.type"].applies(None, [tile])
    assert not by_name["vm.clipboard.send"].applies(None, [tile])
    vm.clipboard.agent = True  # what QMP's VSERPORT_CHANGE says when spice-vdagent opens its port
    assert by_name["vm.clipboard.send"].applies(None, [tile])
    assert not by_name["vm.clipboard.type"].applies(None, [tile])
    wait_until(lambda: vm.clipboard.registered, 1)
