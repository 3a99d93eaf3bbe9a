"""Strict, error-collecting conversion of YAML nodes into attrs classes.

Why not cattrs' default converter: it coerces (``2.7`` -> 2, ``"640"`` -> 640,
``"no"`` -> True) and stops at the first failing validator.  A scene author wants
every mistake in the file at once, each with its line.  So this walks the composed
YAML node tree (which keeps line marks) next to the attrs class and records one
:class:`Problem` per mistake.

Accepted field types: ``str``, ``int``, ``float`` (an int is fine), ``bool`` (only
``true``/``false``), ``X | None``, ``list[X]``, ``tuple[X, ...]`` of fixed length,
``dict[str, Any]``, ``Any``, ``Color`` (settings.py) and nested attrs classes.  Fields whose metadata has
:data:`DISPATCH` are polymorphic: the mapping's ``type`` key picks the params class.
Fields declared ``setting(must_exist=True)`` name files that must be there, relative
to the scene file's folder (``directory``).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

import attrs
import yaml

from geometry_os.settings import MUST_EXIST, Color, check_file, check_value

#: Field metadata key: the field holds ``{type: NAME, ...params}``; value is the
#: name of the lookup (see :class:`Structurer` ``dispatchers``).
DISPATCH = "geos.dispatch"
#: A dispatched params class with this classmethod picks the class that validates each
#: entry: ``cls.geos_variant(params, directory)`` gets the entry structured with the
#: class's own fields only (others set aside) and the scene's folder, and returns a
#: subclass with the entry's other fields, or raises ValueError (one line).  The
#: ``slang`` effect uses it: a preset's parameters become fields.
VARIANT = "geos_variant"

_BOOL_WORDS = {"true": True, "false": False, "True": True, "False": False, "TRUE": True, "FALSE": False}
_TAG = "tag:yaml.org,2002:"


@attrs.define(frozen=True)
class Problem:
    """One mistake in a scene: where, which field, what is wrong."""

    line: int
    path: str
    message: str


@attrs.define(frozen=True)
class Typed:
    """A dispatched value: the ``type`` name and its structured params object."""

    type: str
    params: Any


class Invalid(Exception):
    """Raised inside the walk to abandon a value after its problems were recorded."""


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe(node: yaml.Node) -> str:
    """How a node reads to a scene author ("a list", "the string 'x'", "1.5")."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _TAG + "str":
        return f"the string {node.value!r}"
    if node.tag == _TAG + "null":
        return "nothing (null)"
    return str(node.value)


