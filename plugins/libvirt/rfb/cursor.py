"""The Cursor pseudo-encoding (-239): the server's pointer image, drawn by the client.

The rectangle's x, y are the hot spot and w, h the size; the payload is w*h pixels
in our pixel format (B, G, R, X) and then a bitmask, one bit per pixel, rows padded
to whole bytes, most significant bit first: 1 where the cursor is opaque.  We turn it
into :class:`geometry_os.api.Cursor` (premultiplied BGRA): masked-out pixels become
fully transparent black, the others opaque.
"""

from __future__ import annotations

import numpy as np

from geometry_os import api

from .protocol import BYTES_PER_PIXEL


def payload_size(width: int, height: int) -> int:
    """Bytes of pixels and bitmask that follow a ``width`` x ``height`` cursor rectangle."""
    return width * height * BYTES_PER_PIXEL + (width + 7) // 8 * height


def decode_cursor(payload: bytes, width: int, height: int, hot_x: int, hot_y: int) -> api.Cursor:
    """A premultiplied BGRA cursor from a Cursor pseudo-rectangle's ``payload`` (exactly payload_size bytes)."""
    pixel_bytes = width * height * BYTES_PER_PIXEL
    bgra = np.frombuffer(payload, dtype=np.uint8, count=pixel_bytes).reshape(height, width, 4).copy()
    mask_rows = np.frombuffer(payload, dtype=np.uint8, offset=pixel_bytes).reshape(height, (width + 7) // 8)
    opaque = np.unpackbits(mask_rows, axis=1)[:, :width].astype(bool)
    bgra[..., 3] = 0xFF
    bgra[~opaque] = 0
    return api.Cursor(width, height, hot_x, hot_y, bgra.tobytes())
