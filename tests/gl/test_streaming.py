"""Zoom-aware streaming (engine/streaming.py) in the real tile renderer, headless.

Frames are published into the tiles' mailboxes by the test itself, and the upload
clock is a fake one the test advances, so counts are exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from geometry_os import frame_path
from geometry_os.api import assert_image_close, wait_until
from geometry_os.frames import Rect
from geometry_os.streaming import StreamingPolicy

pytestmark = pytest.mark.gl

# Two still 640x480 cards; the camera shows world (0, 0)..(800, 600) at zoom 1, so
# tile "near" is pixel-exact at the window's top-left and tile "far" is out of view.
TWO_TILES = """
window: {width: 800, height: 600, streaming: STREAMING}
camera: {x: 400, y: 300, zoom: 1, fit: false}
tiles:
  - id: near
    position: [0, 0]
    size: [640, 480]
    source: {type: pattern, width: 640, height: 480, rate: 0}
  - id: far
    position: [5000, 0]
    size: [640, 480]
    source: {type: pattern, width: 640, height: 480, rate: 0}
"""
FAR_CAMERA = (5400.0, 300.0, 1.0)
NEAR_CAMERA = (400.0, 300.0, 1.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(frame_path, "time", fake)
    return fake


def noise(seed: int) -> np.ndarray:
    img = np.random.default_rng(seed).integers(0, 256, (480, 640, 4), dtype=np.uint8)
    img[..., 3] = 0  # QEMU's X byte
    return img


def as_rgba(bgrx: np.ndarray) -> np.ndarray:
    rgba = bgrx[..., [2, 1, 0, 3]].copy()
    rgba[..., 3] = 255
    return rgba


def tile(shell, name):
    return next(t for t in shell.tiles if t.name == name)


def start(render_scene, streaming=True):
    shell = render_scene(TWO_TILES.replace("STREAMING", str(streaming).lower()), frames=1)
    near = tile(shell, "near")
    wait_until(lambda: near.texture is not None, 5, step=lambda: render_scene.frames(shell, 1),
               what="first frame of the visible tile")
    return shell


def test_tile_out_of_view_is_not_uploaded_and_catches_up_when_seen(render_scene, clock):
    shell = start(render_scene)
    far = tile(shell, "far")
    render_scene.frames(shell, 3)
    assert far.texture is None  # published at start, never uploaded: out of view
    shell.camera.set(*FAR_CAMERA)
    render_scene.frames(shell, 1)
    assert far.texture is not None and far.texture.uploads == 1
    shell.camera.set(*NEAR_CAMERA)
    # While out of view the guest draws in two places; the mailbox merges both.
    pixels = far.ctx.mailbox.peek_pixels().copy()
    pixels[10:60, 20:90] = noise(1)[10:60, 20:90]
    far.ctx.mailbox.publish(pixels, Rect(20, 10, 70, 50))
    render_scene.frames(shell, 2)
    pixels = pixels.copy()
    pixels[400:470, 500:630] = noise(2)[400:470, 500:630]
    far.ctx.mailbox.publish(pixels, Rect(500, 400, 130, 70))
    render_scene.frames(shell, 2)
    assert far.texture.uploads == 1
    # Back in view: one frame later the tile shows the guest's current screen.
    shell.camera.set(*FAR_CAMERA)
    render_scene.frames(shell, 1)
    assert far.texture.uploads == 2
    assert_image_close(shell.screenshot()[:480, :640], as_rgba(pixels), tolerance=0)


def pump_with_new_frames(shell, clock, target, steps):
    """``steps`` frame intervals: the guest changes every one, the renderer pumps every one."""
    pixels = target.ctx.mailbox.peek_pixels().copy()
    before = target.texture.uploads
    for step in range(steps):
        pixels[0, step % 640] ^= 0xFF
        target.ctx.mailbox.publish(pixels, Rect(step % 640, 0, 1, 1))
        clock.now += 1 / 60
        shell.pump_frames()
    return target.texture.uploads - before


def test_small_tile_is_rate_limited_and_focused_tile_is_not(render_scene, clock):
    shell = start(render_scene)
    near = tile(shell, "near")
    # Zoom 0.25: a 640x480 guest drawn at 160x120 shows 1/16 of its pixels, so it
    # uploads at 60/16 = 3.75 a second: every 16th frame interval.
    shell.camera.set(1400, 1200, 0.25)
    render_scene.frames(shell, 1)
    assert shell.streaming.interval(True, False, 0.25) == pytest.approx(16 / 60)
    uploads = pump_with_new_frames(shell, clock, near, 120)
    assert 7 <= uploads <= 8  # 2 s at 3.75 a second
    shell.focus(near)
    assert pump_with_new_frames(shell, clock, near, 120) == 120  # focused: every frame
    shell.focus(None)
    shell.camera.set(*NEAR_CAMERA)  # zoom 1: every guest pixel on screen, full rate
    render_scene.frames(shell, 1)
    assert pump_with_new_frames(shell, clock, near, 60) == 60


def test_streaming_off_uploads_everything(render_scene, clock):
    shell = start(render_scene, streaming=False)
    render_scene.frames(shell, 2)
    assert tile(shell, "far").texture is not None  # uploaded although out of view
    near = tile(shell, "near")
    shell.camera.set(1400, 1200, 0.25)
    render_scene.frames(shell, 1)
    assert pump_with_new_frames(shell, clock, near, 60) == 60


def test_map_is_redrawn_only_when_something_changed(render_scene):
    shell = start(render_scene)
    render_scene.frames(shell, 2)
    drawn = shell.stats.frames
    render_scene.frames(shell, 5)
    assert shell.stats.frames == drawn  # a still map is not redrawn
    near = tile(shell, "near")
    pixels = near.ctx.mailbox.peek_pixels().copy()
    pixels[:8, :8] = 255
    near.ctx.mailbox.publish(pixels, Rect(0, 0, 8, 8))
    render_scene.frames(shell, 1)
    assert shell.stats.frames == drawn + 1  # a new frame of a visible tile is drawn at once
    # ... inside a scissor box around the changed pixels (GL's y is up: 600 - 10)
    assert shell.streaming.region == (0, 590, 10, 10)
    assert_image_close(shell.screenshot()[:480, :640], as_rgba(pixels), tolerance=0)
    shell.camera.set(410, 300, 1.0)
    render_scene.frames(shell, 1)
    assert shell.stats.frames == drawn + 2  # so is a camera move, in full
    assert shell.streaming.region is None
    shell.dispatch_input("on_mouse_motion", 5, 5, 1, 1)
    render_scene.frames(shell, 1)
    assert shell.stats.frames == drawn + 3  # and input


def test_interval_rules():
    policy = StreamingPolicy(True, 60)
    assert policy.interval(False, False, 0.5) is None  # out of view
    assert policy.interval(True, True, 0.1) == 0.0  # focused
    assert policy.interval(True, False, None) == 0.0  # size not known yet
    assert policy.interval(True, False, 1.0) == 0.0
    assert policy.interval(True, False, 0.5) == pytest.approx(4 / 60)  # 15/s, 1/4 of the pixels
    assert policy.interval(True, False, 0.01) == pytest.approx(0.5)  # never below MIN_RATE
    off = StreamingPolicy(False, 60)
    assert off.interval(False, False, 0.1) == 0.0
    # tiles with the same interval share slots: both due at once, then neither
    assert policy.due("a", 0.25, 10.0) and policy.due("b", 0.25, 10.1)
    policy.uploaded("a", 0.25, 10.0)
    policy.uploaded("b", 0.25, 10.1)
    assert not policy.due("a", 0.25, 10.2) and not policy.due("b", 0.25, 10.2)
    assert policy.due("a", 0.25, 10.25) and policy.due("b", 0.25, 10.25)


def test_repeated_damage_with_unchanged_pixels_is_not_uploaded(render_scene):
    shell = start(render_scene)
    near = tile(shell, "near")
    render_scene.frames(shell, 2)
    uploads, drawn = near.texture.uploads, shell.stats.frames
    pixels = near.ctx.mailbox.peek_pixels().copy()
    cursor = Rect(54, 128, 9, 16)  # QEMU re-sends an idle text console's cursor cell every 30 ms
    pixels[128:144, 54:63] = 200
    near.ctx.mailbox.publish(pixels, cursor)
    render_scene.frames(shell, 1)
    assert (near.texture.uploads, shell.stats.frames) == (uploads + 1, drawn + 1)
    for _ in range(3):
        near.ctx.mailbox.publish(pixels, cursor)
        render_scene.frames(shell, 1)
    assert (near.texture.uploads, shell.stats.frames) == (uploads + 1, drawn + 1)  # nothing new to show
    pixels[128:144, 54:63] = 0  # the cursor blinks
    near.ctx.mailbox.publish(pixels, cursor)
    render_scene.frames(shell, 1)
    assert (near.texture.uploads, shell.stats.frames) == (uploads + 2, drawn + 2)
    assert shell.screenshot()[130, 58, :3].tolist() == [0, 0, 0]


def test_partial_redraw_matches_a_full_redraw(render_scene):
    shell = start(render_scene)
    near = tile(shell, "near")
    shell.camera.set(351.3, 260.7, 0.731)  # the image's edges fall between pixels
    shell.focus(near)  # full rate: every publish is uploaded on the next frame
    render_scene.frames(shell, 2)
    for seed, rect in ((3, Rect(0, 0, 640, 480)), (4, Rect(100, 50, 37, 21)), (5, Rect(600, 440, 40, 40))):
        pixels = near.ctx.mailbox.peek_pixels().copy()
        pixels[rect.y:rect.y + rect.h, rect.x:rect.x + rect.w] = noise(seed)[rect.y:rect.y + rect.h,
                                                                              rect.x:rect.x + rect.w]
        near.ctx.mailbox.publish(pixels, rect)
        render_scene.frames(shell, 1)
        # only pixels under the opaque image changed: a scissored frame, without the grid
        assert shell.streaming.region is not None and shell.streaming.region_opaque
        partial = shell.screenshot()
        shell.streaming.poke()
        render_scene.frames(shell, 1)
        assert shell.streaming.region is None
        assert_image_close(partial, shell.screenshot(), tolerance=0)
