"""Package data: the engine's GLSL (read through importlib.resources)."""
