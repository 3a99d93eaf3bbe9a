"""Reading a scene file: YAML -> :class:`~geometry_os.scene.model.Scene`, or every error at once.

Errors are reported as ``scenes/x.yaml:12: tiles[1].source.memory: must be >= 16
(got 4)``: file, line, path, reason — one per line, all of them, sorted by line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from geometry_os.scene.model import Scene
from geometry_os.scene.structure import Invalid, Structurer, join
from geometry_os.settings import check_file, resolve_path

if TYPE_CHECKING:
    from geometry_os.plugin_host import PluginHost


class SceneError(Exception):
    """A scene that cannot be used; ``lines`` holds one ``file:line: path: reason`` each."""

    def __init__(self, lines: list[str]):
        lines = [one_line(line) for line in lines]
        super().__init__("\n".join(lines))
        self.lines = lines


def one_line(text: str) -> str:
    """``text`` with characters that would break or hide a line escaped (keys echo the file)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if getattr(k, "value", None) == key), None)


def _params_lookup(namespace: Any) -> tuple[Any, Any]:
    def lookup(name: str) -> type | None:
        item = namespace.get(name)
        return item.params if item is not None else None

    return lookup, namespace.names


def load_scene(path: Path | str, host: PluginHost) -> Scene:
    """Parse and validate ``path`` against the plugins loaded in ``host``.

    Plugin files the scene lists under ``plugins.load`` are loaded into ``host`` first
    so their source and effect types validate.  Raises :class:`SceneError`.
    """
    path = Path(path)
    label = str(path)
    text = _read_text(path, label)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise SceneError([f"{label}:{line}: yaml: {exc.problem or exc.context}"]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML forbids; it has no mark, only a position
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise SceneError([f"{label}:{line}: yaml: unacceptable character #x{char:04x}: {exc.reason}"]) from None
    except yaml.YAMLError as exc:
        raise SceneError([f"{label}:1: yaml: {str(exc).splitlines()[0]}"]) from None
    if root is None:
        raise SceneError([f"{label}:1: scene: the file is empty; expected a mapping with 'tiles'"])

    directory = path.parent.absolute()  # what relative paths in the scene are relative to
    structurer = Structurer({
        "sources": _params_lookup(host.registry.sources),
        "effects": _params_lookup(host.registry.effects),
    }, directory)
    _load_scene_plugins(root, directory, host, structurer)
    scene: Scene | None = None
    try:
        scene = structurer.structure_class(root, Scene, "")
    except Invalid:
        pass
    options = _structure_options(root, host, structurer)
    if scene is not None:
        object.__setattr__(scene, "path", path)
        object.__setattr__(scene.plugins, "options", options)
        _check_tile_ids(root, scene, structurer)
    if structurer.problems:
        problems = sorted(set(structurer.problems), key=lambda p: (p.line, p.path))
        raise SceneError([f"{label}:{p.line}: {p.path}: {p.message}" for p in problems])
    assert scene is not None
    return scene


def _read_text(path: Path, label: str) -> str:
    """The scene file's text; a file that is not UTF-8 is an error at the line of its first bad byte."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SceneError([f"{label}: cannot read scene: {exc.strerror or exc}"]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        before = data[data.rfind(b"\n", 0, exc.start) + 1:exc.start].decode("utf-8")  # valid up to the bad byte
        column = len(before) + 1  # in characters, as an editor counts
        raise SceneError([f"{label}:{line}: not UTF-8: byte 0x{data[exc.start]:02x} at column {column} "
                          "(save the scene as UTF-8)"]) from None


def _load_scene_plugins(root: yaml.Node, directory: Path, host: PluginHost, st: Structurer) -> None:
    """Load the files named in ``plugins.load`` before the rest is validated (a missing
    one is reported by the main walk: the field is ``must_exist``)."""
    load = _child(_child(root, "plugins"), "load")
    if not isinstance(load, yaml.SequenceNode):
        return  # wrong shapes are reported by the main walk
    for index, item in enumerate(load.value):
        if not isinstance(item, yaml.ScalarNode) or item.tag != "tag:yaml.org,2002:str":
            continue
        if check_file(item.value, directory) is not None:
            continue
        file = resolve_path(item.value, directory)
        host.load_file(file, report=False)  # reported below as file:line, not twice
        info = host.infos.get(file.stem)
        if info is not None and info.status == "failed":
            st.problem(item, join("plugins.load", index), f"plugin {info.name} failed to load: {info.error}")


def _check_tile_ids(root: yaml.Node, scene: Scene, st: Structurer) -> None:
    tiles = _child(root, "tiles")
    seen: dict[str, int] = {}
    for index, name in enumerate(scene.tile_names()):
        if name in seen and isinstance(tiles, yaml.SequenceNode):
            st.problem(tiles.value[index], join(join("tiles", index), "id"),
                       f"tile id {name!r} is already used by tiles[{seen[name]}]")
        seen.setdefault(name, index)


def _structure_options(root: yaml.Node, host: PluginHost, st: Structurer) -> dict[str, Any]:
    """``plugins.options.<name>``, each validated against its plugin's options class."""
    options_node = _child(_child(root, "plugins"), "options")
    if not isinstance(options_node, yaml.MappingNode):
        return {}
    structured: dict[str, Any] = {}
    for key_node, value_node in options_node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            st.problem(key_node, "plugins.options", "plugin names must be plain strings")
            continue
        name = key_node.value
        where = join("plugins.options", name)
        cls = host.registry.options.get(name)
        if name not in host.infos:
            known = ", ".join(sorted(host.infos))
            st.problem(key_node, where, f"no plugin named {name!r} is installed (installed: {known})")
        elif cls is None:
            st.problem(key_node, where, f"plugin {name!r} takes no options")
        else:
            try:
                structured[name] = st.structure_class(value_node, cls, where)
            except Invalid:
                pass
    return structured
