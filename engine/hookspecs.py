"""Every hook a Geometry OS plugin can implement.  This module *is* the reference.

A plugin is a module (or object) with functions marked ``@geometry_os.hookimpl`` whose
names match the functions below.  Hook names are checked when a plugin loads: a
misspelt name is an error naming the plugin.  docs/plugin-hooks.md is generated from
these docstrings (``geos docs``) and a test fails if any hook lacks one.

Two kinds of hooks:

* ``register_*`` hooks run once, when plugins load.  They return *objects* (a frame
  source type, an effect, a map layer, an input sink); the shell keeps those and
  calls them directly every frame.  Nothing runs through pluggy per tile per frame.
* Lifecycle hooks (``scene_loaded``, ``scene_closing``, ``tile_state_changed``) are
  notifications.  Every implementation runs even if another one raises; the error
  is logged with the plugin's name, and a plugin that keeps failing is disabled.
"""

# Hook specifications have a docstring and no body: that is what pluggy reads.
# mypy: disable-error-code="empty-body"
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from geometry_os.registry import (
        ActionType,
        CheckType,
        CommandType,
        ControlOp,
        EffectType,
        InputSinkType,
        LayerType,
        SourceType,
    )
    from geometry_os.scene.model import Scene
    from geometry_os.tiles import StateChange
    from geometry_os.view import ShellView

PROJECT = "geometry_os"
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def register_sources() -> list[SourceType]:
    """Frame source types this plugin provides (the ``type:`` of a tile's ``source``).

    Return a list of :class:`geometry_os.api.SourceType`: a name, a params class
    (attrs, every field declared with :func:`geometry_os.api.setting`) and a factory
    ``(ctx: TileContext, params) -> FrameSource``.  Scenes are validated against the
    params class; two plugins registering the same name is a load error.
    """


@hookspec
def register_effects() -> list[EffectType]:
    """Post effects this plugin provides (the ``type:`` of an entry in ``effects``).

    Return a list of :class:`geometry_os.api.EffectType`: a name, a params class, the
    GLSL files that implement it, and its stage (``tile``: inside each tile's pass;
    ``screen``: a pass over the whole window).  The scene's list decides the order.
    """


@hookspec
def register_layers() -> list[LayerType]:
    """Map layers this plugin draws (the grid, the tiles, a HUD...).

    Return a list of :class:`geometry_os.api.LayerType`: a name, a z-order (lower is
    drawn first) and a factory ``(shell: ShellView) -> layer``.  A layer's ``draw()`` is called
    every frame while the layer is enabled.
    """


@hookspec
def register_input_sinks() -> list[InputSinkType]:
    """Consumers of keyboard and mouse events, tried in priority order.

    Return a list of :class:`geometry_os.api.InputSinkType`: a name, a priority
    (higher is asked first) and a factory ``(shell: ShellView) -> sink``.  A sink that
    returns True from an ``on_*`` handler consumes the event.
    """


@hookspec
def register_commands() -> list[CommandType]:
    """``geos`` subcommands this plugin adds (``geos image``, say).

    Return a list of :class:`geometry_os.api.CommandType`: a name, a one-line help,
    ``configure(parser)`` to add arguments and ``run(args, host) -> exit status``.
    A name that collides with a built-in command or another plugin's is a load error.
    """


@hookspec
def register_checks() -> list[CheckType]:
    """Checks ``geos doctor`` runs to tell a user what works on this machine.

    Return a list of :class:`geometry_os.api.CheckType`: a name and ``run()`` returning
    :class:`geometry_os.api.CheckResult` lines (status ``ok``, ``warn`` or ``fail``, a
    label, a detail such as a version or the package to install).
    """


@hookspec
def register_control_ops() -> list[ControlOp]:
    """Operations this plugin adds to the running shell's control socket.

    Return a list of :class:`geometry_os.api.ControlOp`: a name (the request's ``op``),
    a one-line help and ``run(shell, request)``, called on the main loop with the
    :class:`geometry_os.api.ShellView`.  ``geos type`` and ``geos shot`` are control
    operations; a command added with :func:`register_commands` usually sends one.
    """


@hookspec
def register_actions() -> list[ActionType]:
    """Actions a user can take from the map: entries of a tile's menu and of the command
    palette, and verbs of ``geos vm``.

    Return a list of :class:`geometry_os.api.ActionType`: a unique dotted name, a label,
    ``run(shell, tiles)``, and optionally ``applies``, ``confirm``, a ``shortcut`` and a
    menu ``group``.  Actions on VMs use the tiles' source capabilities (``lifecycle``,
    ``keyboard``...), so they work for any source that declares them.
    """


@hookspec
def plugin_options() -> type | None:
    """The attrs class of this plugin's options (``plugins.options.<name>`` in a scene).

    Return None (or do not implement the hook) when the plugin takes no options.
    The scene loader validates the options against the class; the shell passes the
    structured options to ``scene_loaded``.
    """


@hookspec
def scene_loaded(shell: ShellView, scene: Scene) -> None:
    """The scene has been loaded, its tiles created and their sources started; the window
    is about to show.

    ``shell`` is the running map as plugins see it (:class:`geometry_os.api.ShellView`:
    tiles, camera, focus, ...); ``scene`` the scene as loaded (its ``path``, tiles and
    ``plugins.options``).
    """


@hookspec
def scene_closing(shell: ShellView, scene: Scene) -> None:
    """The shell is about to stop every tile and exit: release what this plugin holds.

    ``shell`` and ``scene`` are the ones :func:`scene_loaded` received.
    """


@hookspec
def tile_state_changed(shell: ShellView, change: StateChange) -> None:
    """A tile moved between states (booting, running, paused, stopped, failed).

    Runs on the main loop, whichever thread the source reported from.  ``shell`` is the
    running map; ``change`` names the tile (``change.tile``, its id), the ``old`` and
    ``new`` :class:`geometry_os.api.TileState` and ``reason``: why, for ``failed`` (and
    possibly for other transitions).  The input plugin uses it to give the keyboard
    back to the map when the focused VM stops.
    """
