"""A plugin whose lifecycle hooks always raise (for isolation tests)."""

import geometry_os

calls = []


@geometry_os.hookimpl
def scene_loaded(shell, scene):
    calls.append("scene_loaded")
    raise RuntimeError("boom in scene_loaded")
