"""A plugin that records the lifecycle hooks it sees (for isolation tests)."""

import geometry_os

calls = []


@geometry_os.hookimpl
def scene_loaded(shell, scene):
    calls.append("scene_loaded")
