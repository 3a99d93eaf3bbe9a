"""A plugin that registers a source type named like the built-in ``pattern``."""

from geometry_os import api
from geometry_os.plugins.pattern.source import PatternParams, PatternSource


@api.hookimpl
def register_sources():
    return [api.SourceType("pattern", PatternParams, PatternSource)]
