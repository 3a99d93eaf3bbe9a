"""The display surface alone: QEMU's scanouts and damage -> the published framebuffer.

Pure numpy and memfds: no QEMU, no D-Bus.  The D-Bus layer above it (signatures,
replies, fds) is tests/qemu/test_display_messages.py.
"""

from __future__ import annotations

import logging
import mmap
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from geometry_os.api import FrameMailbox, Rect
from geometry_os.plugins.qemu import pixels
from geometry_os.plugins.qemu.display_surface import DisplayStats, Surface

X8R8G8B8 = pixels.PIXMAN_X8R8G8B8
X8B8G8R8 = 0x20030888  # bytes R, G, B, X
R5G6B5 = 0x10020565


def image(h: int, w: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)


def padded(img: np.ndarray, stride: int) -> bytes:
    h, w, bpp = img.shape
    buf = bytearray(stride * h)
    for y in range(h):
        buf[y * stride:y * stride + w * bpp] = img[y].tobytes()
    return bytes(buf)


def memfd(data: bytes) -> int:
    fd = os.memfd_create("surface")
    os.write(fd, data)
    return fd


@pytest.fixture
def surface() -> Surface:
    return Surface("t", FrameMailbox())


def shown(surface: Surface) -> np.ndarray:
    frame = surface.mailbox.peek_pixels()
    assert frame is not None
    return frame


# ------------------------------------------------------------------ inline

def test_scanout_then_update_publishes_the_damaged_rectangle(surface):
    img = image(6, 9)
    surface.scanout(9, 6, 9 * 4 + 8, X8R8G8B8, padded(img, 44))
    first = surface.mailbox.take()
    assert first.resized and first.dirty == Rect(0, 0, 9, 6) and np.array_equal(first.pixels, img)
    patch = image(2, 3, seed=2)
    surface.update(5, 3, 3, 2, 12, X8R8G8B8, patch.tobytes())
    img[3:5, 5:8] = patch
    second = surface.mailbox.take()
    assert second.dirty == Rect(5, 3, 3, 2) and not second.resized
    assert np.array_equal(second.pixels, img)
    assert surface.transport == "inline"
    stats = surface.stats.as_dict()
    assert (stats["scanouts"], stats["updates"], stats["frames"]) == (1, 1, 2)
    assert stats["inline_bytes"] == 44 * 6 + 24


def test_a_scanout_of_the_same_size_reuses_the_framebuffer(surface):
    surface.scanout(4, 2, 16, X8R8G8B8, bytes(32))
    before = shown(surface)
    surface.scanout(4, 2, 16, X8R8G8B8, b"\x05" * 32)
    assert shown(surface) is before and (before == 5).all()
    surface.scanout(5, 2, 20, X8R8G8B8, bytes(40))
    assert shown(surface) is not before and shown(surface).shape == (2, 5, 4)


@pytest.mark.parametrize("fmt,source,expected", [
    (X8B8G8R8, [10, 20, 30, 0], [30, 20, 10, 255]),  # R G B X -> B G R X
    (R5G6B5, [0x00, 0xF8], [0, 0, 255, 255]),  # pure red, 16 bits little-endian
    (R5G6B5, [0xE0, 0x07], [0, 255, 0, 255]),  # pure green
])
def test_formats_are_converted_to_bgrx(surface, fmt, source, expected):
    bpp = len(source)
    surface.scanout(2, 1, 2 * bpp, fmt, bytes(source * 2))
    assert shown(surface).tolist() == [[expected, expected]]


def test_unsupported_format_is_refused_and_logged_once(surface, caplog):
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            with pytest.raises(pixels.PixelError, match=r"^unsupported pixman format 0x01010101$"):
                surface.scanout(2, 2, 8, 0x01010101, bytes(16))
    assert [r.getMessage() for r in caplog.records] == [
        "t: QEMU sent pixman format 0x01010101, which Geometry OS cannot show; frames in it are dropped"]
    assert surface.mailbox.peek_pixels() is None


def test_update_past_the_edge_follows_the_console_size_or_grows(surface):
    surface.scanout(4, 4, 16, X8R8G8B8, b"\x07" * 64)
    surface._console_size = (10, 6)  # the guest switched mode; the size signal raced the Update
    patch = image(2, 2)
    surface.update(8, 4, 2, 2, 8, X8R8G8B8, patch.tobytes())
    fb = shown(surface)
    assert fb.shape == (6, 10, 4) and (fb[:4, :4] == 7).all() and np.array_equal(fb[4:6, 8:10], patch)
    surface._console_size = None
    surface.update(11, 0, 1, 1, 4, X8R8G8B8, bytes(4))
    assert shown(surface).shape == (6, 12, 4)


