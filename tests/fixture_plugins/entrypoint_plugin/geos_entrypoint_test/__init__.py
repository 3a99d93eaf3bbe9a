"""Registers a frame source type ``entrytest`` (reusing the pattern source's code)."""

import attrs

from geometry_os import api
from geometry_os.plugins.pattern.source import PatternSource


@attrs.define(frozen=True)
class EntryTestParams:
    width: int = api.setting(64, doc="Width.", min=16)
    height: int = api.setting(48, doc="Height.", min=16)
    rate: float = api.setting(0.0, doc="Rate.")
    speed: float = api.setting(0.0, doc="Speed.")


@api.hookimpl
def register_sources():
    return [api.SourceType("entrytest", EntryTestParams, PatternSource, "Test source from an entry point.")]
