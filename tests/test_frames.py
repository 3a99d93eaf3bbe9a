"""The frame-to-texture contract's mailbox: latest wins, dirty areas merge, no queue."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from geometry_os.frames import FrameMailbox, Rect, new_framebuffer


def test_first_publish_is_a_full_frame_and_wakes_once():
    wakes = []
    box = FrameMailbox()
    box.on_ready = lambda: wakes.append(1)
    frame = new_framebuffer(64, 32)
    box.publish(frame, Rect(1, 1, 2, 2))
    box.publish(frame, Rect(5, 5, 2, 2))
    taken = box.take()
    assert taken.dirty == Rect(0, 0, 64, 32) and taken.resized and taken.serial == 2
    assert wakes == [1]
    assert box.take() is None


def test_dirty_rects_of_skipped_frames_merge_and_latest_buffer_wins():
    box = FrameMailbox()
    first, second = new_framebuffer(100, 100), new_framebuffer(100, 100)
    box.publish(first)
    box.take()
    box.publish(first, Rect(10, 10, 5, 5))
    box.publish(second, Rect(50, 60, 10, 10))
    taken = box.take()
    assert taken.pixels is second
    assert taken.dirty == Rect(10, 10, 50, 60) and not taken.resized


def test_size_change_uploads_everything_and_is_flagged():
    box = FrameMailbox()
    box.publish(new_framebuffer(100, 100))
    box.take()
    bigger = new_framebuffer(200, 150)
    box.publish(bigger, Rect(0, 0, 1, 1))
    taken = box.take()
    assert taken.resized and taken.dirty == Rect(0, 0, 200, 150)


def test_dirty_rect_is_clipped_to_the_frame():
    box = FrameMailbox()
    box.publish(new_framebuffer(10, 10))
    box.take()
    box.publish(new_framebuffer(10, 10), Rect(8, -3, 10, 5))
    assert box.take().dirty == Rect(8, 0, 2, 2)
    box.publish(new_framebuffer(10, 10), Rect(20, 20, 5, 5))  # entirely outside: nothing to do
    assert box.take() is None


def test_rejects_wrong_pixel_layout():
    with pytest.raises(ValueError):
        FrameMailbox().publish(np.zeros((4, 4, 3), np.uint8))


def test_publishers_on_many_threads_never_queue():
    box = FrameMailbox()
    frame = new_framebuffer(256, 256)

    def publish(offset: int) -> None:
        for i in range(500):
            box.publish(frame, Rect((offset * 7 + i) % 250, offset, 4, 4))

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = box.take()
    assert taken.serial == 2000 and box.published == 2000
    assert box.take() is None
