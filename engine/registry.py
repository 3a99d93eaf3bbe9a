"""The objects plugins register, and the registry that refuses name collisions.

Plugins return these descriptors from ``register_*`` hooks (see
:mod:`geometry_os.hookspecs`).  The registry records which plugin registered each name so
collisions and "unknown type" errors can name plugins and list what is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from geometry_os.render.passes import Lut, Pass, PassList

if TYPE_CHECKING:
    from geometry_os.tiles import Tile
    from geometry_os.view import ShellView


@attrs.define(frozen=True)
class SourceType:
    """A kind of frame source: the ``type:`` of a tile's ``source`` in a scene."""

    name: str
    params: type  # attrs class; fields declared with engine.settings.setting
    factory: Callable[..., Any]  # (ctx: TileContext, params) -> FrameSource
    description: str = ""


@attrs.define(frozen=True)
class EffectType:
    """A post effect: the ``type:`` of an entry in a scene's ``effects`` list.

    A single-pass effect gives ``shader``: a GLSL file defining ``vec4 effect_<name>(vec4
    color, vec2 uv)``.  A multi-pass effect gives ``passes`` instead: a list of
    :class:`~geometry_os.render.passes.Pass`, or a function ``params -> PassList`` when
    the passes depend on the parameters (a quality setting, a RetroArch preset), plus
    the ``luts`` its passes read.  Each numeric, boolean, colour or vector param is
    declared for the GLSL as ``uniform float|vec2|vec3|vec4 u_<name>_<param>`` and kept
    up to date (run-time changes show on the next frame).  ``per_tile`` (tile stage
    only) returns extra uniforms for one tile each frame: ``(params, tile, shell) ->
    {uniform name: value}``.  docs/effects.md describes the whole model.
    """

    name: str
    params: type
    stage: str  # "tile" (inside each tile's pass) or "screen" (a pass over the window)
    shader: Path | None = None
    description: str = ""
    per_tile: Callable[[Any, Any, ShellView], dict[str, Any]] | None = None  # (params, Tile, shell)
    passes: Sequence[Pass] | Callable[[Any], PassList] = ()
    luts: Sequence[Lut] = ()

    def __attrs_post_init__(self) -> None:
        if self.stage not in ("tile", "screen"):
            raise ValueError(f"effect {self.name}: stage must be 'tile' or 'screen'")
        if (self.shader is not None) == (callable(self.passes) or bool(self.passes)):
            raise ValueError(f"effect {self.name}: give either a shader or passes")
        if self.luts and callable(self.passes):
            raise ValueError(f"effect {self.name}: a passes function returns its look-up textures itself")

    @property
    def single_pass(self) -> bool:
        """Written as one effect function (``shader``): it can share a program with its neighbours."""
        return self.shader is not None


@attrs.define(frozen=True)
class LayerType:
    """A map layer: drawn every frame in ``order`` (lower first)."""

    name: str
    order: int
    factory: Callable[[ShellView], Any]  # -> an object with draw() (and optionally state(), delete())


@attrs.define(frozen=True)
class InputSinkType:
    """A consumer of input events, asked in ``priority`` order (higher first)."""

    name: str
    priority: int
    factory: Callable[[ShellView], Any]  # -> an object with on_* handlers (those it wants)


@attrs.define(frozen=True)
class CommandType:
    """A ``geos`` subcommand: ``geos <name> ...``.

    ``configure(parser)`` adds the command's arguments to its argparse parser;
    ``run(args, host)`` does the work and returns the exit status (0 ok, 1 failed,
    2 invalid input).  Errors are printed as one line each, never a traceback.
    """

    name: str
    help: str
    configure: Callable[[Any], None]  # (argparse.ArgumentParser) -> None
    run: Callable[[Any, Any], int]  # (argparse.Namespace, PluginHost) -> exit status


@attrs.define(frozen=True)
class CheckResult:
    """One line of ``geos doctor``: ``status`` is "ok", "warn" or "fail"."""

    status: str
    label: str
    detail: str = ""


@attrs.define(frozen=True)
class CheckType:
    """A group of ``geos doctor`` checks: ``run()`` returns :class:`CheckResult` lines."""

    name: str
    run: Callable[[], list[CheckResult]]


