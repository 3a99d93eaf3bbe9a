"""The guest's hardware cursor is drawn over its tile, where and as large as the guest says."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

from geometry_os import api
from geometry_os.api import Cursor, CursorPos, FrameSource, TileState

pytestmark = pytest.mark.gl

GUEST_W, GUEST_H = 400, 300
CURSOR = 8  # an 8x8 opaque red square with its hot spot at (2, 2)


@attrs.define(frozen=True)
class Params:
    visible: bool = api.setting(True, doc="whether the cursor shows")


class FakeCursorSource(FrameSource):
    """A fake guest: a black screen and a hardware cursor, as QEMU's display reports them."""

    cursor: Cursor | None = None
    cursor_pos: CursorPos | None = None

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.capabilities = api.Capabilities(cursor=self)

    def start(self):
        self.ctx.mailbox.publish(np.zeros((GUEST_H, GUEST_W, 4), np.uint8), None)
        red = bytes([0, 0, 255, 255]) * (CURSOR * CURSOR)  # BGRA, premultiplied (opaque)
        self.cursor = Cursor(CURSOR, CURSOR, 2, 2, red)
        self.cursor_pos = CursorPos(100, 50, self.params.visible)
        self.ctx.report_state(TileState.RUNNING)

    def stop(self):
        pass


class FakeCursorPlugin:
    @api.hookimpl
    def register_sources(self):
        return [api.SourceType("fake-cursor", Params, FakeCursorSource, "a fake guest with a hardware cursor")]


SCENE = """
window: {width: 800, height: 600}
camera: {x: 200, y: 150, zoom: ZOOM, fit: false}
tiles:
  - {title: C, position: [0, 0], size: [400, 300], source: {type: fake-cursor, visible: VISIBLE}}
"""


def red_box(image):
    ys, xs = np.nonzero((image[:, :, 0] > 200) & (image[:, :, 1] < 50) & (image[:, :, 2] < 50))
    return (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) if len(xs) else None


@pytest.mark.parametrize("zoom", [1, 2])
def test_cursor_drawn_at_the_guest_position_scaled_with_the_tile(render_scene, zoom):
    render_scene.host.register(FakeCursorPlugin(), "fake-cursor")
    shell = render_scene(SCENE.replace("ZOOM", str(zoom)).replace("VISIBLE", "true"), frames=3)
    # guest (100, 50) minus the hot spot (2, 2), through the camera
    sx, sy = shell.camera.world_to_screen(98, 48)
    assert red_box(shell.screenshot()) == pytest.approx((sx, sy, sx + CURSOR * zoom, sy + CURSOR * zoom), abs=1)


def test_hidden_cursor_is_not_drawn(render_scene):
    render_scene.host.register(FakeCursorPlugin(), "fake-cursor")
    shell = render_scene(SCENE.replace("ZOOM", "1").replace("VISIBLE", "false"), frames=3)
    assert red_box(shell.screenshot()) is None
