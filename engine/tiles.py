"""Tiles and the frame-source contract every backend implements.

A *tile* is one thing on the map (a VM, a test card).  Its pixels come from a
*frame source*: an object a plugin creates through its registered
:class:`~geometry_os.registry.SourceType`.  The shell owns the tile; the source owns the
pixels and reports its state.  See docs/architecture.md for the threads involved.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from geometry_os.camera import WorldRect
from geometry_os.capabilities import NO_CAPABILITIES, Capabilities
from geometry_os.frames import FrameMailbox

log = logging.getLogger(__name__)

#: Height of a tile's title bar, in world units, drawn above the image area.  Part of
#: the tile's footprint for fitting the view and for hit-testing.
TITLE_BAR_HEIGHT = 28.0


class TileState(enum.Enum):
    """What a tile's badge shows."""

    BOOTING = "booting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FAILED = "failed"


@attrs.define
class StateChange:
    """One state transition of a tile, as lifecycle hooks receive it."""

    tile: str
    old: TileState
    new: TileState
    reason: str = ""


@attrs.define(eq=False)
class TileContext:
    """What a frame source gets from the shell.

    ``report_state`` may be called from any thread; the change reaches the badge and
    the ``tile_state_changed`` hook on the main loop.
    """

    name: str  # unique id of the tile in the scene ("tile-0" or its ``id``)
    title: str
    scene_dir: Path  # relative paths in params resolve against this
    runtime_dir: Path  # private 0700 directory for this tile's sockets and logs
    mailbox: FrameMailbox = attrs.field(factory=FrameMailbox)
    on_state: Callable[[StateChange], None] | None = None
    state: TileState = TileState.STOPPED
    reason: str = ""
    badge: str = ""  # what the badge says instead of the state's name (a snapshot's ghost: "snapshot")
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def report_state(self, new: TileState, reason: str = "") -> None:
        """Record a state change (thread-safe) and tell the shell about it."""
        with self._lock:
            if new is self.state and reason == self.reason:
                return
            change = StateChange(self.name, self.state, new, reason)
            self.state, self.reason = new, reason
        if new is TileState.FAILED:
            log.error("tile %s failed: %s", self.name, reason)
        else:
            log.info("tile %s: %s -> %s%s", self.name, change.old.value, new.value,
                     f" ({reason})" if reason else "")
        if self.on_state is not None:
            self.on_state(change)


class FrameSource:
    """Base class of frame sources.  Subclasses implement :meth:`start` and :meth:`stop`.

    Contract:

    * ``start()`` returns quickly (spawn threads or processes; never block the main
      loop on a guest).  Failures are reported with
      ``ctx.report_state(TileState.FAILED, reason)``, never raised at the shell.
    * Frames go to ``ctx.mailbox.publish(pixels, dirty)`` from any thread.
    * ``stop()`` shuts the source down cleanly and is idempotent; the shell calls it
      on quit and when a tile is removed.
    * ``restart()`` brings a stopped or failed source back.
    * What else it can do (keyboard, pointer, lifecycle control, telemetry, a guest
      cursor) it declares in :attr:`capabilities`, a
      :class:`~geometry_os.capabilities.Capabilities` record of typed protocols.
    """

    #: What this source can do besides pixels; a subclass sets its own in ``__init__``.
    capabilities: Capabilities = NO_CAPABILITIES

    def __init__(self, ctx: TileContext, params: Any) -> None:
        self.ctx = ctx
        self.params = params

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        self.stop()
        self.start()


@attrs.define(eq=False)
class Tile:
    """A tile on the running map: its scene entry, its source, and the renderer's state."""

    index: int
    spec: Any  # engine.scene.model.TileSpec
    ctx: TileContext
    source: FrameSource | None  # None when the source could not be created
    texture: Any = None  # engine.render.texture.StreamTexture, made by the tile renderer
    update_rate: float = 0.0  # frames published per second (measured by the shell each second)
    cpu_load: float = 0.0  # the source's CPU load 0..1 (from its telemetry(), if it has one)
    effect_state: dict[str, Any] = attrs.field(factory=dict)  # per-tile state of effects (e.g. a pulse phase)
    frame_size: tuple[int, int] = (0, 0)  # size of the last frame uploaded
    too_large: bool = False  # the last frame exceeded GL_MAX_TEXTURE_SIZE
    # a layer draws something opaque over the whole tile this frame (a card at far zoom): its frames are
    # not uploaded, and its mailbox keeps merging them, so the first upload once uncovered catches up
    covered: bool = False

    @property
    def name(self) -> str:
        return self.ctx.name

    @property
    def title(self) -> str:
        return self.ctx.title

    @property
    def rect(self) -> WorldRect:
        """Where the tile's image area is in the world."""
        (x, y), (w, h) = self.spec.position, self.spec.size
        return WorldRect(x, y, w, h)

    @property
    def image_rect(self) -> WorldRect:
        """Where the guest image is drawn inside :attr:`rect`: as large as fits, aspect
        kept, centred.  Drawing and pointer mapping both use this one definition."""
        rect = self.rect
        fw, fh = self.frame_size
        if not fw or not fh:
            return rect
        scale = min(rect.w / fw, rect.h / fh)
        w, h = fw * scale, fh * scale
        return WorldRect(rect.x + (rect.w - w) / 2, rect.y + (rect.h - h) / 2, w, h)

    def guest_pixel(self, wx: float, wy: float) -> tuple[int, int] | None:
        """The guest screen pixel under world point (wx, wy); None outside the image."""
        fw, fh = self.frame_size
        r = self.image_rect
        if not fw or not fh or not r.contains(wx, wy):
            return None
        gx = int((wx - r.x) / r.w * fw)
        gy = int((wy - r.y) / r.h * fh)
        return min(gx, fw - 1), min(gy, fh - 1)

    @property
    def footprint(self) -> WorldRect:
        """The image area plus the title bar above it."""
        r = self.rect
        return WorldRect(r.x, r.y - TITLE_BAR_HEIGHT, r.w, r.h + TITLE_BAR_HEIGHT)
