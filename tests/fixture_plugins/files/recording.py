"""A plugin that records the lifecycle hooks it sees (for isolation tests)."""

from geometry_os import api

calls = []


@api.hookimpl
def scene_loaded(shell, scene):
    calls.append("scene_loaded")
