"""``setting()``: an attrs field whose metadata documents and constrains it.

Every configurable value in Geometry OS (scene fields, source and effect params,
plugin options) is declared with :func:`setting`.  The scene loader validates
against the metadata, ``docs/scenes.md`` is generated from it, and run-time
parameter changes are checked against it — one declaration, three uses.
"""

from __future__ import annotations

from typing import Any, Sequence

import attrs

DOC = "geos.doc"
MIN = "geos.min"
MAX = "geos.max"
CHOICES = "geos.choices"


def setting(
    default: Any = attrs.NOTHING,
    *,
    doc: str,
    min: float | None = None,  # noqa: A002 - reads best at the call site
    max: float | None = None,  # noqa: A002
    choices: Sequence[Any] | None = None,
    factory: Any = None,
) -> Any:
    """Declare a documented, validated setting on an attrs class.

    ``doc`` is the one-line description shown in docs and errors; ``min``/``max``
    bound numbers (inclusive); ``choices`` lists the accepted values.  Omit
    ``default`` (and ``factory``) to make the setting required.
    """
    metadata = {DOC: doc, MIN: min, MAX: max, CHOICES: tuple(choices) if choices else None}
    if factory is not None:
        return attrs.field(factory=factory, metadata=metadata)
    return attrs.field(default=default, metadata=metadata)


def check_value(field: attrs.Attribute, value: Any) -> str | None:
    """The reason ``value`` breaks ``field``'s bounds or choices, or None if it fits."""
    meta = field.metadata
    choices = meta.get(CHOICES)
    if choices and value not in choices:
        return f"must be one of {', '.join(map(str, choices))} (got {value!r})"
    low, high = meta.get(MIN), meta.get(MAX)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if low is not None and value < low:
            return f"must be >= {low} (got {value!r})"
        if high is not None and value > high:
            return f"must be <= {high} (got {value!r})"
    return None
