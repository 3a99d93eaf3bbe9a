"""A plugin with a misspelt hook name: must fail at load."""

import engine


@engine.hookimpl
def scene_loded(shell, scene):
    pass
