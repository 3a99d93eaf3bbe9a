"""Generate docs/plugin-hooks.md and docs/scenes.md from the code that defines them.

``geos docs`` rewrites both files; ``geos docs --check`` (run by the tests) fails
when either is out of date, so the reference can never drift from the code.
"""

from __future__ import annotations

import inspect
import types
import typing
from pathlib import Path
from typing import Any

import attrs

from geometry_os import hookspecs
from geometry_os.plugin_host import PluginHost
from geometry_os.scene import model
from geometry_os.settings import CHOICES, DOC, MAX, MIN

HOOKS_HEADER = """# Plugin hooks

Generated from `engine/hookspecs.py` by `geos docs`; do not edit by hand.
How to write a plugin: [plugins.md](plugins.md).

"""

SCENES_HEADER = """# Scene reference

Generated from `engine/scene/model.py` and the installed plugins' params classes by
`geos docs`; do not edit by hand.  A guide with examples: [scenes-guide.md](scenes-guide.md).

"""


def hook_functions() -> list[tuple[str, Any]]:
    """Every hookspec in definition order."""
    functions = [(name, fn) for name, fn in vars(hookspecs).items()
                 if inspect.isfunction(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")]
    return sorted(functions, key=lambda item: item[1].__code__.co_firstlineno)


def plugin_hooks_markdown() -> str:
    parts = [HOOKS_HEADER]
    for name, fn in hook_functions():
        signature = str(inspect.signature(fn)).replace("'", "")
        parts.append(f"## `{name}{signature}`\n\n{inspect.cleandoc(fn.__doc__ or '')}\n\n")
    return "".join(parts).rstrip() + "\n"


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is tuple:
        return f"[{', '.join(_type_name(a) for a in args)}]"
    if origin is dict:
        return "mapping"
    if attrs.has(tp):
        return "mapping"
    names = {str: "string", int: "integer", float: "number", bool: "true/false"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _default(field: attrs.Attribute) -> str:
    if field.default is attrs.NOTHING:
        return "required"
    if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
        value = field.default.factory()
        return "`[]`" if value == [] else "`{}`" if value == {} else "see below"
    value = field.default
    if isinstance(value, bool):
        value = str(value).lower()
    elif value is None:
        value = "null"
    elif isinstance(value, tuple):
        value = list(value)
    return f"`{value}`"


def _limits(field: attrs.Attribute) -> str:
    meta = field.metadata
    parts = []
    if meta.get(CHOICES):
        parts.append("one of " + ", ".join(f"`{c}`" for c in meta[CHOICES]))
    if meta.get(MIN) is not None:
        parts.append(f">= {meta[MIN]}")
    if meta.get(MAX) is not None:
        parts.append(f"<= {meta[MAX]}")
    return "; ".join(parts)


def fields_table(cls: type) -> str:
    """A Markdown table of an attrs class's settings."""
    hints = typing.get_type_hints(cls)
    rows = ["| field | type | default | allowed | description |", "|---|---|---|---|---|"]
    for field in attrs.fields(cls):
        if not field.init:
            continue
        rows.append(f"| `{field.alias}` | {_type_name(hints[field.name])} | {_default(field)} | "
                    f"{_limits(field)} | {field.metadata.get(DOC, '')} |")
    return "\n".join(rows) + "\n"


def scenes_markdown(host: PluginHost) -> str:
    sections = [SCENES_HEADER]
    for title, cls in [("Top level", model.Scene), ("`window`", model.WindowSettings),
                       ("`camera`", model.CameraSettings), ("`tiles[]`", model.TileSpec),
                       ("`plugins`", model.PluginSettings)]:
        sections.append(f"## {title}\n\n{inspect.cleandoc(cls.__doc__ or '')}\n\n{fields_table(cls)}\n")
    for kind, namespace in [("Source type", host.registry.sources), ("Effect", host.registry.effects)]:
        for name in namespace.names():
            item = namespace.get(name)
            owner = namespace.owner(name)
            sections.append(f"## {kind} `{name}` (plugin `{owner}`)\n\n{item.description}\n\n"
                            f"{fields_table(item.params)}\n")
    for name in host.registry.options.names():
        sections.append(f"## `plugins.options.{name}`\n\n{fields_table(host.registry.options.get(name))}\n")
    return "".join(sections).rstrip() + "\n"


def generated_docs(host: PluginHost) -> dict[str, str]:
    """File name (under docs/) -> content."""
    return {"plugin-hooks.md": plugin_hooks_markdown(), "scenes.md": scenes_markdown(host)}


def write_or_check(docs_dir: Path, host: PluginHost, check: bool) -> list[str]:
    """Write the generated docs, or (``check``) return the names of stale files."""
    stale = []
    for name, content in generated_docs(host).items():
        path = docs_dir / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != content:
            stale.append(name)
            if not check:
                path.write_text(content, encoding="utf-8")
    return stale
