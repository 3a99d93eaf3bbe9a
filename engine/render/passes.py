"""The pass model: what an effect draws, one pass after another (exported by :mod:`geometry_os.api`).

An effect is one or more passes.  Each pass draws one quad into its own target (a
texture) whose size is a :class:`Scale` of its input, of the *viewport* (the tile's
image on screen in the tile stage, the window in the screen stage) or absolute, in a
format such as ``rgba8`` or ``rgba16f``.  A pass reads textures by :class:`TextureRef`:
the effect's input, the previous pass, any earlier pass this frame, any pass's output
from earlier frames (feedback), the effect's input from earlier frames (history), and
look-up textures (:class:`Lut`).  docs/effects.md has the picture and every uniform.

Two kinds of pass:

* :class:`Pass` — a GLSL file defining ``vec4 effect_<name>(vec4 color, vec2 uv)``, the
  same contract as a single-pass effect; the engine declares its uniforms.
* :class:`ProgramPass` — a complete vertex and fragment program with its own uniform
  blocks (what the ``slang`` plugin makes of a RetroArch preset).

Nothing here touches GL: these are descriptions, checked when they are made.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

SCALE_KINDS = ("source", "viewport", "absolute")
FILTERS = ("linear", "nearest")
WRAPS = ("clamp_to_edge", "clamp_to_border", "repeat", "mirrored_repeat")
#: Target formats: GL's colour-renderable formats a pass may render into.
FORMATS = ("rgba8", "srgb8", "rgb10a2", "rgba16f", "rgba32f", "r8", "rg8", "r16f", "rg16f", "r32f", "rg32f")
MAX_SIZE = 16384  # pixels, per axis
MAX_HISTORY = 16  # frames a pass's output (or an effect's input) may be kept
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _identifier(_: Any, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    if value and not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"{attribute.name} must be a GLSL identifier (got {value!r})")


@attrs.frozen
class Scale:
    """How one axis of a pass's target is sized.

    ``kind``: ``"source"`` (``value`` times the pass's input), ``"viewport"`` (``value``
    times the tile's image on screen, or the window in the screen stage) or
    ``"absolute"`` (``value`` pixels).
    """

    kind: str = attrs.field(default="viewport", validator=attrs.validators.in_(SCALE_KINDS))
    value: float = attrs.field(default=1.0)

    @value.validator
    def _positive(self, _: attrs.Attribute, value: float) -> None:  # type: ignore[type-arg]
        if not value > 0:
            raise ValueError(f"scale must be > 0 (got {value!r})")

    def size(self, source: int, viewport: int) -> int:
        """Pixels on this axis, rounded and clamped to 1..MAX_SIZE."""
        if self.kind == "absolute":
            pixels = self.value
        else:
            pixels = (source if self.kind == "source" else viewport) * self.value
        return max(1, min(MAX_SIZE, round(pixels)))


VIEWPORT = Scale("viewport", 1.0)


class TextureKind(enum.Enum):
    """What a pass samples."""

    GUEST = "guest"        # the tile's guest image (tile stage) / the window drawn so far (screen stage)
    ORIGINAL = "original"  # the effect's input: what the effects before it made of the guest image
    SOURCE = "source"      # the previous pass's output (ORIGINAL for the first pass)
    PASS = "pass"          # pass ``index``'s output this frame (an earlier pass)
    FEEDBACK = "feedback"  # pass ``index``'s output ``age`` frames ago (any pass, itself included)
    HISTORY = "history"    # the effect's input ``age`` frames ago
    LUT = "lut"            # look-up texture ``index``


@attrs.frozen
class TextureRef:
    kind: TextureKind
    index: int = 0
    age: int = 0


@attrs.frozen
class Sampling:
    """How a pass samples its inputs (look-up textures have their own)."""

    filter: str = attrs.field(default="linear", validator=attrs.validators.in_(FILTERS))
    wrap: str = attrs.field(default="clamp_to_edge", validator=attrs.validators.in_(WRAPS))
    mipmap: bool = False  # mipmaps of the input (a trilinear minifying filter)


@attrs.frozen
class Output:
    """A pass's target: its size on each axis and its format."""

    scale_x: Scale = VIEWPORT
    scale_y: Scale = VIEWPORT
    format: str = attrs.field(default="rgba8", validator=attrs.validators.in_(FORMATS))

    @property
    def is_viewport(self) -> bool:
        """Exactly the viewport: the last pass then draws straight onto the screen."""
        return self.scale_x == VIEWPORT and self.scale_y == VIEWPORT


@attrs.frozen
class Pass:
    """One pass of a multi-pass effect, written like a single-pass effect.

    ``shader`` defines ``vec4 effect_<effect name>(vec4 color, vec2 uv)``: ``color`` is
    this pass's input at ``uv``.  ``name`` lets later passes read this pass's output as
    ``u_pass_<name>``; ``history`` keeps that many of its previous outputs, read as
    ``u_pass_<name>_prev1`` .. ``_prevN`` (and by the pass itself as ``u_feedback``).
    """

    shader: Path
    name: str = attrs.field(default="", validator=_identifier)
    scale: Scale = VIEWPORT
    scale_y: Scale | None = None  # None: the same as ``scale``
    format: str = attrs.field(default="rgba8", validator=attrs.validators.in_(FORMATS))
    filter: str = attrs.field(default="linear", validator=attrs.validators.in_(FILTERS))
    wrap: str = attrs.field(default="clamp_to_edge", validator=attrs.validators.in_(WRAPS))
    mipmap: bool = False
    history: int = attrs.field(default=0, validator=[attrs.validators.ge(0), attrs.validators.le(MAX_HISTORY)])

    @property
    def output(self) -> Output:
        return Output(self.scale, self.scale_y or self.scale, self.format)

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.filter, self.wrap, self.mipmap)


