"""The one shader loader: ``#include`` with file:line error mapping, and hot reload.

Every program in Geometry OS (engine, built-in and plugin effects) is built from
:class:`ShaderSource` objects and lives in a :class:`ReloadableProgram`: a stable
handle whose ``program`` is swapped only when new source compiles and links.  On
failure the last good program keeps drawing and ``error`` holds ``file:line:
message`` lines (shown on screen and logged); fixing the file clears it.

pyglet's ``ShaderException`` derives from ``BaseException``, so ``except Exception``
would not catch it: it is caught by name here, deliberately, and nowhere else.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import attrs
from pyglet.graphics.shader import Shader, ShaderException, ShaderProgram

log = logging.getLogger(__name__)

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$')
# Mesa: "0:5(1): error: ..."; NVIDIA: "0(5) : error C0000: ..."; ANGLE/others: "ERROR: 0:5: ..."
_DRIVER_LINE = re.compile(r"^\s*(?:ERROR:\s*)?\d+(?::(\d+)(?:\(\d+\))?|\((\d+)\))\s*:\s*(.*)$")


class ShaderError(Exception):
    """A shader that could not be loaded, compiled or linked; ``lines`` are ``file:line: message``."""

    def __init__(self, lines: Sequence[str]):
        super().__init__("\n".join(lines))
        self.lines = list(lines)


@attrs.define
class ShaderSource:
    """Expanded GLSL text plus, for each of its lines, the file and line it came from."""

    text: str
    origins: list[tuple[Path, int]]
    files: set[Path]
    # For text with its own ``#line`` directives (generated elsewhere, e.g. from a slang
    # shader): turns the driver's log into ``file:line: message`` lines instead of ``origins``.
    map_log: Callable[[str], list[str]] | None = None

    def origin(self, line: int) -> str:
        """``file:line`` for a 1-based line of the expanded text."""
        if 1 <= line <= len(self.origins):
            path, number = self.origins[line - 1]
            return f"{path}:{number}"
        return f"{self.origins[-1][0] if self.origins else '?'}:{line}"


@attrs.define(frozen=True)
class Generated:
    """What a virtual ``#include "@name"`` expands to: ``header``, these files, then ``text``."""

    files: tuple[Path, ...] = ()
    text: str = ""
    header: str = ""


def load_source(path: Path, include_dirs: Sequence[Path] = (), prelude: str = "",
                virtual: dict[str, Generated] | None = None) -> ShaderSource:
    """Read ``path``, expanding ``#include "file"`` (relative to the including file, then
    ``include_dirs``) and ``#include "@name"`` from ``virtual`` (generated code, such as
    an effect chain).  ``prelude`` lines (e.g. ``#define``) go right after ``#version``.
    Raises :class:`ShaderError` for missing files and include cycles."""
    text: list[str] = []
    origins: list[tuple[Path, int]] = []
    files: set[Path] = set()

    def expand(file: Path, chain: tuple[Path, ...], where: str) -> None:
        file = file.resolve()
        if file in chain:
            cycle = " -> ".join(p.name for p in (*chain, file))
            raise ShaderError([f"{where}: include cycle: {cycle}"])
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ShaderError([f"{where}: cannot read {file}: {exc.strerror}"]) from None
        files.add(file)
        for number, line in enumerate(lines, 1):
            match = _INCLUDE.match(line)
            if match and match.group(1).startswith("@"):
                generated = (virtual or {}).get(match.group(1)[1:])
                if generated is None:
                    raise ShaderError([f"{file}:{number}: unknown generated include {match.group(1)!r}"])
                for extra in generated.header.splitlines():
                    text.append(extra)
                    origins.append((file, number))
                for part in generated.files:
                    expand(part, (*chain, file), f"{file}:{number}")
                for extra in generated.text.splitlines():
                    text.append(extra)
                    origins.append((file, number))
                continue
            if match:
                expand(_resolve(match.group(1), file.parent, include_dirs, f"{file}:{number}"),
                       (*chain, file), f"{file}:{number}")
                continue
            text.append(line)
            origins.append((file, number))
            if prelude and not chain and line.lstrip().startswith("#version"):
                for extra in prelude.splitlines():
                    text.append(extra)
                    origins.append((file, number))

    expand(Path(path), (), str(path))
    return ShaderSource("\n".join(text) + "\n", origins, files)


