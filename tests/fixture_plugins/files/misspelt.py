"""A plugin with a misspelt hook name: must fail at load."""

import geometry_os


@geometry_os.hookimpl
def scene_loded(shell, scene):
    pass