@attrs.frozen
class Lut:
    """A look-up texture shipped with a plugin (an image file: PNG, ...), read as ``u_lut_<name>``."""

    name: str = attrs.field(validator=_identifier)
    path: Path
    filter: str = attrs.field(default="linear", validator=attrs.validators.in_(FILTERS))
    wrap: str = attrs.field(default="clamp_to_edge", validator=attrs.validators.in_(WRAPS))
    mipmap: bool = False

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.filter, self.wrap, self.mipmap)


@attrs.define(slots=True)
class PassFrame:
    """What a :class:`ProgramPass` may put in its uniform blocks for one draw."""

    params: Any  # the effect's params object
    output_size: tuple[int, int]  # this pass's target
    viewport_size: tuple[int, int]  # the last pass's target: the tile's image on screen (or the window)
    mvp: tuple[float, ...]  # column-major mat4 taking the quad's Position (0..1) to clip space
    frame_count: int  # frames this effect has drawn for this tile
    frame_direction: int  # 1 (-1 would be rewinding)
    frame_time: float  # seconds since the previous frame
    size: Callable[[TextureRef], tuple[int, int]]  # the size of any texture the pass may read


@attrs.frozen(eq=False)
class ProgramPass:
    """A pass given as a whole GL program (GLSL 330 or 450 core, both stages).

    The vertex stage reads ``Position`` (location 0, vec4, 0..1 over the target) and
    ``TexCoord`` (location 1, vec2, (0, 0) top-left).  ``samplers`` names each sampler
    uniform and the texture it reads; ``blocks(frame)`` returns, for each uniform block,
    the names it has in the program (one per stage may differ) and its std140 bytes.
    ``map_log`` turns a driver's compile log into ``file:line: message`` lines.
    """

    vertex: str
    fragment: str
    samplers: tuple[tuple[str, TextureRef], ...]
    blocks: Callable[[PassFrame], Sequence[tuple[Sequence[str], bytes]]]
    map_log: Callable[[str], list[str]]
    output: Output = Output()
    sampling: Sampling = Sampling()
    name: str = ""  # for messages
    animates: bool = True  # its picture may change by itself (it reads a frame counter or the time)


@attrs.frozen(eq=False)
class PassList:
    """What an effect whose passes depend on its parameters (``EffectType.passes`` a function) draws.

    ``files`` are watched for hot reload besides the passes' own shaders (a preset, the
    files it references).  Return the *same* object while nothing changed: a new one
    rebuilds the effect's programs and restarts its feedback.
    """

    passes: tuple[Pass | ProgramPass, ...]
    luts: tuple[Lut, ...] = ()
    files: tuple[Path, ...] = ()


class EffectError(Exception):
    """An effect that cannot be built (a passes function raises it): one line, ``file:line: what``.

    ``files`` are the files to watch: an edit of any of them retries the effect.
    """

    def __init__(self, message: str, files: Sequence[Path] = ()) -> None:
        super().__init__(" ".join(message.split()) or "effect error")
        self.files = tuple(files)

