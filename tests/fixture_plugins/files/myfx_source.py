"""A one-off plugin file that a scene loads by path: registers source type ``filesource``."""

import attrs

from geometry_os import api
from geometry_os.plugins.pattern.source import PatternSource


@attrs.define(frozen=True)
class FileSourceParams:
    width: int = api.setting(32, doc="Width.", min=16)
    height: int = api.setting(32, doc="Height.", min=16)
    rate: float = api.setting(0.0, doc="Rate.")
    speed: float = api.setting(0.0, doc="Speed.")


@api.hookimpl
def register_sources():
    return [api.SourceType("filesource", FileSourceParams, PatternSource)]
