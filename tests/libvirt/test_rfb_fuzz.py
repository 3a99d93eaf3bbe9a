"""Fuzzing the RFB client: after a valid handshake the fake RFB server sends random and malformed
messages.  The client may only end with RfbError or a clean close, and never writes outside its
framebuffer (each framebuffer is a view inside a guard band that must stay untouched)."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from geometry_os import api
from geometry_os.plugins.libvirt.rfb import client as client_module
from geometry_os.plugins.libvirt.rfb.client import RfbClient
from geometry_os.plugins.libvirt.rfb.protocol import Encoding, RfbError
from geometry_os.plugins.libvirt.rfb.tight import TightDecoder
from geometry_os.plugins.libvirt.rfb.zrle import decode_tiles
from tests.libvirt import rfb_encoders as enc
from tests.libvirt.fake_rfb_server import connected

GUARD = 8
GUARD_BYTE = 0xA5
WIDTH, HEIGHT = 64, 48
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------- strategies



def sometimes(percent: int) -> st.SearchStrategy[bool]:
    return st.integers(0, 99).map(lambda value: value < percent)


# The screen is 64x48: a rectangle at (0..40, 0..24) of up to 24x24 fits; some get any value.
xs = st.one_of(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40), st.integers(0, 0xFFFF))
ys = st.one_of(st.integers(0, 24), st.integers(0, 24), st.integers(0, 24), st.integers(0, 0xFFFF))
sizes = st.one_of(st.integers(0, 24), st.integers(0, 24), st.integers(0, 24), st.integers(0, 0xFFFF))
# Mostly encodings the client knows (pixels more often), sometimes ones it never offered.
encodings = st.sampled_from([*Encoding] * 2 + [Encoding.RAW, Encoding.COPYRECT, Encoding.ZRLE, Encoding.TIGHT] * 4
                            + [2, 5, 6, -1, -32, -260, 0x7FFFFFFF])


@st.composite
def images(draw: st.DrawFn, w: int, h: int) -> np.ndarray:
    seed = draw(st.integers(0, 2**32 - 1))
    colours = draw(st.sampled_from([None, 1, 2, 3, 5, 17, 200]))
    return enc.random_image(np.random.default_rng(seed), h, w, colours)


@st.composite
def rectangles(draw: st.DrawFn, zrle: enc.ZrleEncoder, tight: enc.TightEncoder) -> bytes:
    """One rectangle: a well-formed one for its encoding, or a header followed by random bytes."""
    x, y, w, h, encoding = draw(xs), draw(ys), draw(sizes), draw(sizes), draw(encodings)
    header = enc.rect_header(x, y, w, h, encoding)
    if draw(sometimes(20)) or w * h > 24 * 24:  # random bytes (and no image for huge sizes)
        return header + draw(st.binary(max_size=300))
    if encoding == Encoding.RAW:
        return enc.raw_rect(x, y, draw(images(w, h)))
    if encoding == Encoding.COPYRECT:
        return enc.copyrect(x, y, w, h, draw(xs), draw(ys))
    if encoding == Encoding.ZRLE:
        return zrle.rect(x, y, draw(images(w, h)), draw(st.sampled_from(["raw", "auto"])))
    if encoding == Encoding.TIGHT:
        image = draw(images(w, h))
        mode = draw(st.sampled_from(["fill", "copy", "palette", "gradient"])) if w * h else "copy"
        if mode == "palette" and len(np.unique(image.reshape(-1, 4), axis=0)) > 256:
            mode = "copy"  # a Tight palette holds at most 256 colours
        return tight.rect(x, y, image, mode, reset=draw(st.integers(0, 15)))
    if encoding == Encoding.CURSOR:
        return enc.cursor_rect(x, y, draw(images(w, h)), np.ones((h, w), bool))
    if encoding == Encoding.EXTENDED_DESKTOP_SIZE:
        return enc.extended_desktop_size(w, h, reason=x, status=draw(st.integers(0, 3)),
                                         screens=draw(st.integers(0, 3)))
    if encoding == Encoding.QEMU_LED_STATE:
        return header + bytes([draw(st.integers(0, 255))])
    return header


@st.composite
def server_streams(draw: st.DrawFn) -> bytes:
    """What a server sends after the handshake: a few messages, maybe with one byte changed."""
    zrle, tight = enc.ZrleEncoder(), enc.TightEncoder()
    messages = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["update"] * 6 + ["bell", "cut", "colours", "junk"]))
        if kind == "update":
            rects = [draw(rectangles(zrle, tight)) for _ in range(draw(st.integers(0, 4)))]
            count = draw(st.integers(0, 0xFFFF)) if draw(sometimes(10)) else None  # None: the true count
            messages.append(enc.update(*rects, count=count))
        elif kind == "bell":
            messages.append(enc.bell())
        elif kind == "cut":
            messages.append(enc.cut_text(draw(st.binary(max_size=50))))
        elif kind == "colours":
            messages.append(enc.colour_map(draw(st.integers(0, 300)), draw(st.integers(0, 40))))
        else:
            messages.append(draw(st.binary(min_size=1, max_size=40)))
    stream = bytearray(b"".join(messages))
    if stream and draw(sometimes(30)):
        stream[draw(st.integers(0, len(stream) - 1))] = draw(st.integers(0, 255))
    return bytes(stream)


# ------------------------------------------------------------- guard bands

@contextmanager
def guarded_framebuffers() -> Iterator[list[np.ndarray]]:
    """Every framebuffer the client allocates becomes a view inside a guard band; yields the bands."""
    bands: list[np.ndarray] = []

    def allocate(width: int, height: int) -> np.ndarray:
        band = np.full((height + 2 * GUARD, width + 2 * GUARD, 4), GUARD_BYTE, dtype=np.uint8)
        band[GUARD:-GUARD, GUARD:-GUARD] = 0
        bands.append(band)
        return band[GUARD:-GUARD, GUARD:-GUARD]

    with mock.patch.object(client_module, "new_framebuffer", allocate):
        yield bands


def assert_guards_intact(bands: list[np.ndarray]) -> None:
    for band in bands:
        inner = np.zeros(band.shape[:2], bool)
        inner[GUARD:-GUARD, GUARD:-GUARD] = True
        assert (band[~inner] == GUARD_BYTE).all(), "a write landed outside the framebuffer"


# -------------------------------------------------------------------- tests

@FUZZ
@given(stream=server_streams())
def test_fuzzed_server_never_crashes_the_client_or_escapes_the_framebuffer(stream):
    async def main() -> None:
        mailbox = api.FrameMailbox()
        client = RfbClient(mailbox, key_interval=0.001)
        server = await connected(client, WIDTH, HEIGHT)
        task = asyncio.create_task(client.run())
        server.send(stream)
        server.close()
        try:
            await asyncio.wait_for(task, 10)
            event("clean close")
        except RfbError as exc:
            assert "\n" not in str(exc) and str(exc)
            event(f"RfbError: {str(exc)[:30]}")
        event(f"rectangles decoded: {min(sum(client.stats[e.name] for e in Encoding if e >= 0), 3)}")
        fb = client.framebuffer
        assert fb is not None and fb.dtype == np.uint8 and fb.shape[2] == 4
        assert mailbox.peek_pixels() is fb  # what was published is what the client holds

    with guarded_framebuffers() as bands:
        asyncio.run(main())
        assert bands
        assert_guards_intact(bands)


@FUZZ
@given(data=st.binary(max_size=400), w=st.integers(1, 70), h=st.integers(1, 70))
def test_fuzzed_zrle_tiles(data, w, h):
    with guarded_framebuffers() as bands:
        out = client_module.new_framebuffer(w, h)
        try:
            used = decode_tiles(data, out)
            assert used <= len(data)
        except RfbError:
            pass
        assert_guards_intact(bands)


@st.composite
def tight_rectangles(draw: st.DrawFn) -> bytes:
    """A Tight rectangle whose header is random but whose data, when long, is valid zlib (so the
    fuzzing reaches the filters), or random bytes altogether."""
    control = draw(st.integers(0, 255))
    head = bytes([control]) + draw(st.binary(max_size=3 * 8))
    body = draw(st.binary(max_size=300))
    if draw(st.booleans()):
        compressed = zlib.compress(body)
        body = enc.compact_length(len(compressed)) + compressed
    return head + body


@FUZZ
@given(data=tight_rectangles(), w=st.integers(1, 40), h=st.integers(1, 40))
def test_fuzzed_tight_rectangles(data, w, h):
    async def main(out: np.ndarray) -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        try:
            await TightDecoder().decode(reader, out)
        except RfbError:
            pass

    with guarded_framebuffers() as bands:
        asyncio.run(main(client_module.new_framebuffer(w, h)))
        assert_guards_intact(bands)


def test_guard_band_catches_a_stray_write():
    """The guard check itself: a write past the view's edge (through the band) is reported."""
    with guarded_framebuffers() as bands:
        client_module.new_framebuffer(4, 4)
        assert_guards_intact(bands)
        bands[0][GUARD - 1, GUARD] = 0
        with pytest.raises(AssertionError, match="outside the framebuffer"):
            assert_guards_intact(bands)
