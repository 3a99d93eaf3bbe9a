"""What every libvirt screen path passes straight through to its client: the pointer and the cursor."""

from __future__ import annotations

from typing import Protocol

from geometry_os import api


class PointerClient(api.Pointer, api.CursorImage, Protocol):
    """The part of a display client (D-Bus or VNC) a display hands the pointer and cursor to."""


class ClientPointer:
    """The Pointer and CursorImage capabilities of a display, delegated to its ``client``."""

    client: PointerClient

    @property
    def is_absolute(self) -> bool:
        return self.client.is_absolute

    def mouse_set_abs(self, x: int, y: int) -> None:
        self.client.mouse_set_abs(x, y)

    def mouse_rel(self, dx: int, dy: int) -> None:
        self.client.mouse_rel(dx, dy)

    def mouse_press(self, button: int) -> None:
        self.client.mouse_press(button)

    def mouse_release(self, button: int) -> None:
        self.client.mouse_release(button)

    @property
    def cursor(self) -> api.Cursor | None:
        return self.client.cursor

    @property
    def cursor_pos(self) -> api.CursorPos | None:
        return self.client.cursor_pos
