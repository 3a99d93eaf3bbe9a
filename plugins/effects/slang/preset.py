"""A RetroArch ``.slangp`` preset as data: its passes, look-up textures and parameter overrides.

Defaults are RetroArch's: nearest filtering, ``clamp_to_border`` wrapping, each pass at
the size of its source, and the last pass drawn to the viewport.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from attrs import frozen

from geometry_os.plugins.effects.slang.errors import SlangError
from geometry_os.plugins.effects.slang.preset_file import Entry, beside, read_entries

#: RetroArch's limit on passes in one preset.
MAX_PASSES = 64
#: Framebuffer sizes are clamped to this range on each axis.
MAX_SIZE = 16384

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INT = re.compile(r"[+-]?\d+")
# Per-pass keys: the pass index is the trailing number.
_PASS_KEY = re.compile(r"(shader|filter_linear|wrap_mode|mipmap_input|float_framebuffer|srgb_framebuffer|"
                       r"frame_count_mod|alias|scale_type_x|scale_type_y|scale_type|scale_x|scale_y|scale)(\d+)")
_UNSUPPORTED = {
    "feedback_pass": "feedback_pass is not supported (sample PassFeedbackN or an alias's Feedback instead)",
}

T = TypeVar("T")
_log = logging.getLogger(__name__)


class WrapMode(enum.Enum):
    CLAMP_TO_BORDER = "clamp_to_border"
    CLAMP_TO_EDGE = "clamp_to_edge"
    REPEAT = "repeat"
    MIRRORED_REPEAT = "mirrored_repeat"


class ScaleType(enum.Enum):
    SOURCE = "source"      # a factor of the pass's input size
    VIEWPORT = "viewport"  # a factor of the final viewport size
    ABSOLUTE = "absolute"  # a size in pixels


@frozen
class Scale:
    """How one axis of a pass's output is sized; ``value`` is a factor, or pixels for ABSOLUTE."""

    type: ScaleType = ScaleType.SOURCE
    value: float = 1.0

    def size(self, source: int, viewport: int) -> int:
        """The output size in pixels on this axis, clamped to 1..MAX_SIZE."""
        if self.type is ScaleType.ABSOLUTE:
            pixels = self.value
        else:
            pixels = (source if self.type is ScaleType.SOURCE else viewport) * self.value
        return max(1, min(MAX_SIZE, round(pixels)))


VIEWPORT = Scale(ScaleType.VIEWPORT, 1.0)


@frozen
class PassSpec:
    """One ``shaderN`` with its settings.

    ``filter_linear`` and ``wrap_mode`` are for sampling this pass's *input* (Source);
    ``mipmap_input`` asks for mipmaps on that input.  ``explicit_scale`` is False when the
    preset gave no scale type: then the pass is source-sized, or viewport-sized if last.
    """

    index: int
    shader: Path
    filter_linear: bool = False
    wrap_mode: WrapMode = WrapMode.CLAMP_TO_BORDER
    mipmap_input: bool = False
    float_framebuffer: bool = False
    srgb_framebuffer: bool = False
    frame_count_mod: int = 0  # 0: FrameCount is not wrapped
    alias: str | None = None
    scale_x: Scale = Scale()
    scale_y: Scale = Scale()
    explicit_scale: bool = False


@frozen
class LutSpec:
    """A look-up texture named in ``textures``; LUTs default to linear filtering."""

    name: str
    path: Path
    linear: bool = True
    wrap_mode: WrapMode = WrapMode.CLAMP_TO_BORDER
    mipmap: bool = False


@frozen
class Preset:
    """A whole preset; ``parameters`` are the overrides it sets (id -> value); ``files`` every
    preset file read (itself and what it references)."""

    path: Path
    passes: tuple[PassSpec, ...]
    luts: tuple[LutSpec, ...]
    parameters: dict[str, float]
    files: tuple[Path, ...] = ()


def load_preset(path: Path | str) -> Preset:
    """Parse the preset at ``path``; raises :class:`SlangError` naming ``file:line``."""
    return _Reader(Path(path)).preset()


