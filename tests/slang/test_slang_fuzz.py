"""Fuzzing the preset parser, the preprocessor and the SPIR-V reader: a result or a one-line
SlangError (SpirvFormatError for the reader), never any other exception."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geometry_os.plugins.effects.slang import SlangError, load_preset, preprocess
from geometry_os.plugins.effects.slang.spirv import MAGIC, SpirvFormatError, read_usage

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

KEYS = ["shaders", "shader0", "shader1", "filter_linear0", "wrap_mode1", "mipmap_input0", "float_framebuffer0",
        "srgb_framebuffer1", "frame_count_mod0", "alias0", "alias1", "scale_type0", "scale_type_x1", "scale_type_y0",
        "scale0", "scale_x1", "scale_y0", "textures", "Mask", "Mask_linear", "Mask_wrap_mode", "Mask_mipmap",
        "parameters", "K", "feedback_pass", "shader9"]
VALUES = ["1", "2", "0", "-1", "1.5", "1e3", "true", "false", "yes", "a.slang", "b.slang", "missing.slang",
          "x.cg", "repeat", "clamp_to_edge", "source", "viewport", "absolute", "Mask", "Mask;Other", "", "nan",
          "A", "self.slangp", "../x", "\x00", "\u00e9"]
DIRECTIVES = ['#reference "self.slangp"', '#reference "other.slangp"', '#reference "none.slangp"', "#reference",
              '#include "a"', "# comment", "// comment", ""]
SHADER_LINES = ["#version 450", "#pragma stage vertex", "#pragma stage fragment", "#pragma stage compute",
                '#pragma parameter P "p" 1 0 2', '#pragma parameter P "q" 1 0 2 0.1', "#pragma parameter P",
                "#pragma name N", "#pragma name M", "#pragma name 3", "#pragma format R8_UNORM", "#pragma format X",
                '#include "inc.slang"', '#include "self.slang"', '#include "none"', "#include <x>",
                '#pragma include_optional "none"', '#pragma include_optional "inc.slang"', "void main() {}",
                "#line 7", "#version 330", ""]


def quoted(value: str) -> st.SearchStrategy[str]:
    return st.sampled_from([value, f'"{value}"', f'"{value}', f"{value} # c", f"{value} trailing"])


preset_line = st.one_of(
    st.tuples(st.sampled_from(KEYS), st.sampled_from(VALUES).flatmap(quoted), st.sampled_from([" = ", "=", " ", "= "]))
    .map(lambda kv: f"{kv[0]}{kv[2]}{kv[1]}"),
    st.sampled_from(DIRECTIVES),
    st.text(max_size=30),
)
shader_line = st.one_of(st.sampled_from(SHADER_LINES), st.text(max_size=30))


@contextmanager
def folder() -> Iterator[Path]:
    """A fresh folder with a shader, a LUT stand-in and a second preset to point at."""
    with tempfile.TemporaryDirectory(prefix="slang-fuzz-") as name:
        path = Path(name)
        (path / "a.slang").write_text("#version 450\n")
        (path / "b.slang").write_text("#version 450\n")
        (path / "Mask").write_text("")
        (path / "other.slangp").write_text("shaders = 1\nshader0 = a.slang\n")
        yield path


@FUZZ
@given(lines=st.lists(preset_line, max_size=25), newline=st.sampled_from(["\n", "\r\n"]))
def test_preset_parser_gives_a_preset_or_a_one_line_error(lines, newline):
    with folder() as base:
        path = base / "self.slangp"
        path.write_text(newline.join(lines), encoding="utf-8", errors="surrogatepass")
        try:
            load_preset(path)
        except SlangError as exc:
            assert "\n" not in str(exc) and str(exc)


@FUZZ
@given(data=st.binary(max_size=200))
def test_preset_parser_takes_any_bytes(data):
    with folder() as base:
        path = base / "self.slangp"
        path.write_bytes(data)
        try:
            load_preset(path)
        except SlangError as exc:
            assert "\n" not in str(exc)


@FUZZ
@given(lines=st.lists(shader_line, max_size=25), include=st.lists(shader_line, max_size=8))
def test_preprocessor_gives_sources_or_a_one_line_error(lines, include):
    with folder() as base:
        (base / "inc.slang").write_text("\n".join(include), encoding="utf-8", errors="surrogatepass")
        path = base / "self.slang"
        path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
        try:
            source = preprocess(path)
        except SlangError as exc:
            assert "\n" not in str(exc) and str(exc)
        else:
            assert source.vertex.startswith("#version") and source.fragment.startswith("#version")


@FUZZ
@given(words=st.lists(st.integers(min_value=0, max_value=2**32 - 1), max_size=60), magic=st.booleans())
def test_spirv_reader_reads_or_refuses_any_words(words, magic):
    header = [MAGIC, 0x10000, 0, 100, 0] if magic else []
    data = b"".join(w.to_bytes(4, "little") for w in header + words)
    try:
        read_usage(data)
    except SpirvFormatError:
        pass
