"""A ``.slang`` file split into its vertex and fragment sources, with its pragmas read.

Includes are expanded here (glslang never sees a file name).  Every output line comes
from exactly one source line; lines of the other stage and consumed pragmas become
empty lines, so ``#line`` is needed only where the source file or line jumps.  The
``#line N "k"`` directives name files by their index ``k`` in :attr:`ShaderSource.files`:
glslang then reports ``k:N``, and once the quotes are dropped (``#line N k``) so does
Mesa, which lacks GL_GOOGLE_cpp_style_line_directive.
"""

from __future__ import annotations

import re
from pathlib import Path

from attrs import frozen

from geometry_os.plugins.effects.slang.errors import SlangError
from geometry_os.plugins.effects.slang.preset import IDENTIFIER
from geometry_os.plugins.effects.slang.preset_file import beside

STAGES = ("vertex", "fragment")
#: Framebuffer formats a pass may ask for with ``#pragma format`` (Vulkan names, as RetroArch).
FORMATS = frozenset({
    "R8_UNORM", "R8_UINT", "R8_SINT", "R8G8_UNORM", "R8G8_UINT", "R8G8_SINT",
    "R8G8B8A8_UNORM", "R8G8B8A8_UINT", "R8G8B8A8_SINT", "R8G8B8A8_SRGB",
    "A2B10G10R10_UNORM_PACK32", "A2B10G10R10_UINT_PACK32",
    "R16_UINT", "R16_SINT", "R16_SFLOAT", "R16G16_UINT", "R16G16_SINT", "R16G16_SFLOAT",
    "R16G16B16A16_UINT", "R16G16B16A16_SINT", "R16G16B16A16_SFLOAT",
    "R32_UINT", "R32_SINT", "R32_SFLOAT", "R32G32_UINT", "R32G32_SINT", "R32G32_SFLOAT",
    "R32G32B32A32_UINT", "R32G32B32A32_SINT", "R32G32B32A32_SFLOAT",
})
LINE_EXTENSION = "#extension GL_GOOGLE_cpp_style_line_directive : require"

_NUMBER = r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_INCLUDE = re.compile(r'#\s*include\s*(.*)')
_OPTIONAL = re.compile(r'#\s*pragma\s+include_optional\s*(.*)')
_QUOTED = re.compile(r'"([^"]+)"\s*(?://.*)?')
_PRAGMA = re.compile(r"#\s*pragma\s+(stage|parameter|name|format)\b\s*(.*)")
_PARAMETER = re.compile(rf'([A-Za-z_][A-Za-z0-9_]*)\s+"([^"]*)"\s+{_NUMBER}\s+{_NUMBER}\s+{_NUMBER}'
                        rf'(?:\s+{_NUMBER})?\s*')
_VERSION = re.compile(r"#\s*version\b")
DEFAULT_STEP = 0.02


@frozen
class Parameter:
    """A ``#pragma parameter``: a float the user may tune, declared with its range."""

    id: str
    description: str
    initial: float
    minimum: float
    maximum: float
    step: float = DEFAULT_STEP


@frozen
class ShaderSource:
    """One ``.slang`` file, ready for glslang: one source text per stage."""

    path: Path
    vertex: str
    fragment: str
    files: tuple[Path, ...]  # index k of `#line N k` -> the file it names
    parameters: tuple[Parameter, ...]
    name: str | None  # `#pragma name`: an alias for this pass's output
    format: str | None  # `#pragma format`: the framebuffer format it asks for

    def stage(self, stage: str) -> str:
        return self.vertex if stage == "vertex" else self.fragment


@frozen
class _Line:
    file: int
    number: int
    text: str


def preprocess(path: Path) -> ShaderSource:
    """Read ``path`` and what it includes; raises :class:`SlangError` naming ``file:line``."""
    files: list[Path] = [path]
    lines = _expand(path, 0, files, (), None)
    if not lines or not _VERSION.match(lines[0].text.strip()) or lines[0].file != 0:
        raise SlangError.at(path, 1, "the first line must be #version")
    return _Splitter(path, files).split(lines)


