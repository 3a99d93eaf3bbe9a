"""The ``snapshot`` tile: a ghost of one moment of a VM, a still image of its screen then.

A ghost is a tile like any other (so it is moved, saved with the scene and restored with
it by the machinery every tile has); its scene entry says which VM it belongs to, which of
that VM's snapshots it stands for, when it was taken and the snapshot it was taken after
(``parent``: the branch it grows from).  Its title is the snapshot's name.
"""

import datetime
import re
from pathlib import Path

import attrs
import numpy as np

from geometry_os import api

TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@attrs.define(frozen=True)
class GhostParams:
    """One snapshot of a VM, shown as a still image beside it."""

    vm: str = api.setting(doc="the id of the VM tile the snapshot is of")
    tag: str = api.setting(doc="the snapshot's tag in that VM's store (letters, digits, ._-)")
    taken: str = api.setting(doc="when it was taken: ISO 8601 local time, e.g. 2026-11-30T14:38:45")
    parent: str = api.setting("", doc="the tag of the snapshot this one was taken after (the branch it grows "
                                      "from); empty for a first one")
    image: str | None = api.setting(None, doc="PNG of the VM's screen at that moment (path)")

    def __attrs_post_init__(self) -> None:
        for name in ("tag", "parent"):
            value = getattr(self, name)
            if (value or name == "tag") and not TAG.fullmatch(value):
                raise ValueError(f"{name}: letters, digits and ._- only, at most 64 (got {value!r})")
        if not self.vm:
            raise ValueError("vm: the id of a VM tile is needed")
        try:
            datetime.datetime.fromisoformat(self.taken)
        except ValueError:
            raise ValueError(f"taken: an ISO 8601 time such as 2026-11-30T14:38:45 (got {self.taken!r})") from None

    @property
    def time(self) -> datetime.datetime:
        return datetime.datetime.fromisoformat(self.taken)


def read_still(path: str | None, scene_dir: Path) -> np.ndarray | None:
    """The still image as a BGRX framebuffer, or None when there is none (a missing file is not an error:
    the ghost is then a grey card, and restore still works)."""
    if not path:
        return None
    from PIL import Image

    try:
        with Image.open(api.resolve_path(path, scene_dir)) as image:
            rgb = np.asarray(image.convert("RGB"))
    except OSError:
        return None
    frame = api.new_framebuffer(rgb.shape[1], rgb.shape[0])
    frame[:, :, 0:3] = rgb[:, :, ::-1]
    return frame


class GhostSource(api.FrameSource):
    """Publishes its still image once; it has no machine behind it (the VM tile has)."""

    params: GhostParams

    def start(self) -> None:
        frame = read_still(self.params.image, self.ctx.scene_dir)
        if frame is None:
            frame = api.new_framebuffer(320, 200)
            frame[:, :, 0:3] = 40
        self.ctx.mailbox.publish(frame)
        self.ctx.badge = "snapshot"
        self.ctx.report_state(api.TileState.STOPPED, f"snapshot of {self.params.vm}, "
                              f"{self.params.time:%Y-%m-%d %H:%M:%S}")

    def stop(self) -> None:
        """Nothing runs."""
