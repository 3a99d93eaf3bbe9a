"""Loading plugins and calling their hooks safely: the only place that touches pluggy.

Core code never spells ``pm.hook.x(...)``: it calls the typed methods of
:class:`PluginHost` (``scene_loaded(...)`` etc.), which run every implementation in
isolation.  pluggy on its own stops at the first raising implementation and does not
say which plugin raised; here each implementation is called separately, a failure is
logged with the plugin's name and the hook, the others still run, and a plugin that
fails ``MAX_FAILURES`` times is disabled.

Plugins come from three places, all registered the same way:

1. built-ins, from the explicit list :data:`plugins.BUILTIN_PLUGINS`;
2. installed packages, through the ``geometry_os`` entry-point group;
3. one-off files, from a directory (``--plugins-dir``) or a scene's ``plugins.load``.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

import geometry_os
from geometry_os import hookspecs
from geometry_os.registry import CollisionError, Namespace, Registry
from geometry_os.watchdog import watchdog

if TYPE_CHECKING:
    from geometry_os.scene.model import Scene
    from geometry_os.tiles import StateChange
    from geometry_os.view import ShellView

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "geometry_os"
#: Plugins that cannot be blocked (as pytest refuses to block its core plugins): without
#: ``map`` nothing moves the camera or quits from the keyboard.  Every other built-in can
#: be blocked or replaced by a third-party plugin, the tile renderer included.
ESSENTIAL_PLUGINS = frozenset({"map"})
DISTRIBUTION = "geometry-os"
BUILTIN_ORIGIN = "built-in"
BLOCK_ENV = "GEOS_BLOCK_PLUGINS"
MAX_FAILURES = 3

ACTIVE, FAILED, BLOCKED = "active", "failed", "blocked"


@attrs.define
class PluginInfo:
    """One line of ``geos plugins``."""

    name: str
    version: str
    origin: str  # "built-in", "entry point (dist)", "file /path"
    status: str = ACTIVE
    hooks: list[str] = attrs.field(factory=list)
    error: str = ""
    failures: int = 0


def blocked_from_env(environ: dict[str, str] | None = None) -> set[str]:
    """Plugin names blocked through the ``GEOS_BLOCK_PLUGINS`` variable (comma-separated)."""
    value = (environ if environ is not None else os.environ).get(BLOCK_ENV, "")
    return {name.strip() for name in value.split(",") if name.strip()}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class PluginHost:
    """The plugin manager, the registry of what plugins registered, and the hook facade."""

    def __init__(self, blocked: Iterable[str] = ()) -> None:
        refused = sorted(set(blocked) & ESSENTIAL_PLUGINS)
        if refused:
            raise PluginError(f"plugin {', '.join(refused)} is essential and cannot be blocked "
                              f"(essential: {', '.join(sorted(ESSENTIAL_PLUGINS))})")
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.blocked = set(blocked)
        self.infos: dict[str, PluginInfo] = {}
        self.registry = Registry()

    # ----------------------------------------------------------------- loading
    def load_default(self, plugin_dirs: Iterable[Path] = ()) -> None:
        """Built-ins, then entry points, then plugin files from ``plugin_dirs``."""
        self.load_builtins()
        self.load_entry_points()
        for directory in plugin_dirs:
            self.load_directory(directory)

    def load_builtins(self) -> None:
        """The plugins geometry-os itself ships (entry points of its own distribution)."""
        for ep in _entry_points(builtin=True):
            self._load(ep.name, geometry_os.__version__, BUILTIN_ORIGIN, ep.load)

    def load_entry_points(self, only: Iterable[str] | None = None) -> None:
        """Third-party plugins installed as packages (all of them, or those named in ``only``)."""
        wanted = None if only is None else set(only)
        for ep in _entry_points(builtin=False):
            if wanted is not None and ep.name not in wanted:
                continue
            dist = ep.dist
            version = dist.version if dist is not None else "?"
            origin = f"entry point ({dist.name if dist is not None else ep.value})"
            self._load(ep.name, version, origin, ep.load)

    def load_directory(self, directory: Path) -> None:
        for path in sorted(Path(directory).glob("*.py")):
            if not path.name.startswith("_"):
                self.load_file(path)

    def load_file(self, path: Path, report: bool = True) -> None:
        """Load a plugin from a file.  ``report=False``: a failure is only recorded in its
        :class:`PluginInfo` (the scene loader reports it as a ``file:line`` error itself)."""
        path = Path(path)

        def import_file() -> ModuleType:
            spec = importlib.util.spec_from_file_location(f"geos_plugin_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module

        self._load(path.stem, "", f"file {path}", import_file, report)

    def register(self, plugin: Any, name: str, version: str = "", origin: str = "object") -> None:
        """Register an already-imported plugin object (tests, embedding)."""
        self._load(name, version, origin, lambda: plugin)

    def _load(self, name: str, version: str, origin: str, importer: Any, report: bool = True) -> None:
        if name in self.infos:
            other = self.infos[name]
            log.error("plugin %r from %s: name already taken by plugin %r from %s; not loaded",
                      name, origin, name, other.origin)
            return
        info = PluginInfo(name=name, version=version, origin=origin)
        self.infos[name] = info
        if name in self.blocked:
            info.status = BLOCKED
            log.info("plugin %s blocked", name)
            return
        try:
            plugin = importer()
        except Exception as exc:  # a broken third-party import must not stop the shell
            self._mark_failed(info, f"import failed: {_one_line(exc)}", report)
            return
        if not info.version:
            info.version = str(getattr(plugin, "__version__", "-"))
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            self._mark_failed(info, str(exc), report)
            return
        info.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or ())
        self._collect_registrations(name, plugin, report)

    def _collect_registrations(self, name: str, plugin: Any, report: bool) -> None:
        """Run the plugin's ``register_*`` hooks and add what they return to the registry."""
        namespaces: dict[str, Namespace[Any]] = {
            "register_sources": self.registry.sources,
            "register_effects": self.registry.effects,
            "register_layers": self.registry.layers,
            "register_input_sinks": self.registry.input_sinks,
            "register_commands": self.registry.commands,
            "register_checks": self.registry.checks,
            "register_control_ops": self.registry.control_ops,
            "register_actions": self.registry.actions,
        }
        try:
            for hook_name, ns in namespaces.items():
                for item in self._call_one(name, plugin, hook_name, {}) or ():
                    ns.add(item.name, item, name)
            options = self._call_one(name, plugin, "plugin_options", {})
            if options is not None:
                self.registry.options.add(name, options, name)
        except (CollisionError, _HookFailed) as exc:
            self.registry.remove_plugin(name)
            self.pm.unregister(name=name)
            self._mark_failed(self.infos[name], str(exc), report)

    def _call_one(self, name: str, plugin: Any, hook_name: str, kwargs: dict[str, Any]) -> Any:
        function = getattr(plugin, hook_name, None)
        if function is None or hook_name not in self.infos[name].hooks:
            return None
        try:
            return function(**kwargs)
        except Exception as exc:
            raise _HookFailed(f"{hook_name} raised {_one_line(exc)}") from exc

    def _mark_failed(self, info: PluginInfo, error: str, report: bool = True) -> None:
        info.status = FAILED
        info.error = error
        log.log(logging.ERROR if report else logging.DEBUG, "plugin %s (%s) failed: %s", info.name, info.origin,
                error)

    # ------------------------------------------------------------ run-time faults
    def report_failure(self, plugin: str, where: str, exc: BaseException) -> bool:
        """Record that ``plugin`` raised in ``where``; returns True if it is now disabled.

        Used by the hook facade below and by the shell for per-frame calls into plugin
        objects (layers, sinks, sources), so every kind of failure counts the same.
        """
        info = self.infos.get(plugin)
        if info is None or info.status != ACTIVE:
            return info is not None
        info.failures += 1
        log.error("plugin %s failed in %s: %s", plugin, where, _one_line(exc),
                  exc_info=log.isEnabledFor(logging.DEBUG))
        if info.failures >= MAX_FAILURES:
            self.disable(plugin, f"disabled after {info.failures} failures (last in {where}: {_one_line(exc)})")
            return True
        return False

    def disable(self, plugin: str, reason: str) -> None:
        info = self.infos[plugin]
        if self.pm.get_plugin(plugin) is not None:
            self.pm.unregister(name=plugin)
        self.registry.remove_plugin(plugin)
        self._mark_failed(info, reason)

    def call(self, plugin: str, where: str, function: Callable[[], Any], watch: bool = False) -> tuple[bool, Any]:
        """Call into ``plugin`` (a hook, a method of an object it registered) in isolation.

        Returns ``(True, result)``, or ``(False, None)`` when it raised - or, with
        ``watch``, hung (see :mod:`geometry_os.watchdog`): the failure is reported with the
        plugin's name.  Hooks are watched; per-frame objects are not, since a layer
        may legitimately take seconds for one frame on a software renderer.
        """
        try:
            return True, (watchdog().call(plugin, where, function) if watch else function())
        except Exception as exc:
            self.report_failure(plugin, where, exc)
            return False, None

    def _notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of a notification hook, each in isolation."""
        caller = getattr(self.pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):  # pluggy's own call order
            self.call(impl.plugin_name, hook_name, functools.partial(_call_impl, impl, kwargs), watch=True)

    # ---------------------------------------------------------- the typed facade
    def scene_loaded(self, shell: ShellView, scene: Scene) -> None:
        self._notify("scene_loaded", shell=shell, scene=scene)

    def scene_closing(self, shell: ShellView, scene: Scene) -> None:
        self._notify("scene_closing", shell=shell, scene=scene)

    def tile_state_changed(self, shell: ShellView, change: StateChange) -> None:
        self._notify("tile_state_changed", shell=shell, change=change)

    def active(self) -> list[PluginInfo]:
        return [info for info in self.infos.values() if info.status == ACTIVE]


def _call_impl(impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> Any:
    """A hook implementation called with the arguments it asks for (pluggy lets it ask for fewer)."""
    return impl.function(**{arg: kwargs[arg] for arg in impl.argnames})


def _entry_points(builtin: bool) -> list[metadata.EntryPoint]:
    """The ``geometry_os`` entry points of this distribution (``builtin``) or of all others."""
    found = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        own = ep.dist is not None and _normalise(ep.dist.name) == _normalise(DISTRIBUTION)
        if own == builtin:
            found.append(ep)
    return found


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


class PluginError(Exception):
    """A plugin set-up that cannot be used (the message is one line)."""


class _HookFailed(Exception):
    """A ``register_*`` hook raised while its plugin was loading."""
