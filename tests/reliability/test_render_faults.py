"""Guest screens the tile renderer must survive: sizes beyond the GPU limit, rapid resizes.

The frames are published into the tile's mailbox directly, as a source would; the
real renderer (plugins/tiles, engine/render/texture.py) draws them offscreen.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest
from pyglet import gl

from geometry_os.api import wait_until
from geometry_os.plugins.tiles.layer import TilesLayer
from tests.gl.test_render import ONE_TILE, wait_for_texture

pytestmark = pytest.mark.gl


def tiles_layer(shell) -> TilesLayer:
    return next(layer for _, layer in shell.layers if isinstance(layer, TilesLayer))


def message(shell, tile) -> str:
    labels = tiles_layer(shell).labels[tile.name]
    return labels.message.text if labels.message.visible else ""


class Card(NamedTuple):
    """A one-tile scene drawn pixel-exact, with what it showed before a test's frames."""

    shell: Any
    tile: Any
    limit: int  # GL_MAX_TEXTURE_SIZE
    pixels: np.ndarray
    screen: np.ndarray


@pytest.fixture
def card(render_scene) -> Card:
    shell = render_scene(ONE_TILE.replace("ZOOM", "1"))
    tile = wait_for_texture(render_scene, shell)
    return Card(shell, tile, tile.texture.max_size, tile.ctx.mailbox.peek_pixels().copy(), shell.screenshot())


def back_to_the_card(render_scene, card: Card) -> None:
    """Publish the card again and check the screen is exactly what it was."""
    shell, tile = card.shell, card.tile
    tile.ctx.mailbox.publish(card.pixels)
    wait_until(lambda: tile.frame_size == (640, 480) and not tile.too_large, 5,
               step=lambda: render_scene.frames(shell, 1), what="the card again")
    render_scene.frames(shell, 1)
    assert np.array_equal(shell.screenshot(), card.screen)


def test_frame_larger_than_the_gpu_limit_is_reported_and_recovers(render_scene, card):
    shell, tile, limit = card.shell, card.tile, card.limit
    tile.ctx.mailbox.publish(np.zeros((8, limit + 1, 4), np.uint8))  # 8 rows: cheap, still too wide
    render_scene.frames(shell, 2)
    assert tile.too_large and tile.frame_size == (limit + 1, 8)
    assert message(shell, tile) == f"guest screen {limit + 1}x8 is larger than this GPU's texture limit"
    assert gl.glGetError() == gl.GL_NO_ERROR
    assert (tile.texture.width, tile.texture.height) == (640, 480)  # the old storage is kept
    back_to_the_card(render_scene, card)
    assert message(shell, tile) == ""


def test_rapid_resolution_changes_end_on_the_last_one(render_scene, card):
    shell, tile, limit = card.shell, card.tile, card.limit
    sizes = [(320, 200), (1024, 768), (1, 1), (limit + 1, 2), (720, 400), (2, limit + 1), (640, 400),
             (1280, 800), (16, 16)]
    rng = np.random.default_rng(7)
    for i, (w, h) in enumerate(sizes):
        tile.ctx.mailbox.publish(rng.integers(0, 256, (h, w, 4), dtype=np.uint8))
        if i % 2:  # some sizes are replaced before any frame draws them, some are drawn
            render_scene.frames(shell, 1)
            assert gl.glGetError() == gl.GL_NO_ERROR
    def step() -> None:
        render_scene.frames(shell, 1)

    # small tiles stream at a reduced rate (engine/streaming.py): the last size lands soon, not at once
    wait_until(lambda: tile.frame_size == (16, 16), 5, step=step, what="the last size")
    assert (tile.texture.width, tile.texture.height) == (16, 16) and not tile.too_large
    back_to_the_card(render_scene, card)
