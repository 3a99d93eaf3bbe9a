"""Reference RFB server-side encoders, written from the specification, for tests and benchmarks only.

The client never uses these.  They build the bytes a VNC server sends (rectangles in
Raw, CopyRect, ZRLE and Tight, the pseudo-rectangles, the other server messages) for
images in the client's pixel format (BGRX), so decoder tests can round-trip images
and the fake RFB server (tests/libvirt/fake_rfb_server.py) can speak.  Real QEMU is
the check that these and the client agree with an actual server (test_rfb_qemu.py).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from geometry_os.plugins.libvirt.rfb.protocol import Encoding

TILE = 64


# ------------------------------------------------------------------ messages

def rect_header(x: int, y: int, w: int, h: int, encoding: int) -> bytes:
    return struct.pack(">HHHHi", x, y, w, h, encoding)


def update(*rects: bytes, count: int | None = None) -> bytes:
    """A FramebufferUpdate holding the given rectangles (each header + payload)."""
    return struct.pack(">BxH", 0, len(rects) if count is None else count) + b"".join(rects)


def raw_rect(x: int, y: int, image: np.ndarray) -> bytes:
    h, w = image.shape[:2]
    return rect_header(x, y, w, h, Encoding.RAW) + np.ascontiguousarray(image).tobytes()


def copyrect(x: int, y: int, w: int, h: int, src_x: int, src_y: int) -> bytes:
    return rect_header(x, y, w, h, Encoding.COPYRECT) + struct.pack(">HH", src_x, src_y)


def desktop_size(w: int, h: int) -> bytes:
    return rect_header(0, 0, w, h, Encoding.DESKTOP_SIZE)


def extended_desktop_size(w: int, h: int, reason: int = 0, status: int = 0, screens: int = 1) -> bytes:
    body = struct.pack(">B3x", screens) + b"".join(struct.pack(">IHHHHI", i, 0, 0, w, h, 0) for i in range(screens))
    return rect_header(reason, status, w, h, Encoding.EXTENDED_DESKTOP_SIZE) + body


def cursor_rect(hot_x: int, hot_y: int, image: np.ndarray, mask: np.ndarray) -> bytes:
    """A Cursor pseudo-rectangle: ``image`` (h, w, 4) BGRX and ``mask`` (h, w) bool, True = opaque."""
    h, w = image.shape[:2]
    bits = np.packbits(mask.astype(np.uint8), axis=1) if w else np.zeros((h, 0), np.uint8)
    return rect_header(hot_x, hot_y, w, h, Encoding.CURSOR) + image.tobytes() + bits.tobytes()


def pseudo(encoding: int, x: int = 0, y: int = 0, w: int = 0, h: int = 0, payload: bytes = b"") -> bytes:
    return rect_header(x, y, w, h, encoding) + payload


def bell() -> bytes:
    return b"\x02"


def cut_text(text: bytes) -> bytes:
    return struct.pack(">B3xI", 3, len(text)) + text


def colour_map(first: int, colours: int) -> bytes:
    return struct.pack(">BxHH", 1, first, colours) + b"\x00" * 6 * colours


# --------------------------------------------------------------------- ZRLE

def _cpixels(pixels: np.ndarray) -> bytes:
    """ZRLE CPIXELs: the pixel's three low bytes in memory order (B, G, R)."""
    return np.ascontiguousarray(pixels[..., :3]).tobytes()


def _tpixels(pixels: np.ndarray) -> bytes:
    """Tight TPIXELs: R, G, B."""
    return np.ascontiguousarray(pixels[..., 2::-1]).tobytes()


