"""A plugin that registers a source type named like the built-in ``pattern``."""

import engine
from engine.registry import SourceType
from plugins.pattern.source import PatternParams, PatternSource


@engine.hookimpl
def register_sources():
    return [SourceType("pattern", PatternParams, PatternSource)]
