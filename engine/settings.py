"""``setting()``: an attrs field whose metadata documents and constrains it.

Every configurable value in Geometry OS (scene fields, source and effect params,
plugin options) is declared with :func:`setting`.  The scene loader validates
against the metadata, ``docs/scenes.md`` is generated from it, and run-time
parameter changes are checked against it — one declaration, three uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

DOC = "geos.doc"
MIN = "geos.min"
MAX = "geos.max"
CHOICES = "geos.choices"
MUST_EXIST = "geos.must_exist"


def setting(
    default: Any = attrs.NOTHING,
    *,
    doc: str,
    min: float | None = None,
    max: float | None = None,
    choices: Sequence[Any] | None = None,
    must_exist: bool = False,
    factory: Any = None,
) -> Any:
    """Declare a documented, validated setting on an attrs class.

    ``doc`` is the one-line description shown in docs and errors; ``min``/``max``
    bound numbers (inclusive); ``choices`` lists the accepted values.
    ``must_exist`` marks a path (a string, or a list of them) of a file that is read:
    relative to the scene file's folder, ``~`` expanded (:func:`resolve_path`), and a
    scene naming a file that is not there fails ``geos check``.  Omit ``default``
    (and ``factory``) to make the setting required.
    """
    metadata = {DOC: doc, MIN: min, MAX: max, CHOICES: tuple(choices) if choices else None, MUST_EXIST: must_exist}
    if factory is not None:
        return attrs.field(factory=factory, metadata=metadata)
    return attrs.field(default=default, metadata=metadata)


def check_value(field: attrs.Attribute[Any], value: Any) -> str | None:
    """The reason ``value`` breaks ``field``'s bounds or choices, or None if it fits."""
    meta = field.metadata
    choices = meta.get(CHOICES)
    if choices and value not in choices:
        return f"must be one of {', '.join(map(str, choices))} (got {value!r})"
    low, high = meta.get(MIN), meta.get(MAX)
    numbers = value if isinstance(value, tuple) else (value,)  # a vector: every component is bounded
    for number in numbers:
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            if low is not None and number < low:
                return f"must be >= {low} (got {value!r})"
            if high is not None and number > high:
                return f"must be <= {high} (got {value!r})"
    return None


class Color(tuple[float, float, float]):
    """An RGB colour with components 0..1: a ``vec3`` in GLSL.

    A scene writes ``"#ffaa00"``, ``"#fa0"`` or ``[1.0, 0.67, 0.0]``; :meth:`parse` reads
    all three.  It is a tuple, so it compares and hashes like ``(r, g, b)``.
    """

    __slots__ = ()

    def __new__(cls, r: float, g: float, b: float) -> Color:
        components = (float(r), float(g), float(b))
        if not all(0.0 <= c <= 1.0 for c in components):
            raise ValueError(f"colour components must be 0..1 (got {list(components)})")
        return super().__new__(cls, components)

    @classmethod
    def parse(cls, value: Any) -> Color:
        """``value`` as a colour; ValueError with a one-line reason otherwise."""
        if isinstance(value, Color):
            return value
        if isinstance(value, str):
            digits = value[1:] if value.startswith("#") else ""
            if len(digits) == 3:
                digits = "".join(d * 2 for d in digits)
            if len(digits) != 6 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(f'a colour string is "#rrggbb" or "#rgb" (got {value!r})')
            return cls(*(int(digits[i:i + 2], 16) / 255.0 for i in (0, 2, 4)))
        if isinstance(value, (list, tuple)) and len(value) == 3 and all(
                isinstance(c, (int, float)) and not isinstance(c, bool) for c in value):
            return cls(*value)
        raise ValueError(f'a colour is "#rrggbb", "#rgb" or [r, g, b] with components 0..1 (got {value!r})')

    def __repr__(self) -> str:
        return "#" + "".join(f"{round(c * 255):02x}" for c in self)


def resolve_path(value: str, directory: Path) -> Path:
    """The path a setting's ``value`` names: ``~`` expanded, relative ones under ``directory``
    (the scene file's folder)."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else directory / path


def check_file(value: str, directory: Path) -> str | None:
    """The reason the file a ``must_exist`` setting names cannot be read, or None if it can."""
    path = resolve_path(value, directory)
    try:
        if path.is_dir():
            return f"is a directory, not a file: {path}"
        if not path.exists():  # also a name with a NUL byte
            return f"file not found: {path}"
    except OSError as exc:  # e.g. a name too long for the file system
        return f"cannot use {path}: {exc.strerror or exc}"
    if not os.access(path, os.R_OK):
        return f"file not readable: {path}"
    return None