def _expand(path: Path, index: int, files: list[Path], chain: tuple[Path, ...], origin: str | None) -> list[_Line]:
    """The lines of ``path`` with every include replaced by the included lines."""
    where = origin or str(path)
    try:
        real = path.resolve()
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, ValueError, RuntimeError) as exc:  # missing, a NUL in the name, not UTF-8
        raise SlangError(f"{where}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if real in chain:
        raise SlangError(f"{where}: include cycle: {' -> '.join(p.name for p in (*chain[chain.index(real):], real))}")
    out: list[_Line] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        include = _INCLUDE.fullmatch(stripped)
        optional = _OPTIONAL.fullmatch(stripped)
        if not (include or optional):
            out.append(_Line(index, number, raw))
            continue
        match = include or optional
        assert match is not None
        name = _QUOTED.fullmatch(match.group(1))
        if not name:
            raise SlangError.at(path, number, 'expected #include "relative/path"')
        target = beside(path, name.group(1))
        if optional and not target.is_file():
            continue  # include_optional: a missing file is no error
        if target not in files:
            files.append(target)
        out.extend(_expand(target, files.index(target), files, (*chain, real), f"{path}:{number}"))
    return out


class _Splitter:
    """Sends lines to the stages and reads the pragmas (after include expansion, like RetroArch)."""

    def __init__(self, path: Path, files: list[Path]) -> None:
        self.path = path
        self.files = files
        self.parameters: dict[str, tuple[Parameter, str]] = {}
        self.meta: dict[str, tuple[str, str]] = {}  # name/format -> (value, where)
        self.seen_stages: set[str] = set()

    def split(self, lines: list[_Line]) -> ShaderSource:
        version = lines[0].text.strip()
        out: dict[str, list[str]] = {stage: [version, LINE_EXTENSION] for stage in STAGES}
        expected = (-1, -1)
        stage: str | None = None
        for line in lines[1:]:
            where = f"{self.files[line.file]}:{line.number}"
            if (line.file, line.number) != expected:
                for text in out.values():
                    text.append(f'#line {line.number} "{line.file}"')
            expected = (line.file, line.number + 1)
            stage = self.directive(line.text.strip(), where, stage)
            keep = "" if _is_directive(line.text) else line.text
            for name, text in out.items():
                text.append(keep if stage in (None, name) else "")
        for name in STAGES:
            if name not in self.seen_stages:
                raise SlangError(f"{self.path}: no #pragma stage {name}")
        return ShaderSource(
            path=self.path, vertex="\n".join(out["vertex"]) + "\n", fragment="\n".join(out["fragment"]) + "\n",
            files=tuple(self.files), parameters=tuple(p for p, _ in self.parameters.values()),
            name=self.meta.get("name", (None, ""))[0], format=self.meta.get("format", (None, ""))[0])

    def directive(self, text: str, where: str, stage: str | None) -> str | None:
        """Handle a pragma we own; returns the stage the following lines belong to."""
        if _VERSION.match(text):
            raise SlangError(f"{where}: #version may only be the first line")
        pragma = _PRAGMA.fullmatch(text)
        if not pragma:
            return stage
        kind, rest = pragma.group(1), pragma.group(2).strip()
        if kind == "stage":
            if rest not in STAGES:
                raise SlangError(f"{where}: unsupported stage {rest!r} (vertex and fragment only)")
            self.seen_stages.add(rest)
            return rest
        if kind == "parameter":
            self.parameter(rest, where)
        elif kind == "name":
            if not IDENTIFIER.fullmatch(rest):
                raise SlangError(f"{where}: #pragma name needs an identifier (got {rest!r})")
            self.set_meta("name", rest, where)
        else:
            if rest not in FORMATS:
                raise SlangError(f"{where}: unknown #pragma format {rest!r}")
            self.set_meta("format", rest, where)
        return stage

    def parameter(self, text: str, where: str) -> None:
        match = _PARAMETER.fullmatch(text)
        if not match:
            raise SlangError(f'{where}: expected #pragma parameter ID "description" initial minimum maximum [step]')
        ident, description, *numbers = match.groups()
        initial, minimum, maximum = (float(n) for n in numbers[:3])
        step = float(numbers[3]) if numbers[3] is not None else DEFAULT_STEP
        parameter = Parameter(ident, description, initial, minimum, maximum, step)
        known = self.parameters.get(ident)
        if known and known[0] != parameter:
            raise SlangError(f"{where}: parameter {ident!r} declared differently at {known[1]}")
        self.parameters.setdefault(ident, (parameter, where))

    def set_meta(self, key: str, value: str, where: str) -> None:
        known = self.meta.get(key)
        if known and known[0] != value:
            raise SlangError(f"{where}: #pragma {key} {value} contradicts #pragma {key} {known[0]} at {known[1]}")
        self.meta.setdefault(key, (value, where))


def _is_directive(text: str) -> bool:
    return bool(_PRAGMA.fullmatch(text.strip()))
