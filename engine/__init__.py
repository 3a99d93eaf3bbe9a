"""Geometry OS engine: the core that loads plugins, scenes and runs the map shell."""

from importlib import metadata

import pluggy

from geometry_os.hookspecs import PROJECT

try:
    __version__ = metadata.version("geometry-os")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

#: Decorator for plugin hook implementations: ``@geometry_os.hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["__version__", "hookimpl"]
