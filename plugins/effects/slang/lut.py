"""Look-up textures: the preset's images decoded to RGBA8 rows, top row first."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from geometry_os.plugins.effects.slang.errors import SlangError
from geometry_os.plugins.effects.slang.preset import LutSpec

#: Larger images are refused rather than decoded (a LUT is a small table).
MAX_PIXELS = 16384 * 16384


def load_lut(spec: LutSpec) -> NDArray[np.uint8]:
    """The image of ``spec`` as an (height, width, 4) uint8 array, row 0 at the top.

    RetroArch uploads LUTs top row first, the same way as pass inputs, so a shader's
    TexCoord (0, 0) is the image's top-left pixel.
    """
    from PIL import Image, UnidentifiedImageError  # Pillow: pyglet's pure-Python PNG decoder is far too slow

    try:
        with Image.open(spec.path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise SlangError(f"{spec.path}: texture {spec.name} is {image.width}x{image.height}, too large")
            return np.asarray(image.convert("RGBA"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError) as exc:
        raise SlangError(f"{spec.path}: cannot decode texture {spec.name}: {exc}") from None
