"""A plugin with a misspelt hook name: must fail at load."""

from geometry_os import api


@api.hookimpl
def scene_loded(shell, scene):
    pass
