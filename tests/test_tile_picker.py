"""The tile picker: a click focuses the tile under the pointer, a double click flies to it."""

from __future__ import annotations

import attrs
from pyglet.window import mouse

from geometry_os.plugins.tiles.picker import DOUBLE_CLICK_PX, TilePicker


@attrs.define
class Tile:
    index: int


@attrs.define
class MapView:
    """The part of the shell the picker uses: one tile covering the whole screen."""

    tile: Tile = attrs.field(factory=lambda: Tile(0))
    focused: list[Tile | None] = attrs.field(factory=list)
    flights: list[int] = attrs.field(factory=list)

    def tile_at(self, sx: float, sy: float) -> Tile | None:
        return self.tile

    def focus(self, tile: Tile | None) -> None:
        self.focused.append(tile)

    def fly_to_tile(self, index: int) -> None:
        self.flights.append(index)


def test_two_presses_in_place_fly_to_the_tile():
    view = MapView()
    picker = TilePicker(view)
    assert picker.on_mouse_press(100, 100, mouse.LEFT, 0)
    assert view.focused == [view.tile] and view.flights == []
    picker.on_mouse_press(100 + DOUBLE_CLICK_PX, 100 - DOUBLE_CLICK_PX, mouse.LEFT, 0)
    assert view.flights == [0]


def test_a_quick_press_far_from_the_last_is_a_new_click():
    # a title bar dragged 200 px and pressed again at once: a second drag, not a double click
    view = MapView()
    picker = TilePicker(view)
    picker.on_mouse_press(40, 336, mouse.LEFT, 0)
    picker.on_mouse_press(240, 434, mouse.LEFT, 0)
    assert view.flights == [] and view.focused == [view.tile, view.tile]


def test_only_the_left_button_picks():
    view = MapView()
    assert not TilePicker(view).on_mouse_press(100, 100, mouse.RIGHT, 0)
    assert view.focused == []
