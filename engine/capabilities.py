"""What a frame source can do besides making pixels: typed capability protocols.

A source declares its capabilities once, in its :attr:`~geometry_os.tiles.FrameSource.capabilities`
(a :class:`Capabilities` record); the shell and plugins read that record instead of
probing the source with ``getattr``/``hasattr``.  A capability that is ``None`` is
absent.  Each protocol is structural: any object with these methods will do, and
mypy checks the source against it where the record is built.

All methods are called on the main loop and must not block: work that talks to a
guest is queued and its outcome returned as a :class:`concurrent.futures.Future`.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import attrs

#: One key event for :meth:`Keyboard.send_keys`: (pressed, QEMU key number "qnum").
KeyEvent = tuple[bool, int]


class Cursor(NamedTuple):
    """The guest's mouse cursor image: premultiplied BGRA bytes, ``width * height * 4``, rows top first."""

    width: int
    height: int
    hot_x: int
    hot_y: int
    pixels: bytes


class CursorPos(NamedTuple):
    """Where the guest's cursor is, in guest pixels, and whether it is shown."""

    x: int
    y: int
    visible: bool


class Keyboard(Protocol):
    """Keys into the guest, as QEMU key numbers (XT set-1 scancodes, 0xE0 keys as ``0x80|code``)."""

    @property
    def keyboard_modifiers(self) -> int:
        """The guest's lock LEDs: Scroll = 1, Num = 2, Caps = 4."""

    def key_press(self, qnum: int) -> None:
        """Press a key (queued; keys reach the guest in order, paced so none is lost)."""

    def key_release(self, qnum: int) -> None:
        """Release a key (queued like :meth:`key_press`)."""

    def send_keys(self, events: Sequence[KeyEvent]) -> concurrent.futures.Future[None]:
        """Queue a whole sequence (typed text, a combination); the future is done once the
        last event reached the guest, or fails with the reason it could not."""


class Pointer(Protocol):
    """The guest's mouse.  Buttons are QEMU's: 0 left, 1 middle, 2 right, 3/4 wheel up/down,
    5/6 side/extra, 7/8 wheel left/right."""

    @property
    def is_absolute(self) -> bool:
        """Whether the guest drives an absolute pointer (a tablet): then use :meth:`mouse_set_abs`."""

    def mouse_set_abs(self, x: int, y: int) -> None:
        """Move the pointer to guest pixel (x, y)."""

    def mouse_rel(self, dx: int, dy: int) -> None:
        """Move the pointer by (dx, dy) guest pixels (relative guests)."""

    def mouse_press(self, button: int) -> None:
        """Press a button."""

    def mouse_release(self, button: int) -> None:
        """Release a button."""


class Lifecycle(Protocol):
    """Control of the machine behind the tile.  Each returns at once; the future says how it went."""

    @property
    def persistent(self) -> bool:
        """Whether the machine writes to disks that outlive it: stopping it hard can lose data."""

    def pause(self) -> concurrent.futures.Future[Any]:
        """Stop the guest's CPUs (the screen stays)."""

    def resume(self) -> concurrent.futures.Future[Any]:
        """Continue a paused guest."""

    def reset(self) -> concurrent.futures.Future[Any]:
        """Hard reset, like the reset button."""

    def powerdown(self, timeout: float | None = None) -> concurrent.futures.Future[Any]:
        """ACPI power button: ask the guest to shut down, forced off after ``timeout`` seconds
        (None: the source's own default)."""

    def force_off(self) -> concurrent.futures.Future[Any]:
        """Stop the machine at once, like pulling the plug (the guest is not asked)."""

    def relaunch(self) -> concurrent.futures.Future[Any]:
        """Start the machine afresh from any state: a running or paused one is stopped first,
        a stopped or failed one just starts.  A state kept by :meth:`save_and_stop` is resumed."""

    def save_and_stop(self) -> concurrent.futures.Future[Any]:
        """Save the whole machine (memory, devices) and stop it; its next start continues there."""


class Telemetry(Protocol):
    """Cheap, already-sampled numbers about the machine, read once a second by the shell."""

    def telemetry(self) -> Mapping[str, float]:
        """``cpu_load`` (0..1, the guest's CPU use) and optionally ``update_rate`` (frames/s)."""


class SerialText(Protocol):
    """What the guest last printed on its serial port, for a card or a status line."""

    @property
    def last_line(self) -> str:
        """The last line with text on it, as plain text (escape sequences and control characters
        removed, at most 200 characters); '' before the guest printed one."""


class CursorImage(Protocol):
    """The guest's hardware cursor, drawn over its tile by the renderer."""

    @property
    def cursor(self) -> Cursor | None:
        """The current cursor image (a new object when it changes), or None."""

    @property
    def cursor_pos(self) -> CursorPos | None:
        """Where it is, or None before the guest placed it."""


class Snapshots(Protocol):
    """Whole-machine snapshots (memory, devices and disks) kept in the machine's own storage, by tag.

    A tag is the caller's name for one moment (letters, digits, ``._-``; unique per machine).
    The machine must be running (or paused) for each call; the futures fail with a one-line
    reason (no such tag, disks that cannot hold a snapshot, a machine that is not running).
    """

    def snapshot_save(self, tag: str) -> concurrent.futures.Future[None]:
        """Save this moment as ``tag`` (the guest is held still while it is written, then goes on)."""

    def snapshot_load(self, tag: str) -> concurrent.futures.Future[None]:
        """Return the machine to ``tag``: its memory, devices and disks as they were then."""

    def snapshot_delete(self, tag: str) -> concurrent.futures.Future[None]:
        """Forget ``tag`` and free its storage (never a disk the machine boots from)."""

    def snapshot_copy(self, tag: str, to: Snapshots) -> concurrent.futures.Future[None]:
        """Give another machine of the same kind and configuration ``tag`` (a fork): afterwards
        ``to.snapshot_load(tag)`` starts it from that moment, each on storage of its own."""

    def fork_settings(self) -> Any:
        """The source settings (``params``) of a copy of this machine for a fork: the same hardware
        and boot media, without what only one machine may own (a log file it writes, say)."""


@attrs.frozen
class Capabilities:
    """What a frame source can do; ``None`` means it cannot."""

    keyboard: Keyboard | None = None
    pointer: Pointer | None = None
    lifecycle: Lifecycle | None = None
    telemetry: Telemetry | None = None
    cursor: CursorImage | None = None
    serial: SerialText | None = None
    snapshots: Snapshots | None = None


NO_CAPABILITIES = Capabilities()
