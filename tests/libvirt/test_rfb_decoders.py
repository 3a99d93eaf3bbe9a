"""The RFB decoders on hand-made bytes (each subencoding, each error), then round trips of reference encodings."""

from __future__ import annotations

import asyncio
import zlib

import numpy as np
import pytest

from geometry_os.plugins.libvirt.rfb.cursor import decode_cursor, payload_size
from geometry_os.plugins.libvirt.rfb.des import des_encrypt_block, vnc_auth_response
from geometry_os.plugins.libvirt.rfb.protocol import RfbError
from geometry_os.plugins.libvirt.rfb.tight import TightDecoder, read_compact_length, ungradient
from geometry_os.plugins.libvirt.rfb.zrle import ZrleDecoder, decode_tiles, max_decompressed
from tests.libvirt import rfb_encoders as enc

C0 = bytes([1, 2, 3])  # three pixel bytes on the wire
C1 = bytes([10, 20, 30])
C2 = bytes([100, 110, 120])
C3 = bytes([7, 8, 9])
C4 = bytes([200, 201, 202])
P0, P1, P2, P3, P4 = ([*c, 255] for c in (C0, C1, C2, C3, C4))  # as ZRLE CPIXELs (B, G, R)
T0, T1, T2, T3 = ([c[2], c[1], c[0], 255] for c in (C0, C1, C2, C3))  # as Tight TPIXELs (R, G, B)


def blank(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w, 4), dtype=np.uint8)


def sync_compress(data: bytes, stream: zlib._Compress | None = None) -> bytes:
    stream = stream or zlib.compressobj()
    return stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)


def tight(decoder: TightDecoder, data: bytes, out: np.ndarray) -> int:
    """Decode one Tight rectangle from ``data``; returns how many bytes were left unread."""
    async def main() -> int:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        await decoder.decode(reader, out)
        return len(await reader.read())
    return asyncio.run(main())


# --------------------------------------------------------------------- ZRLE

def test_zrle_solid_and_raw_tiles():
    out = blank(2, 2)
    assert decode_tiles(b"\x01" + C1, out) == 4
    assert (out == P1).all()
    out = blank(1, 2)
    assert decode_tiles(b"\x00" + C0 + C2, out) == 7
    assert out.tolist() == [[P0, P2]]


def test_zrle_packed_palettes_of_1_2_and_4_bits():
    out = blank(2, 3)  # 2 colours: 1 bit per pixel, each row padded to a byte
    decode_tiles(b"\x02" + C0 + C1 + bytes([0b10100000, 0b01000000]), out)
    assert out.tolist() == [[P1, P0, P1], [P0, P1, P0]]
    out = blank(1, 5)  # 3 colours: 2 bits; 5 pixels take 2 bytes
    decode_tiles(b"\x03" + C0 + C1 + C2 + bytes([0b00011001, 0b00000000]), out)
    assert out.tolist() == [[P0, P1, P2, P1, P0]]
    out = blank(1, 3)  # 5 colours: 4 bits
    decode_tiles(b"\x05" + C0 + C1 + C2 + C3 + C4 + bytes([0x40, 0x30]), out)
    assert out.tolist() == [[P4, P0, P3]]


def test_zrle_plain_and_palette_runs():
    out = blank(2, 3)  # runs of 4 and 2: length bytes are length - 1
    decode_tiles(b"\x80" + C0 + b"\x03" + C1 + b"\x01", out)
    assert out.tolist() == [[P0, P0, P0], [P0, P1, P1]]
    out = blank(64, 64)  # one run of 4096: 4095 = 16 * 255 + 15
    decode_tiles(b"\x80" + C2 + b"\xff" * 16 + b"\x0f", out)
    assert (out == P2).all()
    out = blank(1, 4)  # palette runs: a single pixel, then index 1 | 0x80 with a run of 3
    decode_tiles(bytes([130]) + C0 + C1 + b"\x00\x81\x02", out)
    assert out.tolist() == [[P0, P1, P1, P1]]


def test_zrle_tiles_are_64_pixels_left_to_right_then_down():
    out = blank(65, 66)
    data = b"".join([b"\x01" + C0, b"\x01" + C1, b"\x01" + C2, b"\x01" + C3])
    assert decode_tiles(data, out) == len(data)
    assert (out[:64, :64] == P0).all() and (out[:64, 64:] == P1).all()
    assert (out[64:, :64] == P2).all() and (out[64:, 64:] == P3).all()


