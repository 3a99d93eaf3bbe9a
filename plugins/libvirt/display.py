"""What a libvirt tile's screen connection looks like to the source, whichever way it travels.

Three implementations: :class:`~.display_dbus.DbusDisplay` (QEMU's peer-to-peer
D-Bus display through ``openGraphicsFD``), :class:`~.display_vnc.VncDisplay` (our RFB
client, over ``openGraphicsFD`` or an SSH tunnel) and
:class:`~.display_screenshot.ScreenshotDisplay` (libvirt's screenshot API and
``sendKey``).  The source forwards its keyboard, pointer and cursor capabilities to
the one it has; input methods may be called from any thread, :meth:`Display.close`
is awaited on the libvirt loop.  A display that ends by itself (QEMU went away, the
tunnel broke) calls the ``on_closed(reason)`` it was made with, from any thread.
"""

from __future__ import annotations

import math
from typing import Protocol

from geometry_os import api

MIN_RATE = 2.0  # updates per second of a visible tile, at the least


class Display(api.Keyboard, api.Pointer, api.CursorImage, Protocol):
    """A screen connection: the keyboard, pointer and cursor capabilities, plus what the source needs."""

    @property
    def label(self) -> str:
        """How the screen travels, for the tile's badge ("VNC over SSH", "D-Bus, shared memory")."""

    def set_view(self, visible: bool, focused: bool, scale: float | None) -> None:
        """How the tile is shown now (any thread): a display with flow control fetches less for a
        small tile and nothing for a hidden one."""

    async def close(self) -> None: ...


def update_interval(visible: bool, focused: bool, scale: float | None, fastest: float,
                    min_rate: float = MIN_RATE) -> float:
    """Seconds between two screen updates a display should ask for.

    ``scale`` is screen pixels per guest pixel.  Hidden: never (``inf``); focused, at
    full size or larger, or not measured yet: ``fastest``; smaller: the rate falls with
    the share of the guest's pixels that are shown (``scale**2``), down to ``min_rate``.
    This is the policy the engine applies to texture uploads (docs/performance.md),
    applied one step earlier: to what travels over the wire.
    """
    if not visible:
        return math.inf
    if focused or scale is None or scale >= 1.0:
        return fastest
    rate = max(min_rate, scale * scale / fastest)
    return max(fastest, 1.0 / rate)
