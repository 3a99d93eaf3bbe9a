"""Scenes: YAML files that say which window, camera, tiles and effects to show."""

from engine.scene.loader import SceneError, load_scene
from engine.scene.model import Scene

__all__ = ["Scene", "SceneError", "load_scene"]