@pytest.mark.parametrize("data, message", [
    (bytes([17]), "subencoding 17 is not defined"),
    (bytes([129]), "subencoding 129 is not defined"),
    (b"\x03" + C0 + C1 + C2 + bytes([0b11000000, 0]), "palette index 3 in a 3-colour tile"),
    (bytes([130]) + C0 + C1 + b"\x02", "palette index 2 in a 2-colour run-length tile"),
    (b"\x80" + C0 + b"\x06", "runs cover 7 pixels of a 3x2 tile"),
    (b"\x80" + C0 + b"\xff", "data ends inside a run length"),
    (b"\x00" + C0, "data ends inside a raw tile"),
    (b"", "data ends inside a tile header"),
    (b"\x05" + C0, "data ends inside a tile palette"),
])
def test_zrle_malformed_tiles_are_named(data, message):
    with pytest.raises(RfbError, match=message):
        decode_tiles(data, blank(2, 3))


def test_zrle_stream_lasts_the_connection_and_bounds_are_enforced():
    encoder = enc.ZrleEncoder()
    first = encoder.compress(b"\x01" + C0)[4:]
    second = encoder.compress(b"\x01" + C1)[4:]
    decoder = ZrleDecoder()
    out = blank(2, 2)
    decoder.decode(first, out)
    decoder.decode(second, out)
    assert (out == P1).all()
    with pytest.raises(RfbError, match="bad zlib data"):  # the second alone lacks the stream's start
        ZrleDecoder().decode(second, out)
    with pytest.raises(RfbError, match="2 bytes left after the last tile"):
        ZrleDecoder().decode(sync_compress(b"\x01" + C0 + b"\x00\x00"), out)
    bomb = sync_compress(b"\x01" + C0 + b"\x00" * max_decompressed(2, 2))
    with pytest.raises(RfbError, match="decompresses to more than"):
        ZrleDecoder().decode(bomb, out)


@pytest.mark.parametrize("mode, size", [
    (mode, size) for mode in ("raw", "packed", "plain_rle", "palette_rle", "auto")
    for size in ((1, 1), (64, 64), (70, 130), (3, 200))
    if not (size == (1, 1) and mode in ("packed", "palette_rle"))  # one pixel is one colour: a solid tile
])
def test_zrle_round_trip(mode, size):
    rng = np.random.default_rng(sum(size))
    image = enc.random_image(rng, *size, colours=None if mode in ("raw", "plain_rle") else 9)
    out = blank(*size)
    ZrleDecoder().decode(enc.ZrleEncoder().compress(enc.zrle_tiles(image, mode))[4:], out)
    assert np.array_equal(out, image)


# -------------------------------------------------------------------- Tight

def test_tight_fill_and_short_copy():
    out = blank(3, 4)  # TPIXELs are R, G, B on the wire, whatever the pixel format's byte order
    assert tight(TightDecoder(), b"\x80" + bytes([30, 20, 10]) + b"rest", out) == 4
    assert (out == [10, 20, 30, 255]).all()
    out = blank(1, 2)  # 6 bytes of pixels: below 12, sent without zlib
    assert tight(TightDecoder(), b"\x00" + C0 + C1, out) == 0
    assert out.tolist() == [[T0, T1]]


def test_tight_compressed_copy_with_compact_length():
    pixels = C0 + C1 + C2 + C3  # 12 bytes: compressed
    compressed = sync_compress(pixels)
    out = blank(2, 2)
    tight(TightDecoder(), b"\x00" + bytes([len(compressed)]) + compressed, out)
    assert out.tolist() == [[T0, T1], [T2, T3]]


def test_tight_palettes():
    out = blank(2, 3)  # two colours: one bit per pixel, rows padded (stream 1, filter id follows)
    tight(TightDecoder(), bytes([0x50, 1, 1]) + C0 + C1 + bytes([0b10100000, 0b01000000]), out)
    assert out.tolist() == [[T1, T0, T1], [T0, T1, T0]]
    out = blank(1, 4)  # three colours: a byte per pixel
    tight(TightDecoder(), bytes([0x60, 1, 2]) + C0 + C1 + C2 + bytes([2, 0, 1, 2]), out)
    assert out.tolist() == [[T2, T0, T1, T2]]


def test_tight_gradient_filter():
    # 1x3, one value per pixel in every channel: 50, 40, 250 is sent as 50, 40-50, 250-40 (mod 256)
    out = blank(1, 3)
    tight(TightDecoder(), bytes([0x40, 2]) + bytes([50] * 3 + [246] * 3 + [210] * 3), out)
    assert out[..., 0].tolist() == [[50, 40, 250]] and (out[..., 3] == 255).all()
    # 2x2 with a clamped prediction: P(1,1) = clamp(250 + 250 - 200) = 255, so 10 is sent as 11
    diffs = np.array([[200, 50], [50, 11]], dtype=np.uint8)[..., None].repeat(3, axis=2)
    assert ungradient(diffs)[..., 0].tolist() == [[200, 250], [250, 10]]


