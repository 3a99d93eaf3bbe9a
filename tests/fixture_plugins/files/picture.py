"""A one-off plugin file: source type ``picture`` shows a PNG file named relative to the scene
(a third-party params class with a ``must_exist`` path)."""

import attrs
import numpy as np

from geometry_os import api
from geometry_os.png import read_png
from geometry_os.settings import resolve_path


@attrs.define(frozen=True)
class PictureParams:
    file: str = api.setting(doc="PNG file to show (path, relative to the scene file).", must_exist=True)


class PictureSource(api.FrameSource):
    def start(self) -> None:
        rgba = read_png(resolve_path(self.params.file, self.ctx.scene_dir))
        self.ctx.mailbox.publish(np.ascontiguousarray(rgba[..., [2, 1, 0, 3]]))  # RGBA -> BGRX
        self.ctx.report_state(api.TileState.RUNNING)

    def stop(self) -> None:
        self.ctx.report_state(api.TileState.STOPPED)


@api.hookimpl
def register_sources() -> list[api.SourceType]:
    return [api.SourceType("picture", PictureParams, PictureSource, "Shows a PNG file.")]