def _resolve(name: str, here: Path, include_dirs: Sequence[Path], where: str) -> Path:
    for folder in (here, *include_dirs):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise ShaderError([f"{where}: cannot include {name!r}: not found in {', '.join(map(str, (here, *include_dirs)))}"])


def map_driver_log(message: str, source: ShaderSource) -> list[str]:
    """Turn a driver's compile log into ``file:line: message`` lines."""
    if source.map_log is not None:
        return source.map_log(message)
    out = []
    for raw in message.splitlines():
        match = _DRIVER_LINE.match(raw)
        if match:
            line = int(match.group(1) or match.group(2))
            out.append(f"{source.origin(line)}: {match.group(3).strip()}")
    return out


def compile_program(vertex: ShaderSource, fragment: ShaderSource) -> ShaderProgram:
    """Compile and link; raises :class:`ShaderError` with mapped lines on failure."""
    shaders = []
    stages: tuple[tuple[ShaderSource, Literal["vertex", "fragment"]], ...] = ((vertex, "vertex"),
                                                                              (fragment, "fragment"))
    for source, kind in stages:
        try:
            shaders.append(Shader(source.text, kind))
        except ShaderException as exc:  # a BaseException: caught on purpose, see module doc
            lines = map_driver_log(str(exc).split("message when compiling", 1)[-1], source)
            raise ShaderError(lines or [f"{source.origin(1)}: {kind} shader failed to compile"]) from None
    try:
        return ShaderProgram(*shaders)
    except ShaderException as exc:
        detail = " ".join(line.strip() for line in str(exc).splitlines()[1:] if line.strip())
        raise ShaderError([f"{fragment.origin(1)}: link failed: {detail}"]) from None


class ReloadableProgram:
    """A shader program handle that survives edits.

    ``build`` returns the (vertex, fragment) sources; it is called at start and
    whenever a file it read changes (:meth:`poll`).  ``program`` is always the last
    program that compiled; ``error`` is the current error (or None).
    """

    def __init__(self, name: str, build: Callable[[], tuple[ShaderSource, ShaderSource]]):
        self.name = name
        self._build = build
        self.error: ShaderError | None = None
        self.generation = 0  # bumped on each successful (re)load
        self._stamps: dict[Path, float] = {}
        program = self._compile()
        if program is None:  # no last good program to keep at start
            raise self.error or ShaderError([f"{name}: no program"])
        self.program: ShaderProgram = program
        self._loaded()

    def reload(self) -> bool:
        """Rebuild now.  True if a new program is in use."""
        program = self._compile()
        if program is None:
            return False
        self.program.delete()
        self.program = program
        self._loaded()
        return True

    def _compile(self) -> ShaderProgram | None:
        """Build and compile; None (and :attr:`error` set) when that fails."""
        files: set[Path] = set()
        try:
            vertex, fragment = self._build()
            files = vertex.files | fragment.files
            program = compile_program(vertex, fragment)
        except ShaderError as exc:
            files = files or set(self._stamps) or files_in_error(exc)
            self._remember(files | files_in_error(exc))
            if self.error is None or self.error.lines != exc.lines:
                log.error("shader %s: %s", self.name, "; ".join(exc.lines))
            self.error = exc
            return None
        self._remember(files)
        return program

    def _loaded(self) -> None:
        if self.error is not None:
            log.warning("shader %s: reloaded, error cleared", self.name)
        self.error = None
        self.generation += 1

    def poll(self) -> bool:
        """Rebuild if any file this program was built from changed; True if it tried."""
        if all(file_stamp(path) == stamp for path, stamp in self._stamps.items()):
            return False
        self.reload()
        return True

    def _remember(self, files: set[Path]) -> None:
        self._stamps = {path: file_stamp(path) for path in files}


def file_stamp(path: Path) -> float:
    """Changes whenever the file is written (mtime and size); -1 when it is missing."""
    try:
        stat = os.stat(path)
        return stat.st_mtime_ns + stat.st_size
    except OSError:
        return -1.0


def files_in_error(exc: ShaderError) -> set[Path]:
    """The shader files an error's file:line messages name."""
    files = set()
    for line in exc.lines:
        candidate = Path(line.split(":", 1)[0])
        if candidate.suffix in (".glsl", ".vert", ".frag"):
            files.add(candidate.resolve())
    return files
