"""The ``pattern`` frame source: an animated test card, for tests, demos and benchmarks.

It is what it says — a synthetic picture — and never stands in for a VM.
"""

from __future__ import annotations

from geometry_os import api
from geometry_os.plugins.pattern.source import PatternParams, PatternSource


@api.hookimpl
def register_sources() -> list[api.SourceType]:
    return [api.SourceType("pattern", PatternParams, PatternSource,
                       "Animated test card with moving dirty regions (no VM).")]
