"""Tight (encoding 7), lossless part: fill, and basic compression with the copy, palette and gradient filters.

A rectangle starts with a compression-control byte: its low four bits reset zlib
streams 0-3, its high four bits say fill (8), JPEG (9), PNG (10) or basic (0-7,
with the stream number in bits 4-5 and "a filter id follows" in bit 6).  Basic data
of fewer than 12 bytes is sent as is, longer data as a compact length (1-3 bytes)
and that many bytes of the chosen zlib stream.  Pixels are TPIXELs: for our pixel
format three bytes in the order R, G, B (unlike ZRLE's CPIXELs, which keep the pixel
format's byte order; a grey-only text screen does not show the difference).

JPEG and PNG are never sent to us: a server may only use them after the client
advertised a JPEG quality level or the tight-png encoding, and we advertise neither.
"""

from __future__ import annotations

import asyncio
import zlib

import numpy as np

from .protocol import BYTES_PER_CPIXEL, OPAQUE, RfbError, paint, read_exactly
from .zrle import unpack_indices

STREAMS = 4
_FILL = 8
_JPEG = 9
_PNG = 10
_FILTER_COPY = 0
_FILTER_PALETTE = 1
_FILTER_GRADIENT = 2
MIN_COMPRESSED = 12  # data shorter than this is sent without zlib


class TightDecoder:
    """Decodes Tight rectangles of one connection (it owns the four zlib streams)."""

    def __init__(self) -> None:
        self._streams = [zlib.decompressobj() for _ in range(STREAMS)]

    async def decode(self, reader: asyncio.StreamReader, out: np.ndarray) -> None:
        """Read one rectangle from ``reader`` into ``out`` (an (h, w, 4) view of the framebuffer)."""
        control = (await read_exactly(reader, 1, "Tight compression control"))[0]
        for stream in range(STREAMS):
            if control & (1 << stream):
                self._streams[stream] = zlib.decompressobj()
        kind = control >> 4
        if kind == _FILL:
            out[:] = tpixels_to_bgrx(await read_exactly(reader, BYTES_PER_CPIXEL, "Tight fill colour"), 1)[0]
        elif kind in (_JPEG, _PNG):
            raise RfbError(f"Tight: {'JPEG' if kind == _JPEG else 'PNG'} rectangle, which this client never asked for")
        elif kind > _PNG:
            raise RfbError(f"Tight: compression control {control:#04x} is not defined")
        else:
            await self._basic(reader, out, stream=kind & 3, has_filter=bool(kind & 4))

    async def _basic(self, reader: asyncio.StreamReader, out: np.ndarray, stream: int, has_filter: bool) -> None:
        height, width = out.shape[:2]
        pixels = width * height
        filter_id = (await read_exactly(reader, 1, "Tight filter id"))[0] if has_filter else _FILTER_COPY
        if filter_id == _FILTER_PALETTE:
            colours = (await read_exactly(reader, 1, "Tight palette size"))[0] + 1
            palette = tpixels_to_bgrx(await read_exactly(reader, colours * BYTES_PER_CPIXEL, "Tight palette"),
                                      colours)
            size = (width + 7) // 8 * height if colours == 2 else pixels
            data = await self._data(reader, size, stream)
            write_palette(data, palette, out)
        elif filter_id in (_FILTER_COPY, _FILTER_GRADIENT):
            data = await self._data(reader, pixels * BYTES_PER_CPIXEL, stream)
            if filter_id == _FILTER_COPY:
                out[:] = tpixels_to_bgrx(data, pixels).reshape(height, width, 4)
            else:
                out[..., 2::-1] = ungradient(np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3))
                out[..., 3] = OPAQUE
        else:
            raise RfbError(f"Tight: filter {filter_id} is not defined")

    async def _data(self, reader: asyncio.StreamReader, size: int, stream: int) -> bytes:
        """``size`` bytes of filtered data: as is when short, else inflated from ``stream``."""
        if size < MIN_COMPRESSED:
            return await read_exactly(reader, size, "Tight uncompressed data")
        length = await read_compact_length(reader)
        compressed = await read_exactly(reader, length, "Tight compressed data")
        inflater = self._streams[stream]
        try:
            data = inflater.decompress(compressed, size)
        except zlib.error as exc:
            raise RfbError(f"Tight: bad zlib data in stream {stream} ({exc})") from None
        if len(data) != size or inflater.unconsumed_tail:
            more = " or more" if inflater.unconsumed_tail else ""
            raise RfbError(f"Tight: stream {stream} gave {len(data)}{more} bytes where {size} were expected")
        return data


def tpixels_to_bgrx(data: bytes, count: int) -> np.ndarray:
    """``count`` TPIXELs (R, G, B) at the start of ``data`` as a ``(count, 4)`` BGRX array (X opaque)."""
    out = np.empty((count, 4), dtype=np.uint8)
    out[:, 2::-1] = np.frombuffer(data, dtype=np.uint8, count=count * 3).reshape(count, 3)
    out[:, 3] = OPAQUE
    return out


async def read_compact_length(reader: asyncio.StreamReader) -> int:
    """Tight's compact length: 7 bits per byte while the top bit is set, the third byte all 8 bits."""
    length = 0
    for shift in (0, 7):
        byte = (await read_exactly(reader, 1, "Tight compact length"))[0]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return length
    return length | (await read_exactly(reader, 1, "Tight compact length"))[0] << 14


def write_palette(data: bytes, palette: np.ndarray, out: np.ndarray) -> None:
    """Palette-filtered pixels: one bit per pixel (rows padded to bytes) for 2 colours, else one byte."""
    height, width = out.shape[:2]
    if len(palette) == 2:
        rows = np.frombuffer(data, dtype=np.uint8).reshape(height, (width + 7) // 8)
        indices = unpack_indices(rows, 1)[:, :width]
    else:
        indices = np.frombuffer(data, dtype=np.uint8).reshape(height, width)
    if indices.size and int(indices.max()) >= len(palette):
        raise RfbError(f"Tight: palette index {int(indices.max())} with {len(palette)} colours")
    paint(out, palette, indices)


def ungradient(diffs: np.ndarray) -> np.ndarray:
    """Undo Tight's gradient filter on ``(h, w, 3)`` differences; returns the pixels (R, G, B).

    Each pixel was sent as ``(V - P) mod 256`` with ``P = clamp(V[up] + V[left] -
    V[up-left], 0, 255)`` per component (zero outside the image).  A pixel needs its
    left neighbour, so we sweep anti-diagonals: every pixel on one depends only on the
    two before, which keeps the work in numpy (h + w - 1 steps).
    """
    height, width = diffs.shape[:2]
    padded = np.zeros((height + 1, width + 1, 3), dtype=np.int16)
    for diagonal in range(height + width - 1):
        ys = np.arange(max(0, diagonal - width + 1), min(height - 1, diagonal) + 1)
        xs = diagonal - ys
        predicted = np.clip(padded[ys, xs + 1] + padded[ys + 1, xs] - padded[ys, xs], 0, 255)
        padded[ys + 1, xs + 1] = (predicted + diffs[ys, xs]) & 0xFF
    return padded[1:, 1:].astype(np.uint8)
