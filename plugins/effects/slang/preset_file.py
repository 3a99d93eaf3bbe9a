"""The text layer of a ``.slangp`` preset: ``key = value`` lines, comments and ``#reference``.

What the keys mean is :mod:`.preset`'s job; this module only turns files into entries
that remember where they were written, so every later error can name ``file:line``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from attrs import frozen

from geometry_os.plugins.effects.slang.errors import SlangError

#: RetroArch's limit on how deep ``#reference`` may nest.
MAX_REFERENCE_DEPTH = 16

_KEY = re.compile(r"[A-Za-z0-9_]+")
_REFERENCE = re.compile(r"#\s*reference\b(.*)")
_INCLUDE = re.compile(r"#\s*include\b")


@frozen
class Entry:
    """One ``key = value`` line; a relative path in ``value`` is relative to ``file``."""

    key: str
    value: str
    file: Path
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def error(self, what: str) -> SlangError:
        return SlangError(f"{self.where}: {what}")


def beside(file: Path, name: str) -> Path:
    """``name`` relative to the folder of ``file``, with ``..`` folded away (symlinks kept)."""
    return Path(os.path.normpath(file.parent / name))


def read_entries(path: Path, files: list[Path] | None = None) -> dict[str, Entry]:
    """All entries of the preset at ``path``, references followed, local keys winning.

    ``files`` gets every preset file read (``path`` and what it references), for hot reload.
    """
    return _read(path, (), None, files if files is not None else [])


def _read(path: Path, chain: tuple[Path, ...], origin: str | None, files: list[Path]) -> dict[str, Entry]:
    where = origin or str(path)
    if len(chain) > MAX_REFERENCE_DEPTH:
        raise SlangError(f"{where}: #reference nesting is deeper than {MAX_REFERENCE_DEPTH}")
    try:
        real = path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a NUL in the name, a symlink loop
        raise SlangError(f"{where}: cannot read {path}: {exc}") from None
    if real in chain:
        cycle = " -> ".join(p.name for p in (*chain[chain.index(real):], real))
        raise SlangError(f"{where}: #reference cycle: {cycle}")
    files.append(path)
    text = _read_text(path, where)
    referenced: dict[str, Entry] = {}
    local: dict[str, Entry] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        reference = _REFERENCE.match(line)
        if reference:
            target = _value(reference.group(1), path, number, "#reference")
            if not target:
                raise SlangError.at(path, number, "#reference needs a file name")
            referenced.update(_read(beside(path, target), (*chain, real), f"{path}:{number}", files))
        elif _INCLUDE.match(line):
            raise SlangError.at(path, number, "#include is not supported in presets (use #reference)")
        elif line.startswith("#"):
            continue
        else:
            entry = _entry(line, path, number)
            local[entry.key] = entry  # a key set twice in one file: the later line wins
    return {**referenced, **local}


def _read_text(path: Path, where: str) -> str:
    try:
        data = path.read_bytes()
    except (OSError, ValueError) as exc:
        raise SlangError(f"{where}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SlangError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _entry(line: str, path: Path, number: int) -> Entry:
    key_match = _KEY.match(line)
    if not key_match:
        raise SlangError.at(path, number, f"expected 'key = value', got {line[:40]!r}")
    key = key_match.group(0)
    rest = line[key_match.end():].lstrip()
    if not rest.startswith("="):
        raise SlangError.at(path, number, f"expected '=' after {key!r}")
    return Entry(key, _value(rest[1:], path, number, key), path, number)


def _value(text: str, path: Path, number: int, key: str) -> str:
    """A value: a quoted string (no escapes, as in RetroArch) or one bare word, then
    nothing but an optional comment."""
    text = text.strip()
    if text.startswith('"'):
        end = text.find('"', 1)
        if end < 0:
            raise SlangError.at(path, number, f"{key}: unterminated quoted value")
        value, rest = text[1:end], text[end + 1:]
    else:
        words = text.split(None, 1)
        value, rest = [*words, "", ""][:2]
    rest = rest.strip()
    if rest and not rest.startswith(("#", "//")):
        raise SlangError.at(path, number, f"{key}: unexpected text after the value: {rest[:40]!r}")
    return value