class _Reader:
    """Interprets entries, remembering which were used so the rest can be checked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: list[Path] = []
        self.entries = read_entries(path, self.files)
        self.used: set[str] = set()

    def get(self, key: str, parse: Callable[[Entry], T], default: T) -> T:
        entry = self.entries.get(key)
        self.used.add(key)
        return default if entry is None else parse(entry)

    def preset(self) -> Preset:
        count_entry = self.entries.get("shaders")
        if count_entry is None:
            raise SlangError(f"{self.path}: no 'shaders' key (how many passes the preset has)")
        count = self.get("shaders", _int, 0)
        if not 1 <= count <= MAX_PASSES:
            raise count_entry.error(f"shaders must be 1..{MAX_PASSES} (got {count})")
        passes = tuple(self.pass_spec(i, last=i == count - 1, count_entry=count_entry) for i in range(count))
        aliases: dict[str, int] = {}
        for spec in passes:
            if spec.alias in aliases:
                raise self.entries[f"alias{spec.index}"].error(
                    f"alias {spec.alias!r} is already pass {aliases[spec.alias]}'s")
            if spec.alias:
                aliases[spec.alias] = spec.index
        luts = self.luts()
        for lut in luts:
            if lut.name in aliases:
                raise self.entries["textures"].error(f"texture {lut.name!r} has the name of pass "
                                                     f"{aliases[lut.name]}'s alias")
        self.get("parameters", _names, list[str]())  # RetroArch writes the list it saved; the values are their own keys
        return Preset(self.path, passes, luts, self.overrides(count), tuple(dict.fromkeys(self.files)))

    def pass_spec(self, i: int, last: bool, count_entry: Entry) -> PassSpec:
        shader = self.entries.get(f"shader{i}")
        if shader is None:
            raise count_entry.error(f"shaders = {count_entry.value} but there is no shader{i}")
        type_x, type_y = self.scale_types(i)
        explicit = type_x is not None or type_y is not None
        if not explicit:
            self.ignore_scale_without_type(i)
        return PassSpec(
            index=i,
            shader=self.get(f"shader{i}", _shader_path, Path()),
            filter_linear=self.get(f"filter_linear{i}", _bool, False),
            wrap_mode=self.get(f"wrap_mode{i}", _wrap, WrapMode.CLAMP_TO_BORDER),
            mipmap_input=self.get(f"mipmap_input{i}", _bool, False),
            float_framebuffer=self.get(f"float_framebuffer{i}", _bool, False),
            srgb_framebuffer=self.get(f"srgb_framebuffer{i}", _bool, False),
            frame_count_mod=self.get(f"frame_count_mod{i}", _count, 0),
            alias=self.get(f"alias{i}", _alias, None),
            scale_x=self.scale(i, "x", type_x) if explicit else (VIEWPORT if last else Scale()),
            scale_y=self.scale(i, "y", type_y) if explicit else (VIEWPORT if last else Scale()),
            explicit_scale=explicit,
        )

    def scale_types(self, i: int) -> tuple[ScaleType | None, ScaleType | None]:
        both = self.get(f"scale_type{i}", _scale_type, None)
        return (self.get(f"scale_type_x{i}", _scale_type, both), self.get(f"scale_type_y{i}", _scale_type, both))

    def ignore_scale_without_type(self, i: int) -> None:
        """RetroArch ignores scale factors of a pass that has no scale type; so do we, saying so."""
        for key in (f"scale{i}", f"scale_x{i}", f"scale_y{i}"):
            self.used.add(key)
            if key in self.entries:
                _log.warning("%s: %s has no effect without scale_type%d", self.entries[key].where, key, i)

    def scale(self, i: int, axis: str, kind: ScaleType | None) -> Scale:
        """One axis: ``scale_xN``/``scale_yN`` win over ``scaleN``; an axis with no type is source-sized."""
        kind = kind or ScaleType.SOURCE
        entry = self.entries.get(f"scale_{axis}{i}") or self.entries.get(f"scale{i}")
        self.used.update((f"scale_{axis}{i}", f"scale{i}"))
        if entry is None:
            if kind is ScaleType.ABSOLUTE:
                raise SlangError(f"{self.path}: pass {i} has an absolute scale type but no scale{i} or "
                                 f"scale_{axis}{i} (pixels)")
            return Scale(kind, 1.0)
        value = _float(entry)
        if kind is ScaleType.ABSOLUTE and (value != int(value) or value < 1):
            raise entry.error(f"{entry.key} must be a whole number of pixels >= 1 (got {entry.value})")
        if value <= 0:
            raise entry.error(f"{entry.key} must be > 0 (got {entry.value})")
        return Scale(kind, value)

    def luts(self) -> tuple[LutSpec, ...]:
        names = self.get("textures", _names, list[str]())
        luts = []
        for name in names:
            entry = self.entries.get(name)
            if entry is None:
                raise self.entries["textures"].error(f"texture {name!r} has no '{name} = path' line")
            luts.append(LutSpec(
                name=name,
                path=self.get(name, _existing_path, Path()),
                linear=self.get(f"{name}_linear", _bool, True),
                wrap_mode=self.get(f"{name}_wrap_mode", _wrap, WrapMode.CLAMP_TO_BORDER),
                mipmap=self.get(f"{name}_mipmap", _bool, False),
            ))
        return tuple(luts)

    def overrides(self, count: int) -> dict[str, float]:
        """Every entry not read so far: a number is a parameter override, anything else an error."""
        values: dict[str, float] = {}
        for key, entry in self.entries.items():
            if key in self.used:
                continue
            if key in _UNSUPPORTED:
                raise entry.error(_UNSUPPORTED[key])
            if _FLOAT.fullmatch(entry.value) and IDENTIFIER.fullmatch(key):
                values[key] = float(entry.value)
                continue
            per_pass = _PASS_KEY.fullmatch(key)
            if per_pass and int(per_pass.group(2)) >= count:
                raise entry.error(f"unknown key {key!r} (the preset has {count} passes)")
            raise entry.error(f"unknown key {key!r}")
        return values


def _int(entry: Entry) -> int:
    if not _INT.fullmatch(entry.value):
        raise entry.error(f"{entry.key} must be a whole number (got {entry.value!r})")
    return int(entry.value)


def _count(entry: Entry) -> int:
    value = _int(entry)
    if value < 0:
        raise entry.error(f"{entry.key} must be >= 0 (got {value})")
    return value


def _float(entry: Entry) -> float:
    if not _FLOAT.fullmatch(entry.value):
        raise entry.error(f"{entry.key} must be a number (got {entry.value!r})")
    return float(entry.value)


def _bool(entry: Entry) -> bool:
    value = entry.value.lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise entry.error(f"{entry.key} must be true or false (got {entry.value!r})")


def _wrap(entry: Entry) -> WrapMode:
    try:
        return WrapMode(entry.value)
    except ValueError:
        choices = ", ".join(m.value for m in WrapMode)
        raise entry.error(f"{entry.key} must be one of {choices} (got {entry.value!r})") from None


def _scale_type(entry: Entry) -> ScaleType:
    try:
        return ScaleType(entry.value)
    except ValueError:
        choices = ", ".join(m.value for m in ScaleType)
        raise entry.error(f"{entry.key} must be one of {choices} (got {entry.value!r})") from None


def _alias(entry: Entry) -> str | None:
    if not entry.value:
        return None  # RetroArch writes `aliasN = ""` for passes without one
    if not IDENTIFIER.fullmatch(entry.value):
        raise entry.error(f"{entry.key} must be an identifier (got {entry.value!r})")
    return entry.value


def _names(entry: Entry) -> list[str]:
    names = [name.strip() for name in entry.value.split(";") if name.strip()]
    for name in names:
        if not IDENTIFIER.fullmatch(name):
            raise entry.error(f"{entry.key}: {name!r} is not an identifier")
    return names


def _existing_path(entry: Entry) -> Path:
    if not entry.value:
        raise entry.error(f"{entry.key} needs a file name")
    path = beside(entry.file, entry.value)
    if not path.is_file():
        raise entry.error(f"{entry.key}: no such file {path}")
    return path


def _shader_path(entry: Entry) -> Path:
    if not entry.value.endswith(".slang"):
        raise entry.error(f"{entry.key}: only .slang shaders are supported (got {entry.value!r})")
    return _existing_path(entry)
