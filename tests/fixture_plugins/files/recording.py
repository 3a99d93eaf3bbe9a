"""A plugin that records the lifecycle hooks it sees (for isolation tests)."""

import engine

calls = []


@engine.hookimpl
def scene_loaded(shell, scene):
    calls.append("scene_loaded")