def test_update_entirely_outside_or_before_any_scanout_is_refused(surface):
    with pytest.raises(ValueError, match=r"^Update without an inline Scanout$"):
        surface.update(0, 0, 2, 2, 8, X8R8G8B8, bytes(16))
    surface.scanout(4, 4, 16, X8R8G8B8, bytes(64))
    taken = surface.mailbox.take()
    with pytest.raises(ValueError, match=r"^Update rect 2x2\+-5\+-5 outside the surface$"):
        surface.update(-5, -5, 2, 2, 8, X8R8G8B8, bytes(16))
    assert surface.mailbox.take() is None and shown(surface) is taken.pixels


def test_console_size_changes_resize_an_inline_surface_keeping_its_pixels(surface):
    surface.set_console_size(4, 4)
    assert surface.console_size == (4, 4) and surface.mailbox.peek_pixels() is None  # nothing to follow yet
    surface.scanout(4, 4, 16, X8R8G8B8, b"\x09" * 64)
    surface.set_console_size(6, 3)
    fb = shown(surface)
    assert fb.shape == (3, 6, 4) and (fb[:, :4] == 9).all() and not fb[:, 4:].any()
    surface.set_console_size(0, 3)  # not a size: ignored
    assert surface.console_size == (6, 3)


# ---------------------------------------------------------- shared memory

def test_a_native_shared_surface_is_published_as_qemus_memory_with_its_damage(surface):
    img = image(5, 4)
    stride, offset = 20, 4096
    fd = memfd(bytes(offset) + padded(img, stride))
    try:
        surface.scanout_map(fd, offset, 4, 5, stride, X8R8G8B8)
        writer = mmap.mmap(fd, offset + stride * 5)
    finally:
        os.close(fd)  # QEMU may close its side at once; the mapping stays
    fb = shown(surface)
    assert np.array_equal(fb, img) and surface.transport == "shm"
    writer[offset + stride * 2 + 4:offset + stride * 2 + 8] = b"\x01\x02\x03\x04"  # the guest draws in row 2
    writer[offset:offset + 4] = b"\x09\x09\x09\x09"  # and in row 0, which QEMU does not report
    surface.mailbox.take()
    surface.update_map(1, 2, 1, 1)
    frame = surface.mailbox.take()
    assert frame.dirty == Rect(0, 2, 4, 1) and frame.pixels[2, 1].tolist() == [1, 2, 3, 4]  # row 2 whole
    assert frame.pixels[0, 0].tolist() == [9, 9, 9, 9]  # no copy: the frame is QEMU's memory itself
    writer.close()


def test_a_converted_shared_surface_is_reconverted_where_damaged(surface):
    fd = memfd(bytes([10, 20, 30, 0]) * 4)
    writer = mmap.mmap(fd, 16)
    try:
        surface.scanout_map(fd, 0, 2, 2, 8, X8B8G8R8)
    finally:
        os.close(fd)
    assert shown(surface)[0, 0].tolist() == [30, 20, 10, 255]
    writer[12:16] = bytes([1, 2, 3, 0])  # pixel (1, 1)
    writer[0:4] = bytes([7, 7, 7, 0])  # pixel (0, 0), not in the damage
    surface.update_map(1, 1, 1, 1)
    fb = shown(surface)
    assert fb[1, 1].tolist() == [3, 2, 1, 255] and fb[0, 0].tolist() == [30, 20, 10, 255]
    writer.close()


def test_a_memfd_smaller_than_the_surface_is_refused(surface):
    fd = memfd(bytes(100))
    try:
        with pytest.raises(pixels.PixelError,
                           match=r"^memfd of 100 bytes, 192 needed for 8x6 stride 32 at offset 0$"):
            surface.scanout_map(fd, 0, 8, 6, 32, X8R8G8B8)
    finally:
        os.close(fd)
    assert surface.mailbox.peek_pixels() is None and surface.transport is None
    fd = memfd(bytes(100))
    try:
        with pytest.raises(pixels.PixelError, match=r"^negative offset 0 or stride -4$"):
            surface.scanout_map(fd, 0, 1, 1, -4, X8R8G8B8)
    finally:
        os.close(fd)


