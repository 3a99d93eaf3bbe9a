"""Pixel formats QEMU may send, and copying them into a BGRX framebuffer.

The tile framebuffer (engine/frames.py) is ``(h, w, 4)`` uint8 in B, G, R, X byte
order: exactly pixman's ``x8r8g8b8`` / ``a8r8g8b8`` in memory on a little-endian
host, which is all QEMU was seen to send (docs/qemu.md).  Those two are
copied as-is.  virtio-gpu and VGA in 15/16/24 bpp modes can carry other pixman
formats; the common ones are converted with numpy, anything else is rejected
(the caller logs it once).

Everything here is a pure function on numpy arrays so it can be tested without
QEMU; malformed input raises :class:`PixelError`, which callers log and drop.
"""

from __future__ import annotations

import mmap
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

#: Bytes in memory: a message's payload or a mapped surface.
Buffer = bytes | bytearray | memoryview | mmap.mmap

# pixman format codes: (bpp << 24) | (type << 16) | (a << 12) | (r << 8) | (g << 4) | b
PIXMAN_X8R8G8B8 = 0x20020888
PIXMAN_A8R8G8B8 = 0x20028888
NATIVE_FORMATS = frozenset({PIXMAN_X8R8G8B8, PIXMAN_A8R8G8B8})

# Largest surface we accept: beyond QEMU's own limits, and it bounds allocations
# a malformed message could ask for.
MAX_DIMENSION = 16384


class PixelError(ValueError):
    """A pixel payload that does not fit its description."""


class _Layout(NamedTuple):
    name: str
    bpp: int  # bytes per pixel
    kind: str  # "bgrx" (copy), "perm" (byte permutation), "rgb565", "rgb555"
    order: tuple[int, int, int] = (0, 1, 2)  # source byte index of B, G, R


_LAYOUTS: dict[int, _Layout] = {
    PIXMAN_X8R8G8B8: _Layout("x8r8g8b8", 4, "bgrx"),
    PIXMAN_A8R8G8B8: _Layout("a8r8g8b8", 4, "bgrx"),
    # Byte orders below are memory orders on a little-endian host.
    0x20030888: _Layout("x8b8g8r8", 4, "perm", (2, 1, 0)),  # R G B X
    0x20038888: _Layout("a8b8g8r8", 4, "perm", (2, 1, 0)),
    0x20080888: _Layout("b8g8r8x8", 4, "perm", (3, 2, 1)),  # X R G B
    0x20088888: _Layout("b8g8r8a8", 4, "perm", (3, 2, 1)),
    0x20090888: _Layout("r8g8b8x8", 4, "perm", (1, 2, 3)),  # X B G R
    0x20098888: _Layout("r8g8b8a8", 4, "perm", (1, 2, 3)),
    0x18020888: _Layout("r8g8b8", 3, "perm", (0, 1, 2)),  # B G R
    0x18030888: _Layout("b8g8r8", 3, "perm", (2, 1, 0)),  # R G B
    0x10020565: _Layout("r5g6b5", 2, "rgb565"),
    0x10020555: _Layout("x1r5g5b5", 2, "rgb555"),
    0x10021555: _Layout("a1r5g5b5", 2, "rgb555"),
}


def format_name(fmt: int) -> str:
    """A readable name for a pixman format code."""
    layout = _LAYOUTS.get(fmt)
    return layout.name if layout else f"pixman format 0x{fmt:08x}"


def is_supported(fmt: int) -> bool:
    return fmt in _LAYOUTS


def is_native(fmt: int) -> bool:
    """True when the bytes can be used as the BGRX framebuffer without conversion."""
    return fmt in NATIVE_FORMATS


def bytes_per_pixel(fmt: int) -> int:
    layout = _LAYOUTS.get(fmt)
    if layout is None:
        raise PixelError(f"unsupported {format_name(fmt)}")
    return layout.bpp


def check_size(width: int, height: int) -> None:
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise PixelError(f"bad surface size {width}x{height}")


def rows_view(buffer: Buffer, offset: int, width: int, height: int, stride: int, fmt: int) -> npt.NDArray[np.uint8]:
    """A ``(height, width * bpp)`` uint8 view of ``buffer`` rows ``stride`` bytes apart.

    ``buffer`` is anything exporting the buffer protocol (bytes, mmap).  The last
    row only needs ``width * bpp`` bytes, as QEMU's buffers are sized that way.
    No copy is made; a short buffer or a stride smaller than a row raises.
    """
    bpp = bytes_per_pixel(fmt)
    check_size(width, height)
    row = width * bpp
    if stride < row:
        raise PixelError(f"stride {stride} < row of {row} bytes ({width} px of {format_name(fmt)})")
    needed = offset + stride * (height - 1) + row
    size = memoryview(buffer).nbytes
    if offset < 0 or needed > size:
        raise PixelError(f"{size} bytes of pixel data, {needed} needed for {width}x{height} "
                         f"at offset {offset} stride {stride}")
    # The ndarray constructor, not as_strided: this runs per damage rectangle and
    # as_strided costs ~8 us (it goes through __array_interface__), this ~1.5 us.
    rows: npt.NDArray[np.uint8] = np.ndarray((height, row), np.uint8, buffer, offset, (stride, 1))
    rows.flags.writeable = False
    return rows


def as_bgrx(rows: npt.NDArray[np.uint8], fmt: int) -> npt.NDArray[np.uint8]:
    """``rows`` (from :func:`rows_view`) of a native format seen as ``(h, w, 4)``, no copy."""
    if not is_native(fmt):
        raise PixelError(f"{format_name(fmt)} needs conversion")
    height, row = rows.shape
    return rows.reshape(height, row // 4, 4)  # a view: the row stride is kept


def convert_into(dst: npt.NDArray[np.uint8], rows: npt.NDArray[np.uint8], fmt: int) -> None:
    """Write ``rows`` (``(h, w * bpp)``, format ``fmt``) into ``dst`` (``(h, w, 4)``)."""
    layout = _LAYOUTS.get(fmt)
    if layout is None:
        raise PixelError(f"unsupported {format_name(fmt)}")
    height, width = dst.shape[:2]
    if rows.shape != (height, width * layout.bpp):
        raise PixelError(f"rows {rows.shape} do not match {width}x{height} {layout.name}")
    if layout.kind == "bgrx":
        dst[...] = rows.reshape(height, width, 4)
        return
    if layout.kind == "perm":
        px = rows.reshape(height, width, layout.bpp)
        b, g, r = layout.order
        dst[..., 0] = px[..., b]
        dst[..., 1] = px[..., g]
        dst[..., 2] = px[..., r]
        dst[..., 3] = 255
        return
    # 16-bit little-endian words
    words = rows.reshape(height, width, 2).astype(np.uint16)
    value = words[..., 0] | (words[..., 1] << 8)
    if layout.kind == "rgb565":
        red, green, blue = (value >> 11) & 31, (value >> 5) & 63, value & 31
        dst[..., 1] = (green << 2) | (green >> 4)
    else:
        red, green, blue = (value >> 10) & 31, (value >> 5) & 31, value & 31
        dst[..., 1] = (green << 3) | (green >> 2)
    dst[..., 0] = (blue << 3) | (blue >> 2)
    dst[..., 2] = (red << 3) | (red >> 2)
    dst[..., 3] = 255
