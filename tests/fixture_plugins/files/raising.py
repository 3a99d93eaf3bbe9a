"""A plugin whose lifecycle hooks always raise (for isolation tests)."""

from geometry_os import api

calls = []


@api.hookimpl
def scene_loaded(shell, scene):
    calls.append("scene_loaded")
    raise RuntimeError("boom in scene_loaded")
