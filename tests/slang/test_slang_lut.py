"""Decoding look-up textures (images made by the test)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from geometry_os.plugins.effects.slang import LutSpec, SlangError, load_lut


def test_a_lut_decodes_to_rgba_rows_top_first(tmp_path):
    image = Image.new("RGB", (3, 2))
    image.putpixel((0, 0), (255, 0, 0))
    image.putpixel((2, 1), (0, 0, 255))
    image.save(tmp_path / "lut.png")
    pixels = load_lut(LutSpec("Lut", tmp_path / "lut.png"))
    assert pixels.shape == (2, 3, 4) and pixels.dtype == np.uint8
    assert tuple(pixels[0, 0]) == (255, 0, 0, 255) and tuple(pixels[1, 2]) == (0, 0, 255, 255)
    assert tuple(pixels[1, 0]) == (0, 0, 0, 255)


def test_a_file_that_is_no_image_is_a_one_line_error(tmp_path):
    (tmp_path / "lut.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(SlangError, match=r"lut\.png: cannot decode image: .* \(texture Lut\)$"):
        load_lut(LutSpec("Lut", tmp_path / "lut.png"))
