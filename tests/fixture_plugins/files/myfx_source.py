"""A one-off plugin file that a scene loads by path: registers source type ``filesource``."""

import attrs

import engine
from engine.registry import SourceType
from engine.settings import setting
from plugins.pattern.source import PatternSource


@attrs.define(frozen=True)
class FileSourceParams:
    width: int = setting(32, doc="Width.", min=16)
    height: int = setting(32, doc="Height.", min=16)
    rate: float = setting(0.0, doc="Rate.")
    speed: float = setting(0.0, doc="Speed.")


@engine.hookimpl
def register_sources():
    return [SourceType("filesource", FileSourceParams, PatternSource)]
