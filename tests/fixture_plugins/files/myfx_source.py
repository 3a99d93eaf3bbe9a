"""A one-off plugin file that a scene loads by path: registers source type ``filesource``."""

import attrs

import geometry_os
from geometry_os.registry import SourceType
from geometry_os.settings import setting
from geometry_os.plugins.pattern.source import PatternSource


@attrs.define(frozen=True)
class FileSourceParams:
    width: int = setting(32, doc="Width.", min=16)
    height: int = setting(32, doc="Height.", min=16)
    rate: float = setting(0.0, doc="Rate.")
    speed: float = setting(0.0, doc="Speed.")


@geometry_os.hookimpl
def register_sources():
    return [SourceType("filesource", FileSourceParams, PatternSource)]
