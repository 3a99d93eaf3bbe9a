"""A plugin whose lifecycle hooks always raise (for isolation tests)."""

import engine

calls = []


@engine.hookimpl
def scene_loaded(shell, scene):
    calls.append("scene_loaded")
    raise RuntimeError("boom in scene_loaded")
