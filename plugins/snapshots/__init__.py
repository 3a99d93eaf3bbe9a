"""Snapshots in space: a VM's saved moments as ghost tiles beside it, joined by branch lines.

"Snapshot" (a VM's menu, the palette, ``geos snapshot take``) saves the VM's whole state
through its ``snapshots`` capability and puts a ghost tile next to it: the screen at that
moment, its time and name.  A ghost's menu restores the VM to that moment, forks a new VM
from it, renames or deletes it.  Ghosts are tiles of the ``snapshot`` source type, so they
are saved with the scene like any tile.  :mod:`.branches` holds the verbs and the layout,
:mod:`.ghost` the tile, :mod:`.layer` the lines, :mod:`.rename` the name field,
:mod:`.control` the ``geos snapshot`` side.  docs/snapshots.md is the user's guide.
"""

from __future__ import annotations

from geometry_os import api


@api.hookimpl
def register_sources() -> list[api.SourceType]:
    from geometry_os.plugins.snapshots.branches import GHOST_TYPE
    from geometry_os.plugins.snapshots.ghost import GhostParams, GhostSource

    return [api.SourceType(GHOST_TYPE, GhostParams, GhostSource,
                           "A snapshot of a VM: the still image of its screen at that moment (a ghost tile).")]


@api.hookimpl
def register_actions() -> list[api.ActionType]:
    from geometry_os.plugins.snapshots.actions import ACTIONS

    return ACTIONS


@api.hookimpl
def register_layers() -> list[api.LayerType]:
    from geometry_os.plugins.snapshots.layer import BranchLayer

    return [api.LayerType("snapshot-branches", order=15, factory=BranchLayer)]


@api.hookimpl
def register_input_sinks() -> list[api.InputSinkType]:
    from geometry_os.plugins.snapshots.rename import RenameInput

    return [api.InputSinkType("snapshot-rename", priority=160, factory=RenameInput)]


@api.hookimpl
def tile_state_changed(shell: api.ShellView, change: api.StateChange) -> None:
    from geometry_os.plugins.snapshots.branches import state_changed

    state_changed(shell, change)


@api.hookimpl
def register_control_ops() -> list[api.ControlOp]:
    from geometry_os.plugins.snapshots.control import OPS

    return OPS


@api.hookimpl
def register_commands() -> list[api.CommandType]:
    from geometry_os.plugins.snapshots.control import COMMANDS

    return COMMANDS