def test_update_map_needs_a_shared_surface(surface):
    with pytest.raises(ValueError, match=r"^UpdateMap without a ScanoutMap$"):
        surface.update_map(0, 0, 1, 1)
    surface.scanout(2, 2, 8, X8R8G8B8, bytes(16))  # an inline surface replaces a shared one
    with pytest.raises(ValueError, match=r"^UpdateMap without a ScanoutMap$"):
        surface.update_map(0, 0, 1, 1)


def test_a_shared_surface_does_not_follow_the_console_size(surface):
    fd = memfd(bytes(64))
    try:
        surface.scanout_map(fd, 0, 4, 4, 16, X8R8G8B8)
    finally:
        os.close(fd)
    surface.set_console_size(8, 8)  # a new ScanoutMap brings the new size
    assert shown(surface).shape == (4, 4, 4)


def test_release_keeps_published_frames_readable(surface):
    fd = memfd(b"\x03" * 64)
    try:
        surface.scanout_map(fd, 0, 4, 4, 16, X8R8G8B8)
    finally:
        os.close(fd)
    surface.release()
    assert (shown(surface) == 3).all()
    with pytest.raises(ValueError, match=r"^UpdateMap without a ScanoutMap$"):
        surface.update_map(0, 0, 1, 1)


# ------------------------------------------------------------------ other

def test_disable_shows_black_and_a_new_surface_enables_again():
    seen: list[bool] = []
    surface = Surface("t", FrameMailbox(), on_disabled=seen.append)
    surface.disable()  # before any surface: nothing to blank, still reported
    assert seen == [True] and surface.mailbox.peek_pixels() is None
    surface.scanout(3, 2, 12, X8R8G8B8, b"\xff" * 24)
    assert seen == [True, False]
    surface.disable()
    assert seen == [True, False, True] and shown(surface).shape == (2, 3, 4) and not shown(surface).any()
    surface.set_console_size(5, 5)  # a disabled display does not follow the console
    assert shown(surface).shape == (2, 3, 4)


def test_next_frame_callback_runs_once_after_a_publish():
    stats = DisplayStats()
    surface = Surface("t", FrameMailbox(), stats)
    calls: list[int] = []
    surface.notify_next_frame(lambda: calls.append(stats.frames))
    with pytest.raises(pixels.PixelError):
        surface.scanout(2, 2, 4, X8R8G8B8, bytes(16))  # refused: no frame
    assert calls == []
    surface.scanout(2, 2, 8, X8R8G8B8, bytes(16))
    surface.scanout(2, 2, 8, X8R8G8B8, bytes(16))
    assert calls == [1] and surface.stats is stats and stats.frames == 2


# ------------------------------------------------------------------- fuzz

FORMATS = [X8R8G8B8, pixels.PIXMAN_A8R8G8B8, X8B8G8R8, R5G6B5, 0x18020888, 0, 0xFFFFFFFF]
dim = st.integers(-2, 20)
coord = st.integers(-30, 30)
step = st.one_of(
    st.tuples(st.just("scanout"), dim, dim, st.integers(-4, 90), st.sampled_from(FORMATS), st.integers(0, 2000)),
    st.tuples(st.just("update"), coord, coord, dim, dim, st.integers(-4, 90), st.sampled_from(FORMATS),
              st.integers(0, 2000)),
    st.tuples(st.just("scanout_map"), st.sampled_from([0, 5, 4096]), dim, dim, st.integers(-4, 90),
              st.sampled_from(FORMATS), st.integers(0, 6000)),
    st.tuples(st.just("update_map"), coord, coord, dim, dim),
    st.tuples(st.just("console"), dim, dim),
    st.tuples(st.just("disable")),
)


@given(steps=st.lists(step, max_size=12))
@example(steps=[("scanout_map", 0, 1, 1, -4, X8R8G8B8, 100)])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_sequence_of_calls_leaves_a_readable_frame(steps):
    """Whatever QEMU describes, the surface refuses it with a clear error or shows a sound frame."""
    surface = Surface("fuzz", FrameMailbox())
    for kind, *args in steps:
        try:
            if kind == "scanout":
                w, h, stride, fmt, size = args
                surface.scanout(w, h, stride, fmt, bytes(size))
            elif kind == "update":
                x, y, w, h, stride, fmt, size = args
                surface.update(x, y, w, h, stride, fmt, bytes(size))
            elif kind == "scanout_map":
                offset, w, h, stride, fmt, size = args
                fd = os.memfd_create("fuzz")
                os.ftruncate(fd, size)
                try:
                    surface.scanout_map(fd, offset, w, h, stride, fmt)
                finally:
                    os.close(fd)
            elif kind == "update_map":
                surface.update_map(*args)
            elif kind == "console":
                surface.set_console_size(*args)
            else:
                surface.disable()
        except (pixels.PixelError, ValueError, OSError) as exc:
            assert str(exc) and "\n" not in str(exc)
        frame = surface.mailbox.peek_pixels()
        if frame is not None:
            height, width = frame.shape[:2]
            assert frame.dtype == np.uint8 and frame.shape[2] == 4
            assert 0 < width <= pixels.MAX_DIMENSION and 0 < height <= pixels.MAX_DIMENSION
            int(frame[0, 0].sum()) + int(frame[-1, -1].sum())  # a short mapping faults here


