"""Writing a scene back: the map's tiles as they are now, into the scene file itself.

What changes: each tile's ``position``, ``size`` and ``title`` (a tile renamed on the map),
entries of tiles that were closed (removed), entries of tiles that were added (appended,
with an ``id``).  Everything
else is the file as its author wrote it: the file is read with ruamel.yaml's round-trip
loader, which keeps comments, key order, quoting and flow or block style, and only the
values that changed are replaced in place.  PyYAML (the scene loader) cannot do this:
it would re-dump the whole file.

The file is replaced atomically (a temporary file in the same folder, then a rename),
so a crash never leaves half a scene.  A scene that cannot be written where it is —
the shipped default, a read-only file or folder — is written under the user's config
directory instead (``$XDG_CONFIG_HOME/geometry-os/scenes/``, default ``~/.config``),
with the relative paths of files it reads made absolute so it still finds them.  The
last scene saved is remembered there too: ``geos run`` with no scene opens it.

Also here, the other direction for a single tile: :func:`spec_from_entry` checks a tile
entry given as plain data (a dropped file, ``geos add``) the way the loader checks a file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from geometry_os.resources import scenes_dir
from geometry_os.scene.model import Scene, TileSpec
from geometry_os.scene.structure import Invalid, Structurer, Typed
from geometry_os.settings import MUST_EXIST, resolve_path

if TYPE_CHECKING:
    from geometry_os.registry import Registry

log = logging.getLogger(__name__)

LAST_SCENE = "last-scene"  # a file holding the path of the last scene saved
#: Errors that mean "not here, try the config directory" rather than "failed".
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def config_dir() -> Path:
    """The user's Geometry OS configuration folder (``$XDG_CONFIG_HOME/geometry-os``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "geometry-os"


def last_saved_scene() -> Path | None:
    """The scene saved last (by this user, from any shell), if it is still there."""
    try:
        path = Path((config_dir() / LAST_SCENE).read_text(encoding="utf-8").strip())
    except OSError:
        return None
    return path if path.is_absolute() and path.is_file() else None


def is_shipped(path: Path) -> bool:
    """Whether ``path`` is one of the scenes that come with Geometry OS (never overwritten)."""
    try:
        return path.resolve().parent == scenes_dir().resolve()
    except FileNotFoundError:
        return False


# ---------------------------------------------------------------- the round trip
def _yaml() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap a long line of the author's
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def save_scene(scene: Scene, tiles: Sequence[tuple[str, TileSpec]], path: Path | None = None) -> Path:
    """Write ``tiles`` (each tile's name and spec, in drawing order) into ``scene``'s file,
    or into ``path``.  Returns where it was written.

    Without ``path``, a scene that cannot be written where it is goes to the user's
    config directory.  Raises OSError when the file cannot be written (``path`` given,
    or the config directory too) and ValueError when the scene file is not valid YAML.
    """
    source = scene.path
    text = source.read_text(encoding="utf-8") if source is not None and source.is_file() else ""
    document = _yaml().load(text) if text.strip() else CommentedMap()
    if not isinstance(document, CommentedMap):
        raise ValueError(f"{source}: a scene is a mapping at the top level")
    update_tiles(document, tiles)
    targets = [path] if path is not None else [] if source is None or is_shipped(source) else [source]
    fallback = config_dir() / "scenes" / (source.name if source is not None else "scene.yaml")
    targets += [fallback] if path is None else []
    for attempt, wanted in enumerate(targets, start=1):
        target = Path(os.path.abspath(wanted))
        here = document if source is None or target.parent == source.parent.absolute() else \
            _with_absolute_paths(document, scene, dict(tiles), source.parent.absolute())
        try:
            write_atomically(target, _dump(here))
        except OSError as exc:
            if exc.errno in NOT_WRITABLE and attempt < len(targets):
                log.info("scene %s is not writable (%s); saving under %s", target, exc.strerror, fallback)
                continue
            raise
        _remember(target)
        log.info("scene saved to %s", target)
        return target
    raise AssertionError("unreachable: the last target raises")


