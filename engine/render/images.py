"""Reading image files (look-up textures) into RGBA8 arrays: no GL here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

#: Larger images are refused rather than decoded (a look-up texture is a small table).
MAX_PIXELS = 16384 * 16384


def read_image(path: Path) -> NDArray[np.uint8]:
    """The image at ``path`` as an (height, width, 4) uint8 RGBA array, top row first.

    Raises ValueError with a one-line ``path: reason``.  Pillow decodes (pyglet's
    pure-Python PNG decoder is far too slow for large tables).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ValueError(f"{path}: image is {image.width}x{image.height}, too large")
            return np.asarray(image.convert("RGBA"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path}: cannot decode image: {exc}") from None
