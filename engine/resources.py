"""Where the shipped shaders, scenes and guest recipes are: package data of ``geometry_os``.

They are read through :mod:`importlib.resources`, so a checkout (editable install)
and a wheel installed anywhere find them the same way.  Shader hot reload and the
guest builder need real files, so a resource that is not a plain file on disk (a
zipped install) is refused with a clear error rather than copied out.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_SCENE = "default.yaml"


def package_dir(package: str) -> Path:
    """The folder of a data package (``geometry_os.shaders`` ...) on disk."""
    folder = resources.files(package)
    if not isinstance(folder, Path) or not folder.is_dir():
        raise FileNotFoundError(f"{package} is not installed as plain files ({folder}); "
                                "install geometry-os from a wheel or a checkout, not a zip")
    return folder


def shaders_dir() -> Path:
    """The folder of the engine's GLSL files."""
    return package_dir("geometry_os.shaders")


def scenes_dir() -> Path:
    """The folder of the shipped scenes."""
    return package_dir("geometry_os.scenes")


def guests_dir() -> Path:
    """The folder of the guest image recipes (``tiny-linux/build.sh`` ...)."""
    return package_dir("geometry_os.guests")


def default_scene() -> Path:
    """The scene ``geos run`` shows when given none."""
    return scenes_dir() / DEFAULT_SCENE
