"""Terminal cells to pixels: a BGRX framebuffer drawn from pyte's cells with a monospace font.

The font is DejaVu Sans Mono, the monospace face of the map's own DejaVu Sans (the
tile titles), rasterised once per character by Pillow/FreeType into an alpha mask
and cached.  A row is drawn with numpy as ``background + alpha * (foreground -
background)`` over all its cells at once, and only rows that changed since the last
draw are redrawn, so an idle terminal costs nothing and a full redraw of 80x24 takes
a few milliseconds.  Colours follow the Linux console's palette (``TERM=linux``, what
the tiny guest sets) with xterm's 256-colour and true-colour codes on top.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import numpy as np
from PIL import ImageFont
from pyte.screens import Char

from geometry_os.api import new_framebuffer

log = logging.getLogger(__name__)

FONT_FILES = {False: "DejaVuSansMono.ttf", True: "DejaVuSansMono-Bold.ttf"}
FONT_SIZE = 14  # pixels: about a 8x17 cell, the size of a VGA text console's

#: The 16 colours of the Linux console (drivers/tty/vt/vt.c default_red/grn/blu), as RGB.
PALETTE_16 = [
    (0, 0, 0), (170, 0, 0), (0, 170, 0), (170, 85, 0), (0, 0, 170), (170, 0, 170), (0, 170, 170),
    (170, 170, 170), (85, 85, 85), (255, 85, 85), (85, 255, 85), (255, 255, 85), (85, 85, 255),
    (255, 85, 255), (85, 255, 255), (255, 255, 255),
]
_NAMES = ["black", "red", "green", "brown", "blue", "magenta", "cyan", "white"]
#: pyte's colour names -> palette index (pyte names yellow "brown"; bright ones "bright...").
NAMED = {**{name: i for i, name in enumerate(_NAMES)}, "yellow": 3,
         **{f"bright{name}": i + 8 for i, name in enumerate(_NAMES)}, "brightyellow": 11}
DEFAULT_FG, DEFAULT_BG = PALETTE_16[7], PALETTE_16[0]
SELECTION_BG = (60, 90, 150)


@functools.cache
def _font(bold: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(FONT_FILES[bold], FONT_SIZE)
    except OSError:
        log.warning("%s not found (install fonts-dejavu-core): the terminal uses Pillow's built-in font",
                    FONT_FILES[bold])
        return ImageFont.load_default(FONT_SIZE)


@functools.cache
def cell_size() -> tuple[int, int]:
    """(width, height) of one cell in pixels."""
    font = _font(False)
    left, _, right, _ = font.getbbox("M")
    ascent, descent = font.getmetrics() if isinstance(font, ImageFont.FreeTypeFont) else (FONT_SIZE, 3)
    return max(1, round(font.getlength("M")) or int(right - left)), ascent + descent


@functools.lru_cache(maxsize=4096)
def glyph(char: str, bold: bool) -> np.ndarray:
    """The alpha mask (cell h, cell w) float32 0..1 of ``char`` (blank for what the font cannot draw)."""
    width, height = cell_size()
    mask = np.zeros((height, width), np.float32)
    if not char or char.isspace() or not char.isprintable():
        return mask
    font = _font(bold)
    try:
        bitmap = font.getmask(char[0], mode="L")
        left, top = font.getbbox(char[0])[:2]
    except (OSError, ValueError):  # a character FreeType cannot render
        return mask
    gw, gh = bitmap.size
    if not gw or not gh:
        return mask
    alpha = np.asarray(bitmap, np.uint8).reshape(gh, gw).astype(np.float32) / 255.0
    y0, x0 = max(0, top), max(0, left)
    h, w = min(gh, height - y0), min(gw, width - x0)
    if h > 0 and w > 0:
        mask[y0:y0 + h, x0:x0 + w] = alpha[:h, :w]
    return mask


@functools.lru_cache(maxsize=1024)
def colour(name: str, default: tuple[int, int, int]) -> tuple[int, int, int]:
    """pyte's colour (a name, "default", or six hex digits) as RGB."""
    if name in NAMED:
        return PALETTE_16[NAMED[name]]
    if len(name) == 6:
        try:
            value = int(name, 16)
        except ValueError:
            return default
        return (value >> 16) & 255, (value >> 8) & 255, value & 255
    return default


def cell_colours(ch: Char, selected: bool, cursor: bool) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(foreground, background) RGB of one cell as drawn."""
    fg = colour(ch.fg, DEFAULT_FG)
    bg = colour(ch.bg, DEFAULT_BG)
    if ch.bold and ch.fg in _NAMES:  # the console shows bold as the bright colour
        fg = PALETTE_16[NAMED[ch.fg] + 8]
    if ch.reverse != cursor:
        fg, bg = bg, fg
    if selected:
        bg = SELECTION_BG
    return fg, bg


class TerminalPainter:
    """Draws rows of cells into a BGRX framebuffer of ``columns`` x ``rows`` cells."""

    def __init__(self, columns: int, rows: int) -> None:
        self.columns, self.rows = columns, rows
        self.cell = cell_size()
        width, height = self.cell
        self.pixels = new_framebuffer(columns * width, rows * height)
        self._drawn: list[tuple[object, ...] | None] = [None] * rows

    def forget(self) -> None:
        """Draw every row on the next :meth:`paint` (the terminal was replaced)."""
        self._drawn = [None] * self.rows

    def paint(self, rows: Sequence[Sequence[Char]], cursor: tuple[int, int] | None,
              selected: Sequence[tuple[int, int]] | None) -> list[int]:
        """Draw the rows that differ from what was drawn; returns the indices of the rows drawn.

        ``selected`` gives, per row, the [start, end) columns that are selected."""
        changed = []
        for y, row in enumerate(rows[:self.rows]):
            span = selected[y] if selected is not None else (0, 0)
            col = cursor[1] if cursor is not None and cursor[0] == y else -1
            key = (tuple(row), span, col)
            if key == self._drawn[y]:
                continue
            self._draw_row(y, row, span, col)
            self._drawn[y] = key
            changed.append(y)
        return changed

    def _draw_row(self, y: int, row: Sequence[Char], span: tuple[int, int], cursor_col: int) -> None:
        width, height = self.cell
        cells = list(row[:self.columns])
        count = len(cells)
        fgs = np.empty((count, 3), np.float32)
        bgs = np.empty((count, 3), np.float32)
        for x, ch in enumerate(cells):
            fg, bg = cell_colours(ch, span[0] <= x < span[1], x == cursor_col)
            fgs[x], bgs[x] = fg[::-1], bg[::-1]  # BGR order, as the framebuffer holds it
        alpha = np.concatenate([glyph(ch.data, ch.bold) for ch in cells], axis=1)[:, :, None]
        fg_px = np.repeat(fgs, width, axis=0)[None, :, :]
        bg_px = np.repeat(bgs, width, axis=0)[None, :, :]
        out = self.pixels[y * height:(y + 1) * height, :count * width, :3]
        out[...] = (bg_px + alpha * (fg_px - bg_px)).astype(np.uint8)
        underline = [x for x, ch in enumerate(cells) if ch.underscore]
        for x in underline:
            out[height - 2, x * width:(x + 1) * width] = fgs[x].astype(np.uint8)
