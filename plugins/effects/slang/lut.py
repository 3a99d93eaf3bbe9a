"""Look-up textures: the preset's images decoded to RGBA8 rows, top row first."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from geometry_os import api
from geometry_os.plugins.effects.slang.errors import SlangError
from geometry_os.plugins.effects.slang.preset import LutSpec


def load_lut(spec: LutSpec) -> NDArray[np.uint8]:
    """The image of ``spec`` as an (height, width, 4) uint8 array, row 0 at the top.

    RetroArch uploads LUTs top row first, the same way as pass inputs, so a shader's
    TexCoord (0, 0) is the image's top-left pixel.  The renderer reads them the same way
    (``api.Lut``); this is for checking a preset's textures without a GL context.
    """
    try:
        return api.read_image(spec.path)
    except ValueError as exc:
        raise SlangError(f"{exc} (texture {spec.name})") from None
