"""The desktop's pure parts: snapping and layout geometry, shortcut strings, what a dropped
file boots as, and the reader of ``geos image list`` (fuzzed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyglet.window import key

from geometry_os.api import TITLE_BAR_HEIGHT as BAR
from geometry_os.plugins.desktop import arrange, media, shortcuts


def test_the_grid_step_follows_the_drawn_grid():
    assert arrange.grid_step(1.0) == 10.0  # finest lines 10 units apart at zoom 1 (>= 8 px)
    assert arrange.grid_step(0.5) == 100.0  # 10 units would be 5 px: the next level
    assert arrange.grid_step(8.0) == 1.0


def test_a_move_snaps_to_the_grid_and_prefers_other_tiles_edges():
    rect = (0.0, BAR, 100.0, 100.0 - BAR)  # its footprint (title bar included) is 0,0 100x100
    assert arrange.moved([rect], 13.0, 4.0, [], 1.0, snap=True) == (10.0, 0.0)  # 3 and 4 px from grid lines
    assert arrange.moved([rect], 13.0, 4.0, [], 1.0, snap=False) == (13.0, 4.0)
    other = (216.0, 500.0 + BAR, 50.0, 50.0)  # its left edge at 216: the moved right edge (211) lands on it
    assert arrange.moved([rect], 111.0, 0.0, [other], 1.0, snap=True)[0] == 116.0
    # beyond reach (8 screen px: 16 world units at zoom 0.5, where the grid is 100 apart) nothing pulls
    assert arrange.moved([rect], 133.0, 0.0, [other], 0.5, snap=True)[0] == 133.0


def test_a_group_snaps_by_its_outer_edges():
    a, b = (0.0, BAR, 100.0, 100.0), (150.0, BAR, 100.0, 100.0)
    ox, oy = arrange.moved([a, b], 44.0, 0.0, [(300.0, 1000.0, 10.0, 10.0)], 1.0, snap=True)
    assert (ox, oy) == (50.0, 0.0)  # the group's right edge (294) meets x=300, the other tile's left edge


def test_a_corner_keeps_the_guest_aspect_and_an_edge_does_not():
    rect = (0.0, 0.0, 640.0, 480.0)
    x, y, w, h = arrange.resized(rect, "rb", 160.0, 7.0, 4 / 3, [], 1.0, snap=False)
    assert (x, y, w) == (0.0, 0.0, 800.0) and h == pytest.approx(600.0)
    assert arrange.resized(rect, "r", 100.0, 55.0, 4 / 3, [], 1.0, snap=False) == (0.0, 0.0, 740.0, 480.0)
    x, y, w, h = arrange.resized(rect, "lt", -160.0, 0.0, 4 / 3, [], 1.0, snap=False)  # the far corner stays
    assert (x + w, y + h) == pytest.approx((640.0, 480.0)) and w == pytest.approx(800.0)


def test_resizing_never_goes_below_the_minimum_nor_moves_the_opposite_edge():
    rect = (100.0, 100.0, 200.0, 150.0)
    assert arrange.resized(rect, "r", -1000.0, 0.0, None, [], 1.0, snap=True) == (100.0, 100.0, *arrange.MIN_SIZE[:1],
                                                                                   150.0)
    x, _, w, _ = arrange.resized(rect, "l", 1000.0, 0.0, None, [], 1.0, snap=True)
    assert x + w == 300.0 and w == arrange.MIN_SIZE[0]


def test_grid_layout_keeps_sizes_and_order():
    rects = [(500.0, 300.0, 320.0, 240.0), (0.0, 100.0, 640.0, 480.0), (900.0, 900.0, 100.0, 100.0)]
    laid = arrange.grid_layout(rects, gap=40.0)
    cell_w, cell_h = 640.0 + 40.0, 480.0 + BAR + 40.0
    assert laid == [(0.0, 100.0, 320.0, 240.0), (cell_w, 100.0, 640.0, 480.0), (0.0, 100.0 + cell_h, 100.0, 100.0)]


@given(st.lists(st.tuples(*(st.floats(-1e5, 1e5) for _ in range(2)), *(st.floats(1, 1e4) for _ in range(2))),
                min_size=1, max_size=30))
def test_laid_out_tiles_never_overlap(rects):
    laid = arrange.grid_layout(rects)
    for i, (x, y, w, h) in enumerate(laid):
        for (x2, y2, w2, h2) in laid[i + 1:]:
            assert x + w <= x2 or x2 + w2 <= x or y + h + BAR <= y2 or y2 + h2 + BAR <= y


def test_shortcut_strings_match_key_presses():
    assert shortcuts.matches("Ctrl+Shift+R", key.R, key.MOD_CTRL | key.MOD_SHIFT | key.MOD_NUMLOCK)
    assert not shortcuts.matches("Ctrl+Shift+R", key.R, key.MOD_CTRL)
    assert shortcuts.matches("Pause", key.PAUSE, 0) and shortcuts.matches("Print", key.PRINT, 0)
    assert shortcuts.matches("Ctrl+Alt+End", key.END, key.MOD_CTRL | key.MOD_ALT)
    assert shortcuts.parse("Hyper+X") is None and shortcuts.parse("Ctrl+NoSuchKey") is None


@given(st.text())
def test_any_shortcut_string_parses_or_is_refused(text):
    parsed = shortcuts.parse(text)
    assert parsed is None or (isinstance(parsed[0], int) and isinstance(parsed[1], int))


def test_what_a_file_boots_as(tmp_path):
    iso = tmp_path / "cd.bin"
    iso.write_bytes(bytes(0x8001) + b"CD001" + bytes(100))
    qcow = tmp_path / "disk.bin"
    qcow.write_bytes(b"QFI\xfb" + bytes(600))
    mbr = tmp_path / "raw"
    mbr.write_bytes(bytes(510) + b"\x55\xaa")
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(bytes(0x202) + b"HdrS" + bytes(100))
    named = tmp_path / "empty.qcow2"
    named.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert media.boot_setting(iso) == ("iso", str(iso))
    assert media.boot_setting(qcow) == ("disk", [str(qcow)])
    assert media.boot_setting(mbr) == ("disk", [str(mbr)])
    assert media.boot_setting(kernel) == ("kernel", str(kernel))
    assert media.boot_setting(named) == ("disk", [str(named)])
    assert media.boot_setting(text) == ("kernel", str(text))  # QEMU will say why it cannot boot it
    with pytest.raises(ValueError, match="No such file"):
        media.boot_setting(tmp_path / "gone.iso")


def test_the_image_list_is_read():
    text = ("name        status         size      path\n"
            "alpine      installed      112.6 MB  /root/.cache/geometry-os/images/alpine-3.23.6\n"
            "memtest     not installed  -         /usr/lib/memtest86+/memtest86+x64.iso\n"
            "garbage line\n")
    assert media.parse_image_list(text) == [media.ImageInfo("alpine", True, "112.6 MB"),
                                            media.ImageInfo("memtest", False, "-")]


@given(st.text())
def test_any_image_list_text_gives_rows_or_nothing(text):
    for image in media.parse_image_list(text):
        assert image.name and image.name[0].isalnum()
