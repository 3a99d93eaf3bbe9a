"""The ``pattern`` frame source: an animated test card, for tests, demos and benchmarks.

It is what it says — a synthetic picture — and never stands in for a VM.
"""

from __future__ import annotations

import geometry_os
from geometry_os.registry import SourceType
from geometry_os.plugins.pattern.source import PatternParams, PatternSource


@geometry_os.hookimpl
def register_sources() -> list[SourceType]:
    return [SourceType("pattern", PatternParams, PatternSource,
                       "Animated test card with moving dirty regions (no VM).")]
