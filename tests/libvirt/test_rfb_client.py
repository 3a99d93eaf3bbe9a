"""The RFB client against the fake RFB server: handshakes, update flow, resizes, state, input, faults."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

import numpy as np
import pytest

from geometry_os import api
from geometry_os.plugins.libvirt.rfb import client as client_module
from geometry_os.plugins.libvirt.rfb.client import RfbClient
from geometry_os.plugins.libvirt.rfb.des import vnc_auth_response
from geometry_os.plugins.libvirt.rfb.handshake import handshake
from geometry_os.plugins.libvirt.rfb.protocol import PIXEL_FORMAT, PSEUDO_ENCODINGS, Encoding, RfbError
from tests.libvirt import rfb_encoders as enc
from tests.libvirt.conftest import until
from tests.libvirt.fake_rfb_server import client_messages, server_init

# ----------------------------------------------------------------- handshake


def run_handshake(server_bytes: bytes, password: str | None = None) -> tuple[object, bytes]:
    """Handshake against canned server bytes; returns (result or the RfbError, what the client sent)."""
    async def main() -> tuple[object, bytes]:
        ours, theirs = socket.socketpair()
        theirs.sendall(server_bytes)
        theirs.shutdown(socket.SHUT_WR)
        reader, writer = await asyncio.open_connection(sock=ours)
        try:
            result: object = await handshake(reader, writer, password=password)
        except RfbError as exc:
            result = exc
        writer.close()
        await writer.wait_closed()
        theirs.settimeout(5)
        sent = b""
        while chunk := theirs.recv(65536):
            sent += chunk
        theirs.close()
        return result, sent
    return asyncio.run(main())


@pytest.mark.parametrize("offered, answer", [
    (b"RFB 003.003\n", b"RFB 003.003\n"), (b"RFB 003.005\n", b"RFB 003.003\n"), (b"RFB 003.007\n", b"RFB 003.007\n"),
    (b"RFB 003.008\n", b"RFB 003.008\n"), (b"RFB 003.889\n", b"RFB 003.008\n"), (b"RFB 005.000\n", b"RFB 003.008\n"),
])
def test_versions_and_security_none(offered, answer):
    version = answer[4:].decode()
    if version.startswith("003.003"):
        security = struct.pack(">I", 1)  # 3.3: the server decides, no result follows None
    else:
        security = b"\x02\x02\x01" + (b"\x00" * 4 if version.startswith("003.008") else b"")
    result, sent = run_handshake(offered + security + server_init(800, 600, b"desk"))
    assert not isinstance(result, RfbError), result
    assert (result.width, result.height, result.name, result.version) == (800, 600, "desk",
                                                                          (3, int(version[4:7])))
    chose = b"" if version.startswith("003.003") else b"\x01"  # None preferred when no password
    assert sent == answer + chose + b"\x01"  # + ClientInit: shared


@pytest.mark.parametrize("version", [b"RFB 003.003\n", b"RFB 003.007\n", b"RFB 003.008\n"])
def test_vnc_authentication(version):
    challenge = bytes(range(100, 116))
    offer = struct.pack(">I", 2) if version == b"RFB 003.003\n" else b"\x01\x02"
    result, sent = run_handshake(version + offer + challenge + b"\x00" * 4 + server_init(4, 4), password="secret")
    assert not isinstance(result, RfbError), result
    answer = sent[12 + (0 if version == b"RFB 003.003\n" else 1):]
    assert answer == vnc_auth_response("secret", challenge) + b"\x01"


@pytest.mark.parametrize("server_bytes, password, message", [
    (b"HTTP/1.1 400", None, "not an RFB server"),
    (b"RFB 002.000\n", None, "older than 3.3"),
    (b"RFB 003.008\n\x00\x00\x00\x00\x05nope!", None, "server refused the connection: nope!"),
    (b"RFB 003.003\n\x00\x00\x00\x00\x00\x00\x00\x03bad", None, "server refused the connection: bad"),
    (b"RFB 003.008\n\x01\x02", None, "requires VNC authentication and no password was given"),
    (b"RFB 003.008\n\x02\x10\x13", None, r"no supported security type among \[16, 19\]"),
    (b"RFB 003.008\n\x01\x02" + bytes(16) + b"\x00\x00\x00\x01\x00\x00\x00\x05wrong", "pw",
     "authentication failed \\(status 1\\): wrong"),
    (b"RFB 003.007\n\x01\x02" + bytes(16) + b"\x00\x00\x00\x01", "pw", r"authentication failed \(status 1\)$"),
    (b"RFB 003.008\n\x00\xff\xff\xff\xff", None, "refusal reason is 4294967295 bytes, more than the 4096"),
    (b"RFB 003.008\n\x01\x01\x00\x00\x00\x00" + server_init(40000, 10), None,
     "framebuffer size 40000x10 is outside"),
    (b"RFB 003.008\n\x01\x01\x00\x00\x00\x00" + server_init(0, 10), None, "framebuffer size 0x10"),
    (b"RFB 003.008\n\x01\x01\x00\x00\x00\x00" + server_init(8, 8)[:20] + b"\x7f\xff\xff\xff", None,
     "desktop name is 2147483647 bytes"),
    (b"RFB 003.008\n\x01\x01\x00\x00\x00\x00" + server_init(8, 8)[:10], None,
     r"connection closed in ServerInit \(10 of 20 bytes\)"),
])
def test_handshake_failures_are_one_line_errors(server_bytes, password, message):
    result, _ = run_handshake(server_bytes, password)
    assert isinstance(result, RfbError)
    assert "\n" not in str(result)
    with pytest.raises(RfbError, match=message):
        raise result


def test_silent_server_times_out():
    async def main() -> None:
        ours, theirs = socket.socketpair()
        client = RfbClient(api.FrameMailbox())
        with pytest.raises(RfbError, match=r"no RFB handshake within 0\.2 s"):
            await client.start(ours, timeout=0.2)
        theirs.close()
    asyncio.run(main())


# ------------------------------------------------------------ after handshake

def test_pixel_format_encodings_and_first_request(scenario):
    async def body(client, server, mailbox, task):
        await until(lambda: len(client_messages(server.received)) >= 3, "the client's first messages")
        (k1, pixel_format), (k2, encodings), (k3, request) = client_messages(server.received)[:3]
        assert (k1, k2, k3) == (0, 2, 3)
        assert pixel_format == b"\x00\x00\x00\x00" + PIXEL_FORMAT
        count = struct.unpack_from(">H", encodings, 2)[0]
        assert list(struct.unpack_from(f">{count}i", encodings, 4)) == [Encoding.ZRLE, Encoding.RAW,
                                                                       *PSEUDO_ENCODINGS]
        assert request == struct.pack(">BBHHHH", 3, 0, 0, 0, 64, 48)  # non-incremental, whole screen
        frame = mailbox.take()
        assert frame.pixels.shape == (48, 64, 4) and frame.resized
    scenario(body, encodings=[Encoding.ZRLE, Encoding.RAW])


def requests(server) -> list[bytes]:
    return [m for kind, m in client_messages(server.received) if kind == 3]


def test_updates_are_published_and_each_answer_brings_one_request(scenario):
    rng = np.random.default_rng(5)
    image = enc.random_image(rng, 10, 20)

    async def body(client, server, mailbox, task):
        await until(lambda: len(requests(server)) == 1, "the first request")
        mailbox.take()
        server.send(enc.update(enc.raw_rect(3, 4, image)))
        await until(lambda: len(requests(server)) == 2, "a request after the update")
        frame = mailbox.take()
        assert frame.dirty == (3, 4, 20, 10) and not frame.resized
        assert np.array_equal(client.framebuffer[4:14, 3:23], image)
        assert requests(server)[1] == struct.pack(">BBHHHH", 3, 1, 0, 0, 64, 48)  # incremental
        # CopyRect within the screen, overlapping its source
        before = client.framebuffer.copy()
        server.send(enc.update(enc.copyrect(5, 4, 20, 10, 3, 4)))
        await until(lambda: len(requests(server)) == 3, "a request after the CopyRect")
        assert np.array_equal(client.framebuffer[4:14, 5:25], before[4:14, 3:23])
        # pseudo-rectangles alone (QEMU sends them unasked) do not answer the request
        server.send(enc.update(enc.pseudo(Encoding.QEMU_EXTENDED_KEY_EVENT)))
        server.send(enc.update(enc.raw_rect(0, 0, image[:1, :1])))
        await until(lambda: len(requests(server)) == 4, "the request after the next pixels")
        await asyncio.sleep(0.1)
        assert len(requests(server)) == 4
        assert client.stats["RAW"] == 2 and client.stats["COPYRECT"] == 1 and client.stats["updates"] == 4
    scenario(body, update_interval=0)


def test_rate_limit_pause_and_renewal(scenario, monkeypatch):
    monkeypatch.setattr(client_module, "RENEW_AFTER", 0.3)
    pixel = enc.update(enc.raw_rect(0, 0, np.zeros((1, 1, 4), np.uint8)))

    async def body(client, server, mailbox, task):
        loop = asyncio.get_running_loop()
        await until(lambda: len(requests(server)) == 1, "the first request")
        client.set_update_interval(0.25)
        sent_at = loop.time()
        server.send(pixel)
        await until(lambda: len(requests(server)) == 2, "the rate-limited request")
        assert loop.time() - sent_at >= 0.2  # not sooner than the interval after the first request
        client.set_update_interval(float("inf"))  # paused: an answer brings no new request
        server.send(pixel)
        await until(lambda: client.stats["updates"] == 2, "the second update")
        await asyncio.sleep(0.5)
        assert len(requests(server)) == 2
        client.set_update_interval(0)  # resumed at once
        await until(lambda: len(requests(server)) == 3, "the request after resuming")
        # unanswered for RENEW_AFTER: sent again
        await until(lambda: len(requests(server)) == 4, "the renewed request", timeout=2)
        assert requests(server)[3] == requests(server)[2]
        with pytest.raises(ValueError):
            client.set_update_interval(-1)
    scenario(body)


def test_resizes_make_new_arrays_and_ask_for_the_whole_screen(scenario):
    async def body(client, server, mailbox, task):
        await until(lambda: len(requests(server)) == 1, "the first request")
        first = client.framebuffer
        first[:] = 7
        server.send(enc.update(enc.desktop_size(80, 20)))
        await until(lambda: client.framebuffer.shape == (20, 80, 4), "the resize")
        assert client.framebuffer is not first and (client.framebuffer[:20, :64] == 7).all()
        assert (client.framebuffer[:, 64:] == 0).all()
        await until(lambda: len(requests(server)) == 2, "the full request")
        assert requests(server)[1] == struct.pack(">BBHHHH", 3, 0, 0, 0, 80, 20)
        frame = mailbox.take()
        assert frame.resized and frame.pixels is client.framebuffer
        # QEMU answers every full request with ExtendedDesktopSize of the same size: no new array,
        # no new request (that would loop forever)
        second = client.framebuffer
        server.send(enc.update(enc.extended_desktop_size(80, 20)))
        server.send(enc.update(enc.extended_desktop_size(30, 30, reason=1, status=3)))  # a refusal: ignored
        await until(lambda: client.stats["updates"] == 3, "the two updates")
        assert client.framebuffer is second and len(requests(server)) == 2
        server.send(enc.update(enc.extended_desktop_size(16, 8, screens=2)))
        await until(lambda: client.framebuffer.shape == (8, 16, 4), "the extended resize")
    scenario(body)


def test_cursor_pointer_mode_keys_and_leds(scenario):
    image = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    mask = np.array([[1, 0, 1], [0, 1, 0]], bool)

    async def body(client, server, mailbox, task):
        assert client.is_absolute and not client.accepts_key_numbers and client.cursor is None
        server.send(enc.update(enc.cursor_rect(1, 1, image, mask), enc.pseudo(Encoding.QEMU_LED_STATE, payload=b"\x05"),
                               enc.pseudo(Encoding.QEMU_POINTER_MOTION_CHANGE, x=0),
                               enc.pseudo(Encoding.QEMU_EXTENDED_KEY_EVENT)))
        await until(lambda: client.accepts_key_numbers, "the extended key event acknowledgement")
        assert (client.cursor.width, client.cursor.hot_x, client.keyboard_modifiers) == (3, 1, 5)
        assert np.frombuffer(client.cursor.pixels, np.uint8)[4:8].tolist() == [0, 0, 0, 0]
        assert not client.is_absolute
        server.send(enc.update(enc.cursor_rect(0, 0, image[:0, :0], mask[:0, :0])))  # 0x0: hidden
        await until(lambda: client.cursor is None, "the hidden cursor")
    scenario(body)


def input_messages(server, kind: int) -> list[bytes]:
    return [m for k, m in client_messages(server.received) if k == kind]


def test_keys_are_qemu_key_numbers(scenario):
    async def body(client, server, mailbox, task):
        refused = client.send_keys([(True, 0x1E)])
        await until(refused.done, "the refused batch")
        assert "did not accept QEMU extended key events" in str(refused.exception())
        server.send(enc.update(enc.pseudo(Encoding.QEMU_EXTENDED_KEY_EVENT)))
        await until(lambda: client.accepts_key_numbers, "the acknowledgement")
        done = client.send_keys([(True, 0x2A), (True, 0x1E), (False, 0x1E), (False, 0x2A), (True, 0xC8)])
        client.key_release(0xC8)
        await until(done.done, "the batch")
        assert done.exception() is None
        await until(lambda: len(input_messages(server, 255)) == 6, "six key events")
        events = [struct.unpack(">BBHII", m) for m in input_messages(server, 255)]
        assert [(down, keysym, code) for _, _, down, keysym, code in events] == [
            (1, 0, 0x2A), (1, 0, 0x1E), (0, 0, 0x1E), (0, 0, 0x2A), (1, 0, 0xC8), (0, 0, 0xC8)]
    scenario(body, key_interval=0.001)


def test_absolute_pointer_buttons_and_clamping(scenario):
    async def body(client, server, mailbox, task):
        client.mouse_set_abs(10, 20)
        client.mouse_press(0)
        client.mouse_press(2)
        client.mouse_release(0)
        client.mouse_press(3)
        client.mouse_release(3)
        client.mouse_press(5)  # side button: no RFB bit, nothing sent
        client.mouse_set_abs(1000, -5)
        client.mouse_rel(-3, 4)  # plain RFB pointers are absolute: a relative move moves our position
        threading.Thread(target=client.mouse_release, args=(2,)).start()
        await until(lambda: len(input_messages(server, 5)) == 9, "nine pointer events")
        events = [struct.unpack(">BBHH", m)[1:] for m in input_messages(server, 5)]
        assert events == [(0, 10, 20), (1, 10, 20), (5, 10, 20), (4, 10, 20), (12, 10, 20), (4, 10, 20),
                          (4, 63, 0), (4, 60, 4), (0, 60, 4)]
        assert client.cursor_pos == (60, 4, False)
    scenario(body)


def test_relative_pointer(scenario):
    async def body(client, server, mailbox, task):
        server.send(enc.update(enc.pseudo(Encoding.QEMU_POINTER_MOTION_CHANGE, x=0)))
        await until(lambda: not client.is_absolute, "relative mode")
        client.mouse_set_abs(5, 5)  # dropped: the guest's pointer is relative
        client.mouse_rel(5, -3)
        client.mouse_rel(-100000, 100000)
        client.mouse_press(1)
        await until(lambda: len(input_messages(server, 5)) == 3, "three pointer events")
        events = [struct.unpack(">BBHH", m)[1:] for m in input_messages(server, 5)]
        assert events == [(0, 0x7FFF + 5, 0x7FFF - 3), (0, 0, 0xFFFF), (2, 0x7FFF, 0x7FFF)]
        assert client.cursor_pos is None
    scenario(body)


def test_other_server_messages_are_read_and_dropped(scenario):
    async def body(client, server, mailbox, task):
        server.send(enc.bell() + enc.cut_text(b"x" * 200000) + enc.colour_map(0, 3))
        server.send(enc.update(enc.raw_rect(0, 0, np.full((1, 1, 4), 9, np.uint8))))
        await until(lambda: client.stats["RAW"] == 1, "the update after them")
        assert client.framebuffer[0, 0].tolist() == [9, 9, 9, 9]
        server.close()  # a close between messages is a clean end
        await asyncio.wait_for(task, 5)
    scenario(body)


@pytest.mark.parametrize("data, message", [
    (b"\x07", "unknown server message type 7"),
    (enc.update(enc.rect_header(0, 0, 1, 1, 5)), "rectangle in unknown encoding 5"),
    (enc.update(enc.raw_rect(60, 0, np.zeros((1, 5, 4), np.uint8))),
     "RAW \\(0\\) rectangle 5x1 at 60,0 is outside the 64x48 framebuffer"),
    (enc.update(enc.copyrect(0, 0, 10, 10, 60, 0)), "CopyRect source 10x10 at 60,0 is outside"),
    (enc.update(enc.rect_header(0, 0, 4, 4, Encoding.ZRLE) + b"\xff\xff\xff\xff"), "4294967295 compressed bytes"),
    (enc.update(enc.rect_header(0, 0, 2000, 2000, Encoding.CURSOR)), "cursor of 2000x2000 pixels"),
    (enc.update(enc.desktop_size(0, 5)), "desktop resize: framebuffer size 0x5"),
    (struct.pack(">B3xI", 3, 0x80000010), "ServerCutText of 2147483664 bytes"),
    (enc.update(enc.rect_header(0, 0, 4, 4, Encoding.RAW)) + b"\x00" * 10, "connection closed in Raw pixels"),
    (enc.update(count=2), "connection closed in rectangle header"),
])
def test_malformed_messages_end_the_connection_with_a_named_error(scenario, data, message):
    async def body(client, server, mailbox, task):
        server.send(data)
        server.close()
        with pytest.raises(RfbError, match=message):
            await asyncio.wait_for(task, 5)
        with pytest.raises(ConnectionError):  # closed: keys fail
            await asyncio.wrap_future(client.send_keys([(True, 1)]))
    scenario(body)


def test_last_rect_ends_an_update_early(scenario):
    async def body(client, server, mailbox, task):
        pixel = np.full((1, 1, 4), 3, np.uint8)
        server.send(enc.update(enc.raw_rect(1, 1, pixel), enc.pseudo(Encoding.LAST_RECT), count=0xFFFF))
        server.send(enc.update(enc.raw_rect(2, 2, pixel)))
        await until(lambda: client.stats["RAW"] == 2, "both updates")
        assert client.stats["LAST_RECT"] == 1
    scenario(body)


def test_only_pixel_encodings_can_be_chosen():
    with pytest.raises(ValueError):
        RfbClient(api.FrameMailbox(), encodings=[Encoding.CURSOR])
    with pytest.raises(ValueError):
        RfbClient(api.FrameMailbox(), encodings=[])


def test_close_during_a_message_ends_run_cleanly(scenario):
    async def body(client, server, mailbox, task):
        server.send(enc.update(enc.rect_header(0, 0, 64, 48, Encoding.RAW)) + b"\x00" * 100)  # a partial rect
        await until(lambda: client.stats["RAW"] == 1, "the start of the rectangle")
        client.close()
        assert await asyncio.wait_for(task, 5) is None
    scenario(body)
