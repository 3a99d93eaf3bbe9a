"""The public plugin API: everything a Geometry OS plugin imports, from one module.

    from geometry_os import api

    @api.hookimpl
    def register_effects() -> list[api.EffectType]: ...

Testing helpers: :func:`assert_image_close` and :func:`wait_until` here; the
``geos_host`` and ``render_scene`` pytest fixtures come with the package (its pytest
plugin, :mod:`geometry_os.testing`).

What is here is stable for plugin authors; what is not here is engine internals that
may change between releases.  docs/plugins.md walks through writing a plugin with it;
docs/plugin-hooks.md is the reference of every hook.
"""

from __future__ import annotations

from geometry_os import hookimpl
from geometry_os.assertions import assert_image_close, wait_until
from geometry_os.camera import Camera, WorldRect
from geometry_os.capabilities import (
    NO_CAPABILITIES,
    Capabilities,
    Cursor,
    CursorImage,
    CursorPos,
    Keyboard,
    KeyEvent,
    Lifecycle,
    Pointer,
    SerialText,
    Snapshots,
    Telemetry,
)
from geometry_os.control import ControlError
from geometry_os.control import request as control_request
from geometry_os.frames import BYTES_PER_PIXEL, Frame, FrameMailbox, Rect, new_framebuffer
from geometry_os.heap import release_freed
from geometry_os.keypacing import KEY_INTERVAL, KeyPacer
from geometry_os.loops import loop_thread
from geometry_os.registry import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    ActionType,
    CheckResult,
    CheckType,
    CommandType,
    ControlOp,
    EffectType,
    InputSinkType,
    LayerType,
    SourceType,
)
from geometry_os.render.images import read_image
from geometry_os.render.passes import (
    EffectError,
    Lut,
    Output,
    Pass,
    PassFrame,
    PassList,
    ProgramPass,
    Sampling,
    Scale,
    TextureKind,
    TextureRef,
)
from geometry_os.scene.model import Scene, TileSpec
from geometry_os.scene.structure import Typed
from geometry_os.settings import Color, resolve_path, setting
from geometry_os.tiles import TITLE_BAR_HEIGHT, FrameSource, StateChange, Tile, TileContext, TileState
from geometry_os.view import FrameStatsView, ShellView

__all__ = [
    "BYTES_PER_PIXEL",
    "EXIT_FAILED",
    "EXIT_INVALID",
    "EXIT_OK",
    "KEY_INTERVAL",
    "NO_CAPABILITIES",
    "TITLE_BAR_HEIGHT",
    "ActionType",
    "Camera",
    "Capabilities",
    "CheckResult",
    "CheckType",
    "Color",
    "CommandType",
    "ControlError",
    "ControlOp",
    "Cursor",
    "CursorImage",
    "CursorPos",
    "EffectError",
    "EffectType",
    "Frame",
    "FrameMailbox",
    "FrameSource",
    "FrameStatsView",
    "InputSinkType",
    "KeyEvent",
    "KeyPacer",
    "Keyboard",
    "LayerType",
    "Lifecycle",
    "Lut",
    "Output",
    "Pass",
    "PassFrame",
    "PassList",
    "Pointer",
    "ProgramPass",
    "Rect",
    "Sampling",
    "Scale",
    "Scene",
    "SerialText",
    "ShellView",
    "Snapshots",
    "SourceType",
    "StateChange",
    "Telemetry",
    "TextureKind",
    "TextureRef",
    "Tile",
    "TileContext",
    "TileSpec",
    "TileState",
    "Typed",
    "WorldRect",
    "assert_image_close",
    "control_request",
    "hookimpl",
    "loop_thread",
    "new_framebuffer",
    "read_image",
    "release_freed",
    "resolve_path",
    "setting",
    "wait_until",
]
