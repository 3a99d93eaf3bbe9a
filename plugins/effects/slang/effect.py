"""The ``slang`` effect: a RetroArch preset on every tile, its parameters as effect parameters.

A scene says ``{type: slang, preset: crt/crt-geom.slangp, CRTgamma: 2.2}``.  When the
scene is read, :meth:`SlangParams.geos_variant` reads the preset and its shaders'
``#pragma parameter`` lines (no compiling) and gives the entry a params class with one
float field per parameter, ranged as the shader declares it and defaulting to the
preset's value: the scene is validated against it (``geos check``), docs and run-time
changes (``set_effect_param("slang", "CRTgamma", 2.4)``) use it like any effect's.

On the GL side :func:`slang_passes` compiles the preset (glslang + SPIRV-Cross, cached on
disk) into :class:`api.ProgramPass` objects; it returns the same :class:`api.PassList`
while neither the preset nor any file it reads changed, so parameter changes never
recompile.  Errors are one line naming the file and line (:class:`~.errors.SlangError`).
"""

from __future__ import annotations

import ctypes
import keyword
import logging
import os
import re
from pathlib import Path
from typing import Any, ClassVar

import attrs

from geometry_os import api
from geometry_os.plugins.effects.slang.compile import CompiledPreset, compile_preset, preset_parameters
from geometry_os.plugins.effects.slang.errors import SlangError
from geometry_os.plugins.effects.slang.preprocess import Parameter
from geometry_os.plugins.effects.slang.preset import load_preset
from geometry_os.plugins.effects.slang.program import program_pass
from geometry_os.render.shaders import file_stamp

log = logging.getLogger(__name__)


@attrs.define(frozen=True)
class SlangParams:
    """The fields every ``slang`` entry has; a preset's parameters are added per entry."""

    preset: str = api.setting(doc="The RetroArch preset (`.slangp`) to run, relative to the scene file. Its "
                                  "`#pragma parameter`s become parameters of this effect (defaults from the preset).")
    preset_path: ClassVar[Path | None] = None  # set on a variant: the preset it was made for, resolved

    @classmethod
    def geos_variant(cls, params: SlangParams, directory: Path) -> type:
        """The params class for one scene entry: these fields plus the preset's parameters."""
        path = resolve(params.preset, directory)
        try:
            preset = load_preset(path)
            parameters, values = preset_parameters(preset)
        except SlangError as exc:
            raise ValueError(str(exc)) from None
        return _variant(path, parameters, tuple(values.items()))


_VARIANTS: dict[tuple[Path, tuple[Parameter, ...], tuple[tuple[str, float], ...]], type] = {}


def _variant(path: Path, parameters: tuple[Parameter, ...], values: tuple[tuple[str, float], ...]) -> type:
    """A subclass of :class:`SlangParams` with a float field per parameter (one class per preset)."""
    key = (path, parameters, values)
    if key not in _VARIANTS:
        defaults = dict(values)
        fields = {}
        for parameter in parameters:
            if keyword.iskeyword(parameter.id) or parameter.id in attrs.fields_dict(SlangParams):
                raise ValueError(f"{path}: parameter {parameter.id!r} cannot be a scene field (a reserved name)")
            documented = api.setting(defaults[parameter.id], doc=parameter.description or parameter.id,
                                     min=parameter.minimum, max=parameter.maximum)
            # the name as the shader spells it (attrs would drop a leading underscore from the keyword)
            fields[parameter.id] = attrs.field(default=defaults[parameter.id], type=float, alias=parameter.id,
                                               metadata=documented.metadata)
        name = "Slang_" + re.sub(r"\W", "_", path.stem)
        variant: type[SlangParams] = attrs.make_class(name, fields, bases=(SlangParams,), frozen=True)
        variant.preset_path = path
        _VARIANTS[key] = variant
    return _VARIANTS[key]


def resolve(preset: str, directory: Path) -> Path:
    """The preset a scene names: ``~`` expanded, a relative path under the scene's folder."""
    path = Path(os.path.expanduser(preset))
    return path if path.is_absolute() else directory / path


def slang_passes(params: SlangParams) -> api.PassList:
    """The passes of the entry's preset (compiled once; again when one of its files changes)."""
    path = type(params).preset_path or resolve(params.preset, Path.cwd())
    return _LOADED.passes(path)


class _Loaded:
    """Compiled presets by path, with the stamps of every file they read."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[dict[Path, float], api.PassList]] = {}
        self._glsl: int | None = None

    def passes(self, path: Path) -> api.PassList:
        cached = self._cache.get(path)
        if cached is not None and all(file_stamp(file) == stamp for file, stamp in cached[0].items()):
            return cached[1]
        try:
            compiled = compile_preset(load_preset(path), self.glsl_version())
            passes = _pass_list(compiled)
        except SlangError as exc:
            known = cached[0] if cached is not None else {path: file_stamp(path)}
            raise api.EffectError(str(exc), files=[*known, *_files_named(str(exc))]) from None
        self._cache[path] = ({file: file_stamp(file) for file in passes.files}, passes)
        log.info("slang: %s: %d passes, GLSL %d", path, len(passes.passes), compiled.glsl_version)
        return passes

    def glsl_version(self) -> int:
        """450 where the driver has it (some shaders need it), else 330."""
        if self._glsl is None:
            from pyglet import gl

            raw = ctypes.cast(gl.glGetString(gl.GL_SHADING_LANGUAGE_VERSION), ctypes.c_char_p).value or b"0.0"
            match = re.match(rb"(\d+)\.(\d+)", raw)
            version = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
            self._glsl = 450 if version >= (4, 50) else 330
        return self._glsl


_LOADED = _Loaded()


def _pass_list(compiled: CompiledPreset) -> api.PassList:
    values = _Values(compiled)
    passes = tuple(program_pass(one, compiled, values) for one in compiled.passes)
    luts = tuple(api.Lut(lut.name, lut.path, "linear" if lut.linear else "nearest", lut.wrap_mode.value, lut.mipmap)
                 for lut in compiled.preset.luts)
    files = [*compiled.preset.files, *(file for one in compiled.passes for file in one.files),
             *(lut.path for lut in compiled.preset.luts)]
    return api.PassList(passes, luts, tuple(dict.fromkeys(files)))


class _Values:
    """``params -> {parameter: value}``: the scene's value where it set one, else the preset's.

    A scene value equal to its class's default counts as unset, so an edit of the
    preset's own value shows on hot reload.  The last answer is kept: every pass of every
    tile asks each frame, and params objects are replaced, never changed.
    """

    def __init__(self, compiled: CompiledPreset) -> None:
        self.preset = compiled.values
        self.last: tuple[Any, dict[str, float]] = (None, {})

    def __call__(self, params: Any) -> dict[str, float]:
        if params is not self.last[0]:
            out = dict(self.preset)
            for field in attrs.fields(type(params)):
                if field.name in out and getattr(params, field.name) != field.default:
                    out[field.name] = float(getattr(params, field.name))
            self.last = (params, out)
        return self.last[1]


def _files_named(message: str) -> list[Path]:
    candidate = Path(message.split(":", 1)[0])
    return [candidate] if candidate.suffix in (".slang", ".slangp", ".inc", ".h", ".png") else []
