"""A plugin that registers a source type named like the built-in ``pattern``."""

import geometry_os
from geometry_os.registry import SourceType
from geometry_os.plugins.pattern.source import PatternParams, PatternSource


@geometry_os.hookimpl
def register_sources():
    return [SourceType("pattern", PatternParams, PatternSource)]