def test_compact_length_forms():
    async def decode(data: bytes) -> int:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        return await read_compact_length(reader)
    for value in (0, 0x7F, 0x80, 0x3FFF, 0x4000, (1 << 22) - 1):
        assert asyncio.run(decode(enc.compact_length(value))) == value
    assert enc.compact_length((1 << 22) - 1) == b"\xff\xff\xff"


def test_tight_stream_reset_bits():
    encoder = enc.TightEncoder()
    image = enc.random_image(np.random.default_rng(1), 8, 8)
    decoder = TightDecoder()
    out = blank(8, 8)
    tight(decoder, encoder.payload(image, "copy"), out)
    # the server restarts stream 0 and says so: the decoder must restart it too
    tight(decoder, encoder.payload(image[::-1].copy(), "copy", reset=1), out)
    assert np.array_equal(out, image[::-1])
    stale = TightDecoder()
    tight(stale, enc.TightEncoder().payload(image, "copy"), out)
    restarted = enc.TightEncoder().payload(image, "copy")  # a new stream, without the reset bit
    with pytest.raises(RfbError, match="stream 0"):
        tight(stale, restarted, out)


@pytest.mark.parametrize("shape, data, message", [
    ((2, 2), b"\x90", "JPEG rectangle, which this client never asked for"),
    ((2, 2), b"\xa0", "PNG rectangle"),
    ((2, 2), b"\xb0", "compression control 0xb0 is not defined"),
    ((2, 2), b"\x40\x03", "filter 3 is not defined"),
    ((1, 4), bytes([0x60, 1, 2]) + C0 + C1 + C2 + bytes([0, 1, 3, 0]), "palette index 3 with 3 colours"),
    ((2, 2), b"\x00" + bytes([len(sync_compress(b"x" * 13))]) + sync_compress(b"x" * 13),
     "gave 12 or more bytes where"),
    ((2, 2), b"\x00\x05" + b"\x00" * 5, "bad zlib data in stream 0"),
    ((1, 2), b"\x00" + C0, "connection closed in Tight uncompressed data"),
])
def test_tight_malformed_rectangles_are_named(shape, data, message):
    with pytest.raises(RfbError, match=message):
        tight(TightDecoder(), data, blank(*shape))


@pytest.mark.parametrize("mode, colours", [("copy", None), ("palette", 2), ("palette", 5), ("palette", 200),
                                           ("gradient", None), ("fill", 1)])
@pytest.mark.parametrize("size", [(1, 1), (17, 3), (40, 71)])
def test_tight_round_trip(mode, colours, size):
    rng = np.random.default_rng(size[0] * 100 + size[1])
    image = enc.random_image(rng, *size, colours=colours)
    if mode == "palette" and len(np.unique(image.reshape(-1, 4), axis=0)) > 256:
        pytest.skip("more than 256 colours")
    encoder, decoder = enc.TightEncoder(), TightDecoder()
    for _ in range(2):  # twice: the streams carry over
        out = blank(*size)
        assert tight(decoder, encoder.payload(image, mode), out) == 0
        assert np.array_equal(out, image)


# ------------------------------------------------------------------- cursor

def test_cursor_becomes_premultiplied_bgra():
    pixels = bytes([1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 10, 11, 12, 0, 13, 14, 15, 0, 16, 17, 18, 0])  # 3x2
    mask = bytes([0b10100000, 0b01000000])
    assert payload_size(3, 2) == len(pixels) + len(mask)
    cursor = decode_cursor(pixels + mask, 3, 2, 1, 0)
    assert (cursor.width, cursor.height, cursor.hot_x, cursor.hot_y) == (3, 2, 1, 0)
    assert np.frombuffer(cursor.pixels, np.uint8).reshape(2, 3, 4).tolist() == [
        [[1, 2, 3, 255], [0, 0, 0, 0], [7, 8, 9, 255]],
        [[0, 0, 0, 0], [13, 14, 15, 255], [0, 0, 0, 0]],
    ]


# --------------------------------------------------------------------- DES

def test_des_known_answers_and_vnc_key_bit_order():
    assert des_encrypt_block(bytes.fromhex("133457799BBCDFF1"), bytes.fromhex("0123456789ABCDEF")).hex() \
        == "85e813540f0ab405"
    assert des_encrypt_block(bytes.fromhex("0E329232EA6D0D73"), bytes.fromhex("8787878787878787")) == bytes(8)
    challenge = bytes(range(16))
    # VNC reverses each password byte's bits: the password "\x01" is the DES key 80 00 .. 00
    key = bytes([0x80]) + bytes(7)
    assert vnc_auth_response("\x01", challenge) == \
        des_encrypt_block(key, challenge[:8]) + des_encrypt_block(key, challenge[8:])
    assert vnc_auth_response("abcdefgh", challenge) == vnc_auth_response("abcdefgh-ignored", challenge)
    assert vnc_auth_response("abcdefgh", challenge) != vnc_auth_response("abcdefgi", challenge)
