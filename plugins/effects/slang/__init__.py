"""RetroArch ``.slangp`` presets and their ``.slang`` shaders, compiled to GL-ready GLSL.

``load(path)`` parses a preset, preprocesses each pass's shader, runs it through
glslang and SPIRV-Cross (cached on disk) and returns a :class:`CompiledPreset`: per
pass, the GLSL of both stages and the meaning of every uniform and sampler.  Running
the passes is the renderer's job; docs/slang.md says what it must do.
"""

from geometry_os.plugins.effects.slang.compile import (
    PUSH_BINDING,
    UBO_BINDING,
    BlockKind,
    CompiledPass,
    CompiledPreset,
    SamplerBinding,
    UniformBlock,
    UniformMember,
    compile_preset,
    load,
)
from geometry_os.plugins.effects.slang.errors import SlangError
from geometry_os.plugins.effects.slang.lut import load_lut
from geometry_os.plugins.effects.slang.preprocess import Parameter, ShaderSource, preprocess
from geometry_os.plugins.effects.slang.preset import LutSpec, PassSpec, Preset, Scale, ScaleType, WrapMode, load_preset
from geometry_os.plugins.effects.slang.semantics import Semantic, TextureKind, TextureRef

__all__ = [
    "PUSH_BINDING", "UBO_BINDING", "BlockKind", "CompiledPass", "CompiledPreset", "LutSpec", "Parameter", "PassSpec",
    "Preset", "SamplerBinding", "Scale", "ScaleType", "Semantic", "ShaderSource", "SlangError", "TextureKind",
    "TextureRef", "UniformBlock", "UniformMember", "WrapMode", "compile_preset", "load", "load_lut", "load_preset",
    "preprocess",
]
