"""Pixel copies and format conversions (pure numpy, no QEMU)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geometry_os.plugins.qemu import pixels


def bgrx(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)


@given(w=st.integers(1, 40), h=st.integers(1, 30), pad=st.integers(0, 17),
       offset=st.integers(0, 9))
@settings(max_examples=60, deadline=None)
def test_rows_view_respects_stride_and_offset(w, h, pad, offset):
    img = bgrx(h, w)
    stride = w * 4 + pad
    buf = bytearray(offset + stride * h)
    for y in range(h):
        buf[offset + y * stride: offset + y * stride + w * 4] = img[y].tobytes()
    rows = pixels.rows_view(bytes(buf), offset, w, h, stride, pixels.PIXMAN_X8R8G8B8)
    view = pixels.as_bgrx(rows, pixels.PIXMAN_X8R8G8B8)
    assert np.array_equal(view, img)
    dst = np.zeros((h, w, 4), np.uint8)
    pixels.convert_into(dst, rows, pixels.PIXMAN_A8R8G8B8)
    assert np.array_equal(dst, img)


def test_last_row_may_be_short_but_no_shorter():
    w, h, stride = 3, 2, 16
    pixels.rows_view(bytes(stride + w * 4), 0, w, h, stride, pixels.PIXMAN_X8R8G8B8)
    with pytest.raises(pixels.PixelError):
        pixels.rows_view(bytes(stride + w * 4 - 1), 0, w, h, stride, pixels.PIXMAN_X8R8G8B8)


@pytest.mark.parametrize("args", [
    (0, 0, 4, 1, 16), (0, 4, 0, 16, 16), (0, 4, 4, 15, 16 * 4),  # empty / stride < row
    (0, 100000, 1, 400000, 400000),  # too wide
])
def test_malformed_geometry_raises(args):
    offset, w, h, stride, size = args
    with pytest.raises(pixels.PixelError):
        pixels.rows_view(bytes(size), offset, w, h, stride, pixels.PIXMAN_X8R8G8B8)


def test_unknown_format_is_rejected():
    assert not pixels.is_supported(0x01000000)
    assert "0x01000000" in pixels.format_name(0x01000000)
    with pytest.raises(pixels.PixelError):
        pixels.rows_view(bytes(64), 0, 2, 2, 8, 0x01000000)


def test_conversions():
    # one pixel B=0x10 G=0x20 R=0x30 in each format's memory layout
    cases = {
        0x20030888: bytes([0x30, 0x20, 0x10, 0xFF]),  # x8b8g8r8: R G B X
        0x20080888: bytes([0xFF, 0x30, 0x20, 0x10]),  # b8g8r8x8: X R G B
        0x20090888: bytes([0xFF, 0x10, 0x20, 0x30]),  # r8g8b8x8: X B G R
        0x18020888: bytes([0x10, 0x20, 0x30]),  # r8g8b8: B G R
        0x18030888: bytes([0x30, 0x20, 0x10]),  # b8g8r8: R G B
    }
    for fmt, data in cases.items():
        dst = np.zeros((1, 1, 4), np.uint8)
        pixels.convert_into(dst, pixels.rows_view(data, 0, 1, 1, len(data), fmt), fmt)
        assert tuple(dst[0, 0, :3]) == (0x10, 0x20, 0x30), pixels.format_name(fmt)
    # r5g6b5 white and pure red
    for value, expected in ((0xFFFF, (255, 255, 255)), (0xF800, (0, 0, 255))):
        dst = np.zeros((1, 1, 4), np.uint8)
        data = value.to_bytes(2, "little")
        pixels.convert_into(dst, pixels.rows_view(data, 0, 1, 1, 2, 0x10020565), 0x10020565)
        assert tuple(dst[0, 0, :3]) == expected