# ------------------------------------------------------- damage that changed nothing

def test_an_inline_rectangle_with_the_same_pixels_is_not_published(surface):
    img = image(6, 9)
    surface.scanout(9, 6, 36, X8R8G8B8, img.tobytes())
    surface.mailbox.take()
    surface.update(2, 1, 3, 2, 12, X8R8G8B8, img[1:3, 2:5].tobytes())  # a text cursor's cell, re-sent
    assert surface.mailbox.take() is None and surface.stats.unchanged == 1
    patch = image(2, 3, seed=5)
    surface.update(2, 1, 3, 2, 12, X8R8G8B8, patch.tobytes())
    frame = surface.mailbox.take()
    assert frame.dirty == Rect(2, 1, 3, 2) and np.array_equal(frame.pixels[1:3, 2:5], patch)


def test_a_shared_rectangle_that_did_not_change_is_not_published():
    surface = Surface("t", FrameMailbox())
    img = image(5, 8)
    fd = memfd(img.tobytes())
    surface.scanout_map(fd, 0, 8, 5, 32, X8R8G8B8)
    writer = mmap.mmap(fd, 32 * 5)
    os.close(fd)
    surface.mailbox.take()
    surface.update_map(1, 2, 2, 1)  # the first rectangle in row 2: published whole, and its copy taken
    assert surface.mailbox.take().dirty == Rect(0, 2, 8, 1)
    surface.update_map(1, 2, 2, 1)  # re-sent, nothing drawn
    assert surface.mailbox.take() is None and surface.stats.unchanged == 1
    writer[2 * 32 + 6 * 4:2 * 32 + 7 * 4] = b"\x07\x07\x07\x07"  # drawn at column 6 of row 2 ...
    surface.update_map(1, 2, 2, 1)  # ... not in this rectangle: it is still the same
    assert surface.mailbox.take() is None
    surface.update_map(6, 2, 1, 1)  # its own announcement
    frame = surface.mailbox.take()
    assert frame.dirty == Rect(6, 2, 1, 1) and frame.pixels[2, 6].tolist() == [7, 7, 7, 7]
    surface.update_map(6, 2, 1, 1)
    assert surface.mailbox.take() is None and surface.stats.unchanged == 3
    writer.close()


def test_rows_published_without_a_comparison_publish_a_later_rectangle_in_them_whole(monkeypatch):
    from geometry_os.plugins.qemu import display_surface

    monkeypatch.setattr(display_surface, "COMPARE_MAX_BYTES", 8 * 4)  # one row: a two-row read is not compared
    surface = Surface("t", FrameMailbox())
    fd = memfd(image(4, 8).tobytes())
    surface.scanout_map(fd, 0, 8, 4, 32, X8R8G8B8)
    writer = mmap.mmap(fd, 32 * 4)
    os.close(fd)
    surface.mailbox.take()
    writer[1 * 32 + 5 * 4:1 * 32 + 6 * 4] = b"\x03\x03\x03\x03"  # the guest draws at (5, 1) ...
    surface.update_map(0, 0, 2, 2)  # ... while QEMU reports (0..2, 0..2), too big to compare
    assert surface.mailbox.take().dirty == Rect(0, 0, 2, 2)
    surface.update_map(5, 1, 1, 1)  # the announcement of (5, 1): no copy of row 1 to compare with
    frame = surface.mailbox.take()
    assert frame is not None and frame.dirty == Rect(0, 1, 8, 1) and frame.pixels[1, 5].tolist() == [3, 3, 3, 3]
    surface.update_map(5, 1, 1, 1)  # row 1 has its copy now: a re-send is not published
    assert surface.mailbox.take() is None
    writer.close()
