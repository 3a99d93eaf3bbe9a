"""One shader stage through glslang and SPIRV-Cross, with the result cached on disk.

``glslangValidator -V`` makes SPIR-V (Vulkan rules, as the format is written for);
``spirv-cross --reflect`` describes its resources; ``spirv-cross --version N`` writes
desktop GLSL.  The cache key covers the stage text, the options and the identity of
both tools (path, size, modification time: asking them for a version would cost a
subprocess), so a cached load starts no process at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from attrs import frozen

from geometry_os.plugins.effects.slang.errors import SlangError
from geometry_os.plugins.effects.slang.preprocess import LINE_EXTENSION
from geometry_os.plugins.effects.slang.spirv import SpirvFormatError, read_usage

GLSLANG = "glslangValidator"
SPIRV_CROSS = "spirv-cross"
#: Bump when what is stored in a cache entry, or how it is made, changes.
CACHE_FORMAT = 1
TOOL_TIMEOUT_S = 60

_GLSLANG_ERROR = re.compile(r"ERROR: (\d+):(\d+): (.*)")
_LINE_DIRECTIVE = re.compile(r'^(\s*#line \d+) "(\d+)"', re.MULTILINE)
_GL_ERROR = re.compile(r"(\d+):(\d+)\(\d+\): (.*)")


@frozen
class StageOutput:
    """A compiled stage: GLSL for GL, spirv-cross's reflection, and what the code reads."""

    glsl: str
    reflection: dict[str, Any]
    members_read: dict[str, list[str] | None]  # block type name -> member names read (None: all)
    samplers_read: list[str]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "geometry-os" / "slang"


def compile_stage(text: str, stage: str, files: tuple[Path, ...], glsl_version: int) -> StageOutput:
    """GLSL ``glsl_version`` for one preprocessed stage (``vertex`` or ``fragment``)."""
    key = _cache_key(text, stage, glsl_version)
    cached = _load(key)
    if cached is not None:
        return cached
    output = _run_tools(text, stage, files, glsl_version)
    _store(key, output)
    return output


def map_line(files: tuple[Path, ...], index: str, line: str) -> str:
    """``file:line`` for a ``k:N`` position in a generated source."""
    number = int(index)
    return f"{files[number] if number < len(files) else f'<source {number}>'}:{line}"


def map_gl_log(log: str, files: tuple[Path, ...]) -> list[str]:
    """Mesa's ``k:N(col): error: ...`` lines as ``file.slang:N: error: ...``."""
    out = []
    for raw in log.splitlines():
        match = _GL_ERROR.search(raw)
        if match:
            out.append(f"{map_line(files, match.group(1), match.group(2))}: {match.group(3).strip()}")
    return out


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SlangError(f"{name} not found (apt install {package})")
    return path


def _tool_identity() -> list[str]:
    identity = []
    for name, package in ((GLSLANG, "glslang-tools"), (SPIRV_CROSS, "spirv-cross")):
        path = os.path.realpath(_tool(name, package))
        stat = os.stat(path)
        identity.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    return identity


def _cache_key(text: str, stage: str, glsl_version: int) -> str:
    blob = json.dumps([CACHE_FORMAT, _tool_identity(), stage, glsl_version, text])
    return hashlib.sha256(blob.encode()).hexdigest()


def _load(key: str) -> StageOutput | None:
    try:
        data = json.loads((cache_dir() / f"{key}.json").read_text(encoding="utf-8"))
        return StageOutput(data["glsl"], data["reflection"], data["members_read"], data["samplers_read"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unreadable: compile again


def _store(key: str, output: StageOutput) -> None:
    folder = cache_dir()
    data = {"glsl": output.glsl, "reflection": output.reflection, "members_read": output.members_read,
            "samplers_read": output.samplers_read}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False, encoding="utf-8") as tmp:
            json.dump(data, tmp)
        os.replace(tmp.name, folder / f"{key}.json")  # atomic: a reader never sees half a file
    except OSError:
        pass  # a read-only cache only costs time


def _run(args: list[str], stdin: bytes | None, what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(args, input=stdin, capture_output=True, timeout=TOOL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise SlangError(f"{what}: {Path(args[0]).name} took longer than {TOOL_TIMEOUT_S} s") from None
    except OSError as exc:  # removed or not executable since we looked it up
        raise SlangError(f"{what}: cannot run {args[0]}: {exc.strerror or exc}") from None


def _run_tools(text: str, stage: str, files: tuple[Path, ...], glsl_version: int) -> StageOutput:
    main = files[0]
    with tempfile.TemporaryDirectory(prefix="geos-slang-") as tmp:
        spv = Path(tmp) / f"{stage}.spv"
        glslang = _run([_tool(GLSLANG, "glslang-tools"), "-V", "-g", "--stdin", "-S", stage[:4], "-o", str(spv)],
                       text.encode(), str(main))
        if glslang.returncode != 0:
            raise SlangError(_glslang_error(glslang.stdout.decode(errors="replace") +
                                            glslang.stderr.decode(errors="replace"), files, stage))
        try:
            usage = read_usage(spv.read_bytes())
        except (OSError, SpirvFormatError) as exc:
            raise SlangError(f"{main}: {stage} stage: glslang wrote no usable SPIR-V ({exc})") from None
        cross = _tool(SPIRV_CROSS, "spirv-cross")
        reflected = _run([cross, str(spv), "--reflect"], None, str(main))
        renames = usage.output_locations if stage == "vertex" else usage.input_locations
        rename_args = [arg for loc in renames
                       for arg in ("--rename-interface-variable", "out" if stage == "vertex" else "in", str(loc),
                                   f"slang_varying_{loc}")]
        glsl = _run([cross, str(spv), "--version", str(glsl_version), "--no-es", "--no-420pack-extension",
                     "--glsl-emit-push-constant-as-ubo", "--emit-line-directives", *rename_args], None, str(main))
    for result in (reflected, glsl):
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).decode(errors="replace").strip()
            raise SlangError(f"{main}: {stage} stage for GLSL {glsl_version}: {detail}")
    try:
        reflection = json.loads(reflected.stdout)
    except ValueError:
        raise SlangError(f"{main}: {stage} stage: spirv-cross wrote no JSON reflection") from None
    types = reflection.get("types", {})
    members_read: dict[str, list[str] | None] = {}
    for type_id, read in usage.members.items():
        block = types.get(f"_{type_id}")
        if block is not None:
            names = [m["name"] for m in block["members"]]
            members_read[block["name"]] = None if read is None else sorted(names[i] for i in read if i < len(names))
    return StageOutput(_gl_line_directives(glsl.stdout.decode()), reflection, members_read,
                       sorted(usage.samplers))


def _gl_line_directives(glsl: str) -> str:
    """``#line N "k"`` -> ``#line N k``: Mesa takes only numbers, and reports ``k:N``."""
    return _LINE_DIRECTIVE.sub(r"\1 \2", glsl.replace(LINE_EXTENSION + "\n", ""))


def _glslang_error(log: str, files: tuple[Path, ...], stage: str) -> str:
    errors = [match for match in map(_GLSLANG_ERROR.match, log.splitlines()) if match]
    errors = [m for m in errors if "compilation terminated" not in m.group(3)] or errors
    if not errors:
        detail = " ".join(line.strip() for line in log.splitlines() if line.strip() and line.strip() != "stdin")
        return f"{files[0]}: {stage} stage: {detail or 'glslang failed'}"
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{map_line(files, first.group(1), first.group(2))}: {first.group(3).strip()}{more}"