def _run_length(length: int) -> bytes:
    rest = length - 1
    return b"\xff" * (rest // 255) + bytes([rest % 255])


def _runs(flat: np.ndarray) -> list[tuple[int, int]]:
    """(start index, length) of runs of equal pixels in a (n, 4) array."""
    keys = flat[:, :3].astype(np.uint32) @ np.array([1, 256, 65536], dtype=np.uint32)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    lengths = np.diff(np.r_[starts, len(keys)])
    return list(zip(starts.tolist(), lengths.tolist(), strict=True))


def zrle_tile(tile: np.ndarray, mode: str = "auto") -> bytes:
    """One ZRLE tile; ``mode`` is raw, solid, packed, plain_rle, palette_rle or auto."""
    th, tw = tile.shape[:2]
    flat = tile.reshape(-1, 4)
    colours, inverse = np.unique(flat[:, :3], axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if mode == "auto":  # what a server would pick: the first that fits (raw when runs do not pay)
        mode = ("solid" if len(colours) == 1 else "packed" if len(colours) <= 16
                else "palette_rle" if len(colours) <= 127
                else "plain_rle" if len(_runs(flat)) * 4 < tw * th * 3 else "raw")
    if mode == "raw":
        return b"\x00" + _cpixels(flat)
    if mode == "solid":
        return b"\x01" + _cpixels(flat[:1])
    palette = _cpixels(colours)
    if mode == "packed":
        n = len(colours)
        bits = 1 if n == 2 else 2 if n <= 4 else 4
        per_byte = 8 // bits
        row_bytes = (tw * bits + 7) // 8
        padded = np.zeros((th, row_bytes * per_byte), dtype=np.uint8)
        padded[:, :tw] = inverse.reshape(th, tw)
        shifts = np.arange(8 - bits, -1, -bits, dtype=np.uint8)
        packed = (padded.reshape(th, row_bytes, per_byte) << shifts).sum(axis=2, dtype=np.uint8)
        return bytes([n]) + palette + packed.tobytes()
    runs = _runs(flat)
    if mode == "plain_rle":
        return b"\x80" + b"".join(_cpixels(flat[start:start + 1]) + _run_length(length) for start, length in runs)
    body = []
    for start, length in runs:
        index = int(inverse[start])
        body.append(bytes([index]) if length == 1 else bytes([index | 0x80]) + _run_length(length))
    return bytes([128 + len(colours)]) + palette + b"".join(body)


def zrle_tiles(image: np.ndarray, mode: str = "auto") -> bytes:
    """The uncompressed tile data of one ZRLE rectangle."""
    h, w = image.shape[:2]
    return b"".join(zrle_tile(image[ty:ty + TILE, tx:tx + TILE], mode)
                    for ty in range(0, h, TILE) for tx in range(0, w, TILE))


class ZrleEncoder:
    """ZRLE rectangles of one connection (one zlib stream, flushed after each rectangle)."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj()

    def compress(self, tile_data: bytes) -> bytes:
        """A rectangle's payload: the 4-byte length and the compressed ``tile_data``."""
        data = self._zlib.compress(tile_data) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        return struct.pack(">I", len(data)) + data

    def rect(self, x: int, y: int, image: np.ndarray, mode: str = "auto") -> bytes:
        h, w = image.shape[:2]
        return rect_header(x, y, w, h, Encoding.ZRLE) + self.compress(zrle_tiles(image, mode))


# -------------------------------------------------------------------- Tight

def compact_length(length: int) -> bytes:
    out = bytearray([length & 0x7F])
    if length > 0x7F:
        out[0] |= 0x80
        out.append((length >> 7) & 0x7F)
        if length > 0x3FFF:
            out[1] |= 0x80
            out.append((length >> 14) & 0xFF)
    return bytes(out)


def gradient(image: np.ndarray) -> bytes:
    """Tight's gradient filter of an (h, w, 4) BGRX image: (V - clamp(up + left - upleft)) mod 256 per
    R, G, B component."""
    v = np.zeros((image.shape[0] + 1, image.shape[1] + 1, 3), dtype=np.int16)
    v[1:, 1:] = image[..., 2::-1]
    predicted = np.clip(v[:-1, 1:] + v[1:, :-1] - v[:-1, :-1], 0, 255)
    return ((v[1:, 1:] - predicted) & 0xFF).astype(np.uint8).tobytes()


class TightEncoder:
    """Tight rectangles of one connection (four zlib streams, each flushed after each rectangle)."""

    def __init__(self) -> None:
        self._streams = [zlib.compressobj() for _ in range(4)]

    def _data(self, data: bytes, stream: int) -> bytes:
        if len(data) < 12:
            return data
        compressed = self._streams[stream].compress(data) + self._streams[stream].flush(zlib.Z_SYNC_FLUSH)
        return compact_length(len(compressed)) + compressed

    def payload(self, image: np.ndarray, mode: str, reset: int = 0) -> bytes:
        """The bytes after the rectangle header; ``mode``: fill, copy, palette, gradient.  ``reset``: the
        stream-reset bits to set (those streams restart here too)."""
        for stream in range(4):
            if reset & (1 << stream):
                self._streams[stream] = zlib.compressobj()
        h, w = image.shape[:2]
        flat = image.reshape(-1, 4)
        if mode == "fill":
            return bytes([0x80 | reset]) + _tpixels(flat[:1])
        if mode == "copy":
            return bytes([reset]) + self._data(_tpixels(flat), 0)
        if mode == "gradient":
            return bytes([0x70 | reset, 2]) + self._data(gradient(image), 3)
        colours, inverse = np.unique(flat[:, :3], axis=0, return_inverse=True)
        inverse = inverse.reshape(h, w).astype(np.uint8)
        if len(colours) == 2:
            indices = np.packbits(inverse, axis=1).tobytes()
            stream = 1
        else:
            indices = inverse.tobytes()
            stream = 2
        head = bytes([(0x4 | stream) << 4 | reset, 1, len(colours) - 1]) + _tpixels(colours)
        return head + self._data(indices, stream)

    def rect(self, x: int, y: int, image: np.ndarray, mode: str, reset: int = 0) -> bytes:
        h, w = image.shape[:2]
        return rect_header(x, y, w, h, Encoding.TIGHT) + self.payload(image, mode, reset)


# ------------------------------------------------------------------- images

def bgrx(rgb_rows: list[list[tuple[int, int, int]]]) -> np.ndarray:
    """An (h, w, 4) BGRX image with X = 0xFF from rows of (r, g, b)."""
    image = np.array([[(b, g, r, 0xFF) for r, g, b in row] for row in rgb_rows], dtype=np.uint8)
    return image.reshape(len(rgb_rows), len(rgb_rows[0]) if rgb_rows else 0, 4)


def random_image(rng: np.random.Generator, h: int, w: int, colours: int | None = None) -> np.ndarray:
    """A random opaque BGRX image; with ``colours``, drawn from that many colours in runs."""
    image = np.empty((h, w, 4), dtype=np.uint8)
    if colours is None:
        image[..., :3] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    else:
        palette = rng.integers(0, 256, (colours, 3), dtype=np.uint8)
        runs = rng.integers(0, colours, h * w // 4 + 1).repeat(4)[:h * w]
        image[..., :3] = palette[runs].reshape(h, w, 3)
    image[..., 3] = 0xFF
    return image
