"""ZRLE (encoding 16): 64x64 tiles, each raw, solid, packed-palette or run-length, in one zlib stream.

Each rectangle is a 4-byte length and that many bytes of a zlib stream that lasts the
whole connection (the server flushes at the end of each rectangle), so one
:class:`ZrleDecoder` lives as long as the connection.  Pixels are CPIXELs: for our
pixel format the three bytes B, G, R.  Tiles are decoded with numpy where the data
allows (raw, solid, packed palettes); run-length tiles need a Python loop over runs.

Bounds: the compressed length and the decompressed size are capped from the
rectangle's size before anything is allocated, and every read is checked against
the decompressed buffer, so a hostile stream costs at most those caps.
"""

from __future__ import annotations

import zlib

import numpy as np

from .protocol import BYTES_PER_CPIXEL, OPAQUE, RfbError, cpixels_to_bgrx, paint

TILE = 64
_SOLID = 1
_PLAIN_RLE = 128


def max_decompressed(width: int, height: int) -> int:
    """The most bytes a valid ZRLE rectangle of this size decompresses to.

    Per tile: a subencoding byte and at most a 127-colour palette; per pixel at most
    four bytes (a plain run of length one: CPIXEL + one length byte).
    """
    tiles = -(-width // TILE) * -(-height // TILE)
    return tiles * (1 + 127 * BYTES_PER_CPIXEL) + 4 * width * height


def max_compressed(width: int, height: int) -> int:
    """The most compressed bytes we accept for such a rectangle (zlib's worst-case growth)."""
    raw = max_decompressed(width, height)
    return raw + raw // 1000 + 1024


class ZrleDecoder:
    """Decodes ZRLE rectangles of one connection into a BGRX framebuffer."""

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj()

    def decode(self, compressed: bytes, out: np.ndarray) -> None:
        """Decode one rectangle's compressed bytes into ``out`` (an (h, w, 4) view of the framebuffer)."""
        height, width = out.shape[:2]
        limit = max_decompressed(width, height)
        try:
            data = self._zlib.decompress(compressed, limit)
        except zlib.error as exc:
            raise RfbError(f"ZRLE: bad zlib data ({exc})") from None
        if self._zlib.unconsumed_tail:
            raise RfbError(f"ZRLE: {width}x{height} rectangle decompresses to more than {limit} bytes")
        end = decode_tiles(data, out)
        if end != len(data):
            raise RfbError(f"ZRLE: {len(data) - end} bytes left after the last tile of a {width}x{height} "
                           "rectangle")


def decode_tiles(data: bytes, out: np.ndarray) -> int:
    """Decode the tiles of one rectangle from decompressed ``data`` into ``out``; returns bytes used."""
    height, width = out.shape[:2]
    pos = 0
    for ty in range(0, height, TILE):
        for tx in range(0, width, TILE):
            tile = out[ty:ty + TILE, tx:tx + TILE]
            pos = _decode_tile(data, pos, tile)
    return pos


def _need(data: bytes, pos: int, count: int, what: str) -> None:
    if pos + count > len(data):
        raise RfbError(f"ZRLE: data ends inside {what} (needs {count} bytes at {pos}, has {len(data) - pos})")


def _decode_tile(data: bytes, pos: int, tile: np.ndarray) -> int:
    th, tw = int(tile.shape[0]), int(tile.shape[1])
    _need(data, pos, 1, "a tile header")
    sub = data[pos]
    pos += 1
    if sub == 0:  # raw CPIXELs
        count = tw * th
        _need(data, pos, count * BYTES_PER_CPIXEL, "a raw tile")
        tile[:] = cpixels_to_bgrx(data, pos, count).reshape(th, tw, 4)
        return pos + count * BYTES_PER_CPIXEL
    if sub == _SOLID:
        _need(data, pos, BYTES_PER_CPIXEL, "a solid tile")
        tile[:] = cpixels_to_bgrx(data, pos, 1)[0]
        return pos + BYTES_PER_CPIXEL
    if sub <= 16:
        return _packed_palette(data, pos, tile, sub)
    if sub == _PLAIN_RLE:
        return _plain_rle(data, pos, tile)
    if sub >= 130:
        return _palette_rle(data, pos, tile, sub - 128)
    raise RfbError(f"ZRLE: tile subencoding {sub} is not defined")


def _palette(data: bytes, pos: int, size: int) -> np.ndarray:
    _need(data, pos, size * BYTES_PER_CPIXEL, "a tile palette")
    return cpixels_to_bgrx(data, pos, size)


def _packed_palette(data: bytes, pos: int, tile: np.ndarray, size: int) -> int:
    th, tw = int(tile.shape[0]), int(tile.shape[1])
    palette = _palette(data, pos, size)
    pos += size * BYTES_PER_CPIXEL
    bits = 1 if size == 2 else 2 if size <= 4 else 4
    row_bytes = (tw * bits + 7) // 8
    _need(data, pos, row_bytes * th, "packed palette indices")
    rows = np.frombuffer(data, dtype=np.uint8, count=row_bytes * th, offset=pos).reshape(th, row_bytes)
    indices = unpack_indices(rows, bits)[:, :tw]
    if int(indices.max()) >= size:
        raise RfbError(f"ZRLE: palette index {int(indices.max())} in a {size}-colour tile")
    paint(tile, palette, indices)
    return pos + row_bytes * th


def _unpack_table(bits: int) -> np.ndarray:
    """For each byte value, its ``8 // bits`` packed values, most significant first."""
    shifts = np.arange(8 - bits, -1, -bits, dtype=np.uint8)
    return (np.arange(256, dtype=np.uint8)[:, None] >> shifts) & np.uint8((1 << bits) - 1)


_UNPACK = {2: _unpack_table(2), 4: _unpack_table(4)}  # a table look-up beats shifting every byte


def unpack_indices(rows: np.ndarray, bits: int) -> np.ndarray:
    """Packed ``bits``-wide values, most significant first, of each byte row: (h, row_bytes * 8 // bits)."""
    if bits == 1:
        return np.unpackbits(rows, axis=1)
    unpacked: np.ndarray = _UNPACK[bits][rows]
    return unpacked.reshape(rows.shape[0], -1)


def _run_length(data: bytes, pos: int) -> tuple[int, int]:
    """A run length (1 + the sum of bytes up to one that is not 255) and the position after it."""
    length = 1
    end = len(data)
    while True:
        if pos >= end:
            raise RfbError("ZRLE: data ends inside a run length")
        byte = data[pos]
        pos += 1
        length += byte
        if byte != 255:
            return length, pos


def _plain_rle(data: bytes, pos: int, tile: np.ndarray) -> int:
    th, tw = int(tile.shape[0]), int(tile.shape[1])
    total = tw * th
    starts: list[int] = []
    lengths: list[int] = []
    filled = 0
    while filled < total:
        _need(data, pos, BYTES_PER_CPIXEL, "a run's pixel")
        starts.append(pos)
        length, pos = _run_length(data, pos + BYTES_PER_CPIXEL)
        lengths.append(length)
        filled += length
    if filled != total:
        raise RfbError(f"ZRLE: runs cover {filled} pixels of a {tw}x{th} tile")
    # Gather the run colours (three bytes each) and repeat them into the tile.
    raw = np.frombuffer(data, dtype=np.uint8)
    offsets = np.asarray(starts, dtype=np.intp)[:, None] + np.arange(3)
    colours = np.empty((len(starts), 4), dtype=np.uint8)
    colours[:, :3] = raw[offsets]
    colours[:, 3] = OPAQUE
    paint(tile, colours, np.repeat(np.arange(len(lengths)), lengths).reshape(th, tw))
    return pos


def _palette_rle(data: bytes, pos: int, tile: np.ndarray, size: int) -> int:
    th, tw = int(tile.shape[0]), int(tile.shape[1])
    palette = _palette(data, pos, size)
    pos += size * BYTES_PER_CPIXEL
    total = tw * th
    indices: list[int] = []
    lengths: list[int] = []
    filled = 0
    end = len(data)
    while filled < total:
        if pos >= end:
            raise RfbError("ZRLE: data ends inside a palette run")
        byte = data[pos]
        pos += 1
        index = byte & 0x7F
        if index >= size:
            raise RfbError(f"ZRLE: palette index {index} in a {size}-colour run-length tile")
        if byte & 0x80:
            length, pos = _run_length(data, pos)
        else:
            length = 1
        indices.append(index)
        lengths.append(length)
        filled += length
    if filled != total:
        raise RfbError(f"ZRLE: runs cover {filled} pixels of a {tw}x{th} tile")
    paint(tile, palette, np.repeat(np.asarray(indices, dtype=np.intp), lengths).reshape(th, tw))
    return pos
