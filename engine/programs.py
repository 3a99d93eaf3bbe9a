"""The shell's shader programs by name, and everything polled for hot reload.

Layers share programs by name ("solid", "tile" ...): each is a
:class:`~geometry_os.render.shaders.ReloadableProgram` built once and, in development
mode, rebuilt when a file it was built from changes (a failed rebuild keeps the last
good program and its error is shown on screen).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from geometry_os.render.shaders import ReloadableProgram, ShaderSource


class Pollable(Protocol):
    def poll(self) -> bool: ...


class ProgramRegistry:
    """Shared programs and the other objects that watch files (the scene file)."""

    def __init__(self) -> None:
        self.programs: dict[str, ReloadableProgram] = {}
        self.watched: list[Pollable] = []

    def get(self, name: str, build: Callable[[], tuple[ShaderSource, ShaderSource]]) -> ReloadableProgram:
        if name not in self.programs:
            self.programs[name] = ReloadableProgram(name, build)
            self.watched.append(self.programs[name])
        return self.programs[name]

    def poll(self) -> None:
        """Rebuild what changed on disk (development mode, once per frame: ~10 us per file)."""
        for item in self.watched:
            item.poll()

    def generations(self) -> tuple[int, ...]:
        """Changes whenever a program was rebuilt (the map must be redrawn)."""
        return tuple(program.generation for program in self.programs.values())

    def errors(self) -> list[str]:
        return [line for program in self.programs.values() if program.error for line in program.error.lines]