class Structurer:
    """Walks YAML nodes into attrs objects, recording problems instead of raising.

    ``dispatchers`` maps a :data:`DISPATCH` name to a function ``name -> params
    class or None`` plus the list of known names (for "unknown type" errors).
    ``directory`` is the folder relative file paths resolve against (the scene's).
    """

    def __init__(self, dispatchers: dict[str, tuple[Callable[[str], type | None], Callable[[], list[str]]]],
                 directory: Path):
        self.dispatchers = dispatchers
        self.directory = directory
        self.problems: list[Problem] = []

    def problem(self, node: yaml.Node, path: str, message: str) -> None:
        self.problems.append(Problem(node.start_mark.line + 1, path or "scene", message))

    # ------------------------------------------------------------------ entry
    def structure(self, node: yaml.Node, tp: Any, path: str = "") -> Any:
        """The value of ``node`` as ``tp``, or raises :class:`Invalid` (problems recorded)."""
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is Any:
            try:
                return yaml.SafeLoader("").construct_object(node, deep=True)
            except yaml.MarkedYAMLError as exc:  # e.g. a list as a mapping key
                self.problem(node, path, f"yaml: {exc.problem or exc.context}")
                raise Invalid from None
        if origin in (Union, types.UnionType):
            return self._union(node, args, path)
        if tp is Color:
            return self._color(node, path)
        if attrs.has(tp):
            return self.structure_class(node, tp, path)
        if origin is list:
            return self._list(node, args[0], path)
        if origin is tuple:
            return self._tuple(node, args, path)
        if origin is dict:
            return self._dict(node, args[1], path)
        return self._scalar(node, tp, path)

    def structure_class(self, node: yaml.Node, cls: type, path: str) -> Any:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, path, f"expected a mapping, got {describe(node)}")
            raise Invalid
        hints = typing.get_type_hints(cls)
        fields = {f.alias: f for f in attrs.fields(cls) if f.init}
        given: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str) or key not in fields:
                self._unknown_key(key_node, path, str(key), list(fields))
            elif key in given:
                self.problem(key_node, join(path, key), "given twice")
            else:
                given[key] = (key_node, value_node)
        values: dict[str, Any] = {}
        ok = True
        for name, field in fields.items():
            if name not in given:
                if field.default is attrs.NOTHING:
                    self.problem(node, join(path, name), "required field is missing")
                    ok = False
                continue
            _, value_node = given[name]
            try:
                if DISPATCH in field.metadata:
                    values[name] = self._dispatch(value_node, field, hints[field.name], join(path, name))
                else:
                    values[name] = self.structure(value_node, hints[field.name], join(path, name))
            except Invalid:
                ok = False
                continue
            reason = check_value(field, values[name])
            if reason:
                self.problem(value_node, join(path, name), reason)
                ok = False
            elif field.metadata.get(MUST_EXIST):  # a missing file is reported; the class-level checks still run
                self._check_files(value_node, values[name], join(path, name))
        if not ok:
            raise Invalid
        try:
            return cls(**values)
        except (ValueError, TypeError) as exc:  # a class-level check (attrs validator)
            self.problem(node, path, str(exc.args[0]) if exc.args else str(exc))
            raise Invalid from None

    def _check_files(self, node: yaml.Node, value: str | list[str] | None, path: str) -> None:
        """Record a problem for each file ``value`` names that cannot be read."""
        if isinstance(value, list):
            assert isinstance(node, yaml.SequenceNode)  # structured as a list just now
            for index, (child, item) in enumerate(zip(node.value, value, strict=True)):
                self._check_files(child, item, join(path, index))
            return
        reason = check_file(value, self.directory) if value is not None else None
        if reason:
            self.problem(node, path, reason)

    def _unknown_key(self, key_node: yaml.Node, path: str, key: str, known: list[str]) -> None:
        hint = difflib.get_close_matches(key, known, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(known)})"
        self.problem(key_node, join(path, key), f"unknown field{suggestion}")

    # ------------------------------------------------------------- dispatch
    def _dispatch(self, node: yaml.Node, field: attrs.Attribute[Any], tp: Any, path: str) -> Any:
        if typing.get_origin(tp) is list:
            return self._list(node, None, path, item=lambda n, p: self._typed(n, field, p))
        return self._typed(node, field, path)

    def _typed(self, node: yaml.Node, field: attrs.Attribute[Any], path: str) -> Typed:
        lookup, known = self.dispatchers[field.metadata[DISPATCH]]
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, path, f"expected a mapping with a 'type', got {describe(node)}")
            raise Invalid
        type_node = next((v for k, v in node.value if getattr(k, "value", None) == "type"), None)
        if type_node is None:
            self.problem(node, join(path, "type"), f"required field is missing (one of: {', '.join(known())})")
            raise Invalid
        name = self._scalar(type_node, str, join(path, "type"))
        params_cls = lookup(name)
        if params_cls is None:
            names = known()
            hint = difflib.get_close_matches(name, names, n=1)
            more = f"did you mean {hint[0]!r}? " if hint else ""
            self.problem(type_node, join(path, "type"),
                         f"unknown type {name!r}; {more}installed: {', '.join(names) or 'none'}")
            raise Invalid
        rest = yaml.MappingNode(node.tag, [(k, v) for k, v in node.value if getattr(k, "value", None) != "type"],
                                node.start_mark, node.end_mark)
        if hasattr(params_cls, VARIANT):
            params_cls = self._variant(rest, params_cls, path)
        return Typed(name, self.structure_class(rest, params_cls, path))

    def _variant(self, node: yaml.MappingNode, base: type, path: str) -> type:
        """The class that validates this entry, from the ``base`` class's own fields (see :data:`VARIANT`)."""
        own = {f.alias for f in attrs.fields(base) if f.init}
        given = [(k, v) for k, v in node.value if getattr(k, "value", None) in own]
        params = self.structure_class(yaml.MappingNode(node.tag, given, node.start_mark, node.end_mark), base, path)
        try:
            variant: type = getattr(base, VARIANT)(params, self.directory)
        except ValueError as exc:
            key, value = given[0] if given else (None, node)
            self.problem(value, join(path, key.value) if key is not None else path, str(exc))
            raise Invalid from None
        return variant

    def _color(self, node: yaml.Node, path: str) -> Color:
        try:
            value = yaml.SafeLoader("").construct_object(node, deep=True)
            return Color.parse(value)
        except (ValueError, yaml.MarkedYAMLError) as exc:
            self.problem(node, path, str(exc))
            raise Invalid from None

    # ---------------------------------------------------------- containers
    def _union(self, node: yaml.Node, args: tuple[Any, ...], path: str) -> Any:
        if type(None) in args and isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null":
            return None
        others = [a for a in args if a is not type(None)]
        if len(others) != 1:
            raise TypeError(f"unsupported union at {path}: {args}")
        return self.structure(node, others[0], path)

    def _list(self, node: yaml.Node, item_tp: Any, path: str,
              item: Callable[[yaml.Node, str], Any] | None = None) -> list[Any]:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, path, f"expected a list, got {describe(node)}")
            raise Invalid
        convert = item or (lambda n, p: self.structure(n, item_tp, p))
        return self._each(((child, convert) for child in node.value), path)

    def _tuple(self, node: yaml.Node, args: tuple[Any, ...], path: str) -> tuple[Any, ...]:
        if not isinstance(node, yaml.SequenceNode) or len(node.value) != len(args):
            got = f"a list of {len(node.value)}" if isinstance(node, yaml.SequenceNode) else describe(node)
            self.problem(node, path, f"expected a list of {len(args)} values, got {got}")
            raise Invalid
        items = ((child, lambda n, p, tp=tp: self.structure(n, tp, p))
                 for child, tp in zip(node.value, args, strict=True))
        return tuple(self._each(items, path))

    def _each(self, items: Any, path: str = "") -> list[Any]:
        """Convert every (node, converter) pair, recording all problems before giving up."""
        out, ok = [], True
        for index, (child, convert) in enumerate(items):
            try:
                out.append(convert(child, join(path, index)))
            except Invalid:
                ok = False
        if not ok:
            raise Invalid
        return out

    def _dict(self, node: yaml.Node, value_tp: Any, path: str) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, path, f"expected a mapping, got {describe(node)}")
            raise Invalid
        out, ok = {}, True
        for key_node, value_node in node.value:
            key = self._scalar(key_node, str, path)
            try:
                out[key] = self.structure(value_node, value_tp, join(path, key))
            except Invalid:
                ok = False
        if not ok:
            raise Invalid
        return out

    # -------------------------------------------------------------- scalars
    def _scalar(self, node: yaml.Node, tp: Any, path: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, path, f"expected {_NAMES.get(tp, tp.__name__)}, got {describe(node)}")
            raise Invalid
        tag = node.tag.removeprefix(_TAG)
        if tp is str and tag == "str":
            return node.value
        if tp is bool and node.value in _BOOL_WORDS and node.style is None:
            return _BOOL_WORDS[node.value]
        if tp is int and tag == "int":
            return int(yaml.SafeLoader("").construct_yaml_int(node))
        if tp is float and tag in ("int", "float"):
            return float(yaml.SafeLoader("").construct_yaml_float(node))
        hint = ""
        if tp is bool and tag == "bool":
            hint = " (write true or false)"
        elif tp is str and node.style is None:
            hint = " (quote it to make it a string)"
        self.problem(node, path, f"expected {_NAMES.get(tp, tp.__name__)}, got {describe(node)}{hint}")
        raise Invalid


_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