def update_tiles(document: CommentedMap, tiles: Sequence[tuple[str, TileSpec]]) -> None:
    """Make the ``tiles`` list of ``document`` say what ``tiles`` says, touching only what differs.

    Entries are matched by the name a loader gives them (``id``, else ``tile-N`` by
    position).  An entry without ``id`` whose position in the list changes (a tile
    before it was removed) gets its old name as ``id``, so it keeps its name and
    whatever is keyed by it (its saved VM state, ``geos type`` scripts).
    """
    live = dict(tiles)
    entries = document.get("tiles")
    if not isinstance(entries, CommentedSeq):
        entries = CommentedSeq()
        document["tiles"] = entries
    named = [(_entry_name(entry, index), entry) for index, entry in enumerate(entries)]
    kept = [(name, entry) for name, entry in named if name in live]
    for index, (name, _) in reversed(list(enumerate(named))):
        if name not in live:
            del entries[index]  # comments inside its entry go with it
    if not entries and named:
        entries = document["tiles"] = _flow([])  # an emptied block list would be left as invalid YAML
    for index, (name, entry) in enumerate(kept):
        if not isinstance(entry, CommentedMap):
            continue
        if entry.get("id") is None and name != f"tile-{index}":
            entry.insert(0, "id", name)
        spec = live[name]
        _set_pair(entry, "position", spec.position, _default("position"))
        _set_pair(entry, "size", spec.size, _default("size"))
        if spec.title and entry.get("title") != spec.title:
            entry["title"] = spec.title  # renamed on the map (a snapshot's ghost)
        _set_source_values(entry.get("source"), spec.source.params)
    present = {name for name, _ in kept}
    for name, spec in tiles:
        if name not in present:
            entries.append(entry_from_spec(name, spec))


def _set_source_values(source: Any, params: Any) -> None:
    """Write the plain values (text, numbers, switches) of a kept tile's source that changed on
    the map (a snapshot ghost re-joined to its grandparent); files and structured values are
    never rewritten, so a saved scene keeps the user's relative paths."""
    if not isinstance(source, CommentedMap) or not attrs.has(type(params)):
        return
    for field in attrs.fields(type(params)):
        value = getattr(params, field.name)
        if field.metadata.get(MUST_EXIST) or not isinstance(value, (str, int, float, bool)):
            continue
        if field.name in source:
            if source[field.name] != value:
                source[field.name] = value
        elif value != field.default:
            source[field.name] = value


def _default(field: str) -> tuple[float, float]:
    """A tile's default ``position`` or ``size`` (an entry that leaves it out has this)."""
    value: tuple[float, float] = attrs.fields_dict(TileSpec)[field].default
    return value


def _entry_name(entry: Any, index: int) -> str:
    name = entry.get("id") if isinstance(entry, Mapping) else None
    return str(name) if name is not None else f"tile-{index}"


def _number(value: float) -> int | float:
    """Whole numbers as ints (``640``, not ``640.0``): how people write a layout."""
    return int(value) if math.isfinite(value) and value == int(value) else value


def _set_pair(entry: CommentedMap, key: str, value: tuple[float, float], default: tuple[float, float]) -> None:
    current = entry.get(key)
    wanted = [_number(v) for v in value]
    if current is None:
        if tuple(value) != tuple(default):
            entry[key] = _flow(wanted)
        return
    if isinstance(current, CommentedSeq) and len(current) == 2:
        for i in range(2):
            if float(current[i]) != float(value[i]):
                current[i] = wanted[i]  # in place: the list keeps its style and comments
        return
    entry[key] = _flow(wanted)