@attrs.define(frozen=True)
class ControlOp:
    """An operation of the shell's control socket (what ``geos type``, ``geos vm`` ... send).

    A request is a JSON object whose ``op`` is ``name``.  ``run(shell, request)`` runs on
    the main loop with the :class:`~geometry_os.view.ShellView` and the request, and
    returns the JSON-able answer, or a :class:`concurrent.futures.Future` of it when the
    work finishes later (keys still being typed).  Raising ``ValueError`` or ``KeyError``
    answers ``{"error": "<message>"}``: keep the message to one line.
    """

    name: str
    help: str
    run: Callable[[ShellView, dict[str, Any]], Any]  # (shell, request) -> dict | Future[dict]


def _always(shell: ShellView, tiles: Sequence[Tile]) -> bool:
    return True


@attrs.define(frozen=True)
class ActionType:
    """Something a user can do from the map: a tile menu entry, a palette entry, ``geos`` verbs.

    ``run(shell, tiles)`` acts on ``tiles`` (the tile a menu was opened on, the
    selection, or none for map-wide actions) on the main loop and returns None or a
    :class:`concurrent.futures.Future` (the action goes on in the background; its
    failure is shown).  ``applies(shell, tiles)`` says whether it is offered for these
    tiles now (a paused VM offers "Resume", not "Pause").  ``confirm(shell, tiles)``
    returns the question to ask before a destructive run (None: no question).
    ``shortcut`` is shown next to the label ("Ctrl+Shift+R"); ``group`` orders menus.
    """

    name: str  # unique, dotted: "vm.pause"
    label: str  # what the menu and palette show: "Pause"
    run: Callable[[ShellView, Sequence[Tile]], Any]
    applies: Callable[[ShellView, Sequence[Tile]], bool] = _always
    confirm: Callable[[ShellView, Sequence[Tile]], str | None] | None = None
    shortcut: str = ""
    group: str = ""


#: Exit statuses of ``geos`` and of every plugin command: success, a run that failed, invalid input.
EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class CollisionError(Exception):
    """Two plugins registered the same name."""


T = TypeVar("T")


class Namespace(Generic[T]):
    """Objects of one kind by name, each remembering the plugin that registered it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, tuple[T, str]] = {}

    def add(self, name: str, item: T, plugin: str) -> None:
        if name in self._items:
            owner = self._items[name][1]
            raise CollisionError(
                f"{self.kind} {name!r} is registered by both plugin {owner!r} and plugin {plugin!r}"
            )
        self._items[name] = (item, plugin)

    def remove_plugin(self, plugin: str) -> None:
        self._items = {k: v for k, v in self._items.items() if v[1] != plugin}

    def get(self, name: str) -> T | None:
        entry = self._items.get(name)
        return entry[0] if entry else None

    def owner(self, name: str) -> str | None:
        entry = self._items.get(name)
        return entry[1] if entry else None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __iter__(self) -> Iterator[T]:
        return (item for item, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)


@attrs.define
class Registry:
    """Everything the loaded plugins registered."""

    sources: Namespace[SourceType] = attrs.field(factory=lambda: Namespace("source type"))
    effects: Namespace[EffectType] = attrs.field(factory=lambda: Namespace("effect"))
    layers: Namespace[LayerType] = attrs.field(factory=lambda: Namespace("map layer"))
    input_sinks: Namespace[InputSinkType] = attrs.field(factory=lambda: Namespace("input sink"))
    options: Namespace[type] = attrs.field(factory=lambda: Namespace("plugin options"))
    commands: Namespace[CommandType] = attrs.field(factory=lambda: Namespace("command"))
    checks: Namespace[CheckType] = attrs.field(factory=lambda: Namespace("doctor check"))
    control_ops: Namespace[ControlOp] = attrs.field(factory=lambda: Namespace("control operation"))
    actions: Namespace[ActionType] = attrs.field(factory=lambda: Namespace("action"))

    def namespaces(self) -> tuple[Namespace[Any], ...]:
        return (self.sources, self.effects, self.layers, self.input_sinks, self.options,
                self.commands, self.checks, self.control_ops, self.actions)

    def remove_plugin(self, plugin: str) -> None:
        for ns in self.namespaces():
            ns.remove_plugin(plugin)
