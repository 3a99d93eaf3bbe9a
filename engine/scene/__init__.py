"""Scenes: YAML files that say which window, camera, tiles and effects to show."""

from geometry_os.scene.loader import SceneError, load_scene
from geometry_os.scene.model import Scene

__all__ = ["Scene", "SceneError", "load_scene"]
