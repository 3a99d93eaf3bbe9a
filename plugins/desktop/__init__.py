"""The map as a desktop: arrange tiles, act on VMs, add VMs, save the layout.

:mod:`.pointer` is the input sink that moves, resizes and selects tiles, runs actions'
shortcuts and takes dropped files; :mod:`.overlay` the tile menu, the command palette,
the image picker and confirmations (with their own modal sink); :mod:`.layer` draws all
of it; :mod:`.actions` are the actions on machines and tiles; :mod:`.arrange` the
geometry of snapping and layout; :mod:`.media` new VMs from files and images;
:mod:`.control` and :mod:`.commands` the ``geos vm/add/move/save/tiles`` side; :mod:`.dilation`
pauses machines that are off screen (``offscreen: pause``) and resumes them as the view nears;
:mod:`.cards` draws far tiles as cards (semantic zoom).
docs/controls.md is the user's reference.
"""

from __future__ import annotations

from geometry_os import api
from geometry_os.plugins.desktop.desktop import DesktopOptions


@api.hookimpl
def plugin_options() -> type:
    return DesktopOptions


@api.hookimpl
def register_actions() -> list[api.ActionType]:
    from geometry_os.plugins.desktop.actions import ACTIONS

    return ACTIONS


@api.hookimpl
def register_layers() -> list[api.LayerType]:
    from geometry_os.plugins.desktop.cards import CardLayer
    from geometry_os.plugins.desktop.dilation import DilationLayer
    from geometry_os.plugins.desktop.layer import DesktopLayer

    return [api.LayerType("desktop", order=92, factory=DesktopLayer),
            api.LayerType("time-dilation", order=91, factory=DilationLayer),
            api.LayerType("cards", order=20, factory=CardLayer)]


@api.hookimpl
def scene_loaded(shell: api.ShellView, scene: api.Scene) -> None:
    from geometry_os.plugins.desktop.cards import cover
    from geometry_os.plugins.desktop.desktop import desktop_of

    cover(shell, desktop_of(shell).options)  # far tiles are cards from the first frame: never uploaded


@api.hookimpl
def register_input_sinks() -> list[api.InputSinkType]:
    from geometry_os.plugins.desktop.overlay import OverlayInput
    from geometry_os.plugins.desktop.pointer import ArrangeInput

    return [api.InputSinkType("desktop-overlay", priority=150, factory=OverlayInput),
            api.InputSinkType("desktop", priority=75, factory=ArrangeInput)]


@api.hookimpl
def register_control_ops() -> list[api.ControlOp]:
    from geometry_os.plugins.desktop.control import OPS

    return OPS


@api.hookimpl
def register_commands() -> list[api.CommandType]:
    from geometry_os.plugins.desktop.commands import COMMANDS

    return COMMANDS
