"""Registers a frame source type ``entrytest`` (reusing the pattern source's code)."""

import attrs

import geometry_os
from geometry_os.registry import SourceType
from geometry_os.settings import setting
from geometry_os.plugins.pattern.source import PatternSource


@attrs.define(frozen=True)
class EntryTestParams:
    width: int = setting(64, doc="Width.", min=16)
    height: int = setting(48, doc="Height.", min=16)
    rate: float = setting(0.0, doc="Rate.")
    speed: float = setting(0.0, doc="Speed.")


@geometry_os.hookimpl
def register_sources():
    return [SourceType("entrytest", EntryTestParams, PatternSource, "Test source from an entry point.")]
