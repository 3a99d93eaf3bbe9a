"""Slang shaders and presets written for these tests (none is copied from a shader collection)."""

from __future__ import annotations

from pathlib import Path

VERTEX = """\
#pragma stage vertex
layout(location = 0) in vec4 Position;
layout(location = 1) in vec2 TexCoord;
layout(location = 0) out vec2 vTexCoord;
void main()
{
   gl_Position = global.MVP * Position;
   vTexCoord = TexCoord;
}
"""


def shader(ubo: str = "", push: str = "", samplers: tuple[str, ...] = ("Source",),
           body: str = "FragColor = texture(Source, vTexCoord);", head: str = "") -> str:
    """A pass: ``ubo``/``push`` are member declarations (the UBO always starts with MVP),
    ``samplers`` get bindings 1, 2, ... in order, ``body`` is the fragment's main()."""
    push_block = f"layout(push_constant) uniform Push\n{{\n{push}}} params;\n" if push else ""
    sampler_lines = "".join(f"layout(set = 0, binding = {i}) uniform sampler2D {name};\n"
                            for i, name in enumerate(samplers, start=1))
    return (f"#version 450\n{head}"
            f"layout(std140, set = 0, binding = 0) uniform UBO\n{{\n   mat4 MVP;\n{ubo}}} global;\n"
            f"{push_block}{VERTEX}"
            "#pragma stage fragment\n"
            "layout(location = 0) in vec2 vTexCoord;\n"
            "layout(location = 0) out vec4 FragColor;\n"
            f"{sampler_lines}"
            f"void main()\n{{\n   {body}\n}}\n")


def write(folder: Path, files: dict[str, str]) -> Path:
    """Write ``name -> text`` under ``folder``; returns the first file's path."""
    paths = []
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths[0]


def everything(folder: Path) -> Path:
    """A three-pass preset whose shaders read every semantic, alias, history, feedback and LUT.

    Pass 0 (alias First) reads the inputs, history, the last pass's feedback and both
    LUTs; pass 1 (``#pragma name Second``) reads pass 0 by index and by alias, and its
    own feedback by alias; pass 2 reads pass 1 by alias and every builtin scalar.
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGBA", (2, 2), (10, 20, 30, 255)).save(folder / "lut.png")
    Image.new("RGBA", (4, 1), (200, 100, 50, 255)).save(folder / "grain.png")
    pass0 = shader(
        ubo="   vec4 OriginalSize;\n   vec4 SourceSize;\n   vec4 OutputSize;\n   vec4 FinalViewportSize;\n"
            "   vec4 OriginalHistorySize2;\n   vec4 PassFeedbackSize2;\n   vec4 UserSize0;\n   vec4 LutSize;\n"
            "   vec4 NeverRead;\n",
        push="   uint FrameCount;\n   int FrameDirection;\n   float GAIN;\n",
        samplers=("Original", "Source", "OriginalHistory2", "PassFeedback2", "User0", "Lut", "NotReadEither"),
        body="FragColor = (texture(Original, vTexCoord) + texture(Source, vTexCoord) "
             "+ texture(OriginalHistory2, vTexCoord) + texture(PassFeedback2, vTexCoord) "
             "+ texture(User0, vTexCoord) + texture(Lut, vTexCoord)) * params.GAIN * float(params.FrameCount) "
             "* float(params.FrameDirection) + global.OriginalSize + global.SourceSize + global.OutputSize "
             "+ global.FinalViewportSize + global.OriginalHistorySize2 + global.PassFeedbackSize2 "
             "+ global.UserSize0 + global.LutSize;",
        head='#pragma parameter GAIN "Gain" 1.0 0.0 2.0 0.05\n')
    pass1 = shader(
        ubo="   vec4 PassOutputSize0;\n   vec4 FirstSize;\n   vec4 FirstFeedbackSize;\n   vec4 PassFeedbackSize1;\n",
        push="   uint FrameDirection;\n   float GAIN;\n   float MIX;\n",
        samplers=("PassOutput0", "First", "FirstFeedback", "PassFeedback1", "SecondFeedback"),
        body="FragColor = mix(texture(PassOutput0, vTexCoord) + texture(First, vTexCoord), "
             "texture(FirstFeedback, vTexCoord) + texture(PassFeedback1, vTexCoord) "
             "+ texture(SecondFeedback, vTexCoord), params.MIX) * params.GAIN * float(params.FrameDirection) "
             "+ global.PassOutputSize0 + global.FirstSize + global.FirstFeedbackSize + global.PassFeedbackSize1;",
        head='#pragma name Second\n#pragma parameter GAIN "Gain" 1.0 0.0 2.0 0.05\n'
             '#pragma parameter MIX "Mix" 0.5 0.0 1.0\n')
    pass2 = shader(
        ubo="   vec4 SecondSize;\n   vec4 PassOutputSize1;\n   float OriginalAspect;\n   float OriginalAspectRotated;\n"
            "   float OriginalFPS;\n   uint FrameTimeDelta;\n   uint Rotation;\n   uint CurrentSubFrame;\n"
            "   uint TotalSubFrames;\n",
        samplers=("Second", "PassOutput1"),
        body="FragColor = texture(Second, vTexCoord) + texture(PassOutput1, vTexCoord) + global.SecondSize "
             "+ global.PassOutputSize1 + vec4(global.OriginalAspect, global.OriginalAspectRotated, "
             "global.OriginalFPS, float(global.FrameTimeDelta + global.Rotation + global.CurrentSubFrame "
             "+ global.TotalSubFrames));")
    return write(folder, {
        "everything.slangp": "shaders = 3\n"
                             "shader0 = shaders/first.slang\nalias0 = First\nfilter_linear0 = true\n"
                             "shader1 = shaders/second.slang\nfloat_framebuffer1 = true\n"
                             "scale_type1 = absolute\nscale_x1 = 320\nscale_y1 = 240\n"
                             "shader2 = shaders/third.slang\nsrgb_framebuffer2 = true\n"
                             'textures = "Lut;Grain"\nLut = lut.png\nGrain = grain.png\nGrain_linear = false\n'
                             "MIX = 0.25\n",
        "shaders/first.slang": pass0,
        "shaders/second.slang": pass1,
        "shaders/third.slang": pass2,
    })
