"""The guest's own mouse cursor, drawn over its tile.

Guests with a hardware cursor (virtio-gpu under X or Wayland, for example) do not
draw it into their framebuffer: QEMU sends its image (``CursorDefine``) and where it
is (``MouseSet``), and a viewer draws it.  A source that knows them declares the
``cursor`` capability (:class:`geometry_os.api.CursorImage`); this layer draws that
image over the tile's guest image, scaled with it, at any zoom.  Guests that draw their own cursor
(VGA text, most BIOS and installer screens) never send one and get nothing here.
"""

from __future__ import annotations

from typing import Any

import pyglet
from pyglet import gl

from geometry_os import api


class CursorLayer:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        self.batch = pyglet.graphics.Batch()
        self._sprites: dict[str, tuple[api.Cursor, pyglet.sprite.Sprite]] = {}  # tile -> (cursor shown, sprite)

    def state(self) -> tuple[Any, ...]:
        """What the cursors look like now: the map is redrawn when this changes."""
        return tuple((id(image.cursor), image.cursor_pos) if image is not None else None
                     for image in map(_cursor_image, self.shell.tiles))

    def draw(self) -> None:
        camera = self.shell.camera
        drawn = False
        for tile in self.shell.tiles:
            image = _cursor_image(tile)
            cursor = image.cursor if image is not None else None
            pos = image.cursor_pos if image is not None else None
            sprite = self._sprite(tile.name, cursor)
            fw = tile.frame_size[0]
            if sprite is None or cursor is None or pos is None or not pos.visible or not fw:
                if sprite is not None:
                    sprite.visible = False
                continue
            r = tile.image_rect
            scale = r.w / fw  # world units per guest pixel
            sx, sy = camera.world_to_screen(r.x + (pos.x - cursor.hot_x) * scale,
                                            r.y + (pos.y - cursor.hot_y) * scale)
            sprite.scale = scale * camera.zoom
            # pyglet draws bottom-up: the sprite's origin is its bottom-left corner
            sprite.position = (sx, camera.height - sy - cursor.height * sprite.scale, 0)
            sprite.visible = True
            drawn = True
        if drawn:
            self.batch.draw()

    def _sprite(self, name: str, cursor: api.Cursor | None) -> pyglet.sprite.Sprite | None:
        """The sprite of ``name``'s cursor image, remade when the image changes."""
        shown = self._sprites.get(name)
        if cursor is None:
            if shown is not None:
                shown[1].delete()
                del self._sprites[name]
            return None
        if shown is not None and shown[0] is cursor:
            return shown[1]
        if shown is not None:
            shown[1].delete()
        # rows top first, hence the negative pitch; the pixels are premultiplied
        image = pyglet.image.ImageData(cursor.width, cursor.height, "BGRA", cursor.pixels,
                                       pitch=-cursor.width * 4)
        sprite = pyglet.sprite.Sprite(image, batch=self.batch, blend_src=gl.GL_ONE,
                                      blend_dest=gl.GL_ONE_MINUS_SRC_ALPHA)
        self._sprites[name] = (cursor, sprite)
        return sprite

    def delete(self) -> None:
        for _, sprite in self._sprites.values():
            sprite.delete()
        self._sprites.clear()


def _cursor_image(tile: api.Tile) -> api.CursorImage | None:
    return tile.source.capabilities.cursor if tile.source is not None else None
