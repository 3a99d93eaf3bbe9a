"""Where the shipped shaders and scenes are, from a source tree or an installed package.

In a checkout (and an editable install) they are the top-level ``shaders/`` and
``scenes/`` folders.  A regular install puts them under
``<prefix>/share/geometry-os/`` (setup.cfg ``data_files``).
"""

from __future__ import annotations

import sys
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent
_INSTALLED_ROOT = Path(sys.prefix) / "share" / "geometry-os"


def _find(name: str) -> Path:
    for root in (_SOURCE_ROOT, _INSTALLED_ROOT):
        candidate = root / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ folder in {_SOURCE_ROOT} or {_INSTALLED_ROOT}")


def shaders_dir() -> Path:
    """The folder of the engine's GLSL files."""
    return _find("shaders")


def scenes_dir() -> Path:
    """The folder of the shipped scenes."""
    return _find("scenes")


DEFAULT_SCENE = "default.yaml"


def default_scene() -> Path:
    """The scene ``geos run`` shows when given none."""
    return scenes_dir() / DEFAULT_SCENE