def _flow(items: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def entry_from_spec(name: str, spec: TileSpec) -> CommentedMap:
    """The scene entry of a tile added while the map ran: its id, title, place, time-dilation
    policy and source (the source's settings that differ from their defaults)."""
    entry = CommentedMap()
    entry["id"] = name
    if spec.title:
        entry["title"] = spec.title
    entry["position"] = _flow([_number(v) for v in spec.position])
    entry["size"] = _flow([_number(v) for v in spec.size])
    for field in ("offscreen", "offscreen_grace"):  # the time-dilation policy, when not the default
        value = getattr(spec, field)
        if value != getattr(attrs.fields(TileSpec), field).default:
            entry[field] = value
    source = CommentedMap(type=spec.source.type)
    source.update(plain_settings(spec.source.params))
    source.fa.set_flow_style()
    entry["source"] = source
    return entry


def plain_settings(params: Any) -> dict[str, Any]:
    """The fields of an attrs settings object that differ from their defaults, as YAML-able data."""
    values: dict[str, Any] = {}
    for field in attrs.fields(type(params)):
        value = getattr(params, field.name)
        default = field.default.factory() if isinstance(field.default, attrs.Factory) else field.default  # type: ignore[misc]
        if value != default:
            values[field.name] = _plain(value)
    return values


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        return plain_settings(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _with_absolute_paths(document: CommentedMap, scene: Scene, specs: Mapping[str, TileSpec],
                         directory: Path) -> CommentedMap:
    """A copy of ``document`` whose relative file paths (settings marked ``must_exist``) are made
    absolute against ``directory``, for a copy of the scene saved in another folder."""
    copy: CommentedMap = _yaml().load(_dump(document))
    entries = copy.get("tiles")
    for index, entry in enumerate(entries if isinstance(entries, CommentedSeq) else []):
        spec = specs.get(_entry_name(entry, index))
        if spec is not None and isinstance(entry, CommentedMap):
            _absolute_fields(entry.get("source"), type(spec.source.params), directory)
    effects = copy.get("effects")
    for entry, effect in zip(effects if isinstance(effects, CommentedSeq) else [], scene.effects, strict=False):
        _absolute_fields(entry, type(effect.params), directory)
    plugins = copy.get("plugins")
    if isinstance(plugins, CommentedMap):
        _absolute_fields(plugins, type(scene.plugins), directory)
    return copy


def _absolute_fields(node: Any, cls: type, directory: Path) -> None:
    if not isinstance(node, CommentedMap) or not attrs.has(cls):
        return
    for field in attrs.fields(cls):
        if not field.metadata.get(MUST_EXIST) or field.name not in node:
            continue
        value = node[field.name]
        if isinstance(value, str):
            node[field.name] = str(resolve_path(value, directory))
        elif isinstance(value, CommentedSeq):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    value[i] = str(resolve_path(item, directory))


def _dump(document: CommentedMap) -> str:
    stream = io.StringIO()
    _yaml().dump(document, stream)
    return stream.getvalue()


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (a temporary file beside it, renamed over it);
    the file keeps its permissions.  Raises OSError; nothing is left behind then."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _remember(path: Path) -> None:
    try:
        write_atomically(config_dir() / LAST_SCENE, f"{path}\n")
    except OSError as exc:  # saving worked; only `geos run` will not find it by itself
        log.warning("cannot record the last saved scene in %s: %s", config_dir(), exc)


# ------------------------------------------------------------- one tile entry
def spec_from_entry(entry: Mapping[str, Any], registry: Registry, directory: Path) -> TileSpec:
    """A tile entry given as plain data, checked the way the scene loader checks a file's.

    Raises ValueError with every mistake, ``path: reason``, joined on one line.
    """
    try:
        node = yaml.compose(yaml.safe_dump(dict(entry)), Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"tile: not plain data: {str(exc).splitlines()[0]}") from None

    def lookup(namespace: Any) -> tuple[Any, Any]:
        def params(name: str) -> type | None:
            kind = namespace.get(name)
            return kind.params if kind is not None else None
        return params, namespace.names

    structurer = Structurer({"sources": lookup(registry.sources), "effects": lookup(registry.effects)}, directory)
    spec: TileSpec | None = None
    with contextlib.suppress(Invalid):
        spec = structurer.structure_class(node, TileSpec, "tile")
    if structurer.problems or spec is None:
        raise ValueError("; ".join(f"{p.path}: {p.message}" for p in structurer.problems) or "tile: invalid")
    if not isinstance(spec.source, Typed):
        raise ValueError("tile.source: a mapping with a type is needed")
    return spec
