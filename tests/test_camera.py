"""World <-> screen math: the module rendering and hit-testing share."""

from __future__ import annotations

import pytest

from geometry_os.camera import MAX_ZOOM, MIN_ZOOM, Camera, WorldRect, bounds


def test_world_origin_maps_to_window_centre_offset():
    camera = Camera(800, 600, x=400, y=300, zoom=1)
    assert camera.world_to_screen(0, 0) == (0, 0)
    assert camera.world_to_screen(640, 480) == (640, 480)
    camera.set(0, 0, 2)
    assert camera.world_to_screen(10, -5) == (420, 290)


@pytest.mark.parametrize("zoom", [0.05, 0.5, 1.0, 3.7, 20.0])
def test_round_trip(zoom):
    camera = Camera(1280, 720, x=-123.5, y=77.25, zoom=zoom)
    for point in [(0, 0), (1280, 720), (17.5, 600.25)]:
        wx, wy = camera.screen_to_world(*point)
        assert camera.world_to_screen(wx, wy) == pytest.approx(point)


def test_zoom_about_cursor_keeps_the_point_under_it():
    camera = Camera(1000, 800, x=50, y=60, zoom=1.5)
    cursor = (123, 456)
    before = camera.screen_to_world(*cursor)
    camera.zoom_about(2.0, *cursor, duration=0.2)
    while camera.update(0.05):
        pass
    assert camera.zoom == pytest.approx(3.0)
    assert camera.screen_to_world(*cursor) == pytest.approx(before)


def test_zoom_is_clamped():
    camera = Camera(100, 100)
    camera.set(0, 0, 1e6)
    assert camera.zoom == MAX_ZOOM
    camera.zoom_about(1e-9, 50, 50, duration=0)
    assert camera.zoom == MIN_ZOOM


def test_pan_moves_world_with_the_pointer():
    camera = Camera(400, 300, zoom=2)
    before = camera.world_to_screen(10, 10)
    camera.pan_pixels(30, -20)
    assert camera.world_to_screen(10, 10) == pytest.approx((before[0] + 30, before[1] - 20))


def test_fly_to_shows_the_rect_whole_and_eases_in():
    camera = Camera(1280, 720)
    target = WorldRect(5000, 3000, 640, 480)
    camera.fly_to(target, duration=0.4)
    steps = 0
    while camera.update(1 / 60):
        steps += 1
    assert steps == pytest.approx(24, abs=1)
    sx, sy, sw, sh = camera.rect_to_screen(target)
    assert 0 <= sx and sx + sw <= 1280 and 0 <= sy and sy + sh <= 720
    assert max(sw / 1280, sh / 720) == pytest.approx(0.88)


def test_visible_world_and_bounds():
    camera = Camera(200, 100, x=0, y=0, zoom=2)
    assert camera.visible_world() == WorldRect(-50, -25, 100, 50)
    assert bounds([WorldRect(0, 0, 10, 10), WorldRect(-5, 20, 1, 1)]) == WorldRect(-5, 0, 15, 21)
    assert bounds([]) is None


def test_matrix_maps_visible_corners_to_clip_corners():
    camera = Camera(640, 480, x=100, y=50, zoom=0.75)
    m = camera.matrix()
    for (sx, sy), clip in [((0, 0), (-1, 1)), ((640, 480), (1, -1))]:
        wx, wy = camera.screen_to_world(sx, sy)
        assert (m[0] * wx + m[12], m[5] * wy + m[13]) == pytest.approx(clip)
