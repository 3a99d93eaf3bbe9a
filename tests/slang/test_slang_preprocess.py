"""Preprocessing .slang files: stages, pragmas, includes, and #line directives that map back."""

from __future__ import annotations

import re

import pytest

from geometry_os.plugins.effects.slang import Parameter, SlangError, preprocess
from geometry_os.plugins.effects.slang.preprocess import DEFAULT_STEP
from tests.slang.shaders import write

SOURCE = """\
#version 450
#pragma parameter WIDTH "Line width" 1.5 0.5 4.0 0.25
#pragma parameter GLOW "Glow" 0.3 0.0 1.0
#pragma name Scanlines
#pragma format R16G16B16A16_SFLOAT
const float SHARED = 1.0;
#pragma stage vertex
float vertex_only;
#pragma stage fragment
float fragment_only;
"""


def line_map(text: str) -> dict[str, tuple[str, int]]:
    """Each non-empty output line -> (file index, line) as the #line directives say."""
    out: dict[str, tuple[str, int]] = {}
    index, number = "0", 0
    for line in text.splitlines()[2:]:
        directive = re.fullmatch(r'#line (\d+) "(\d+)"', line)
        if directive:
            number, index = int(directive.group(1)), directive.group(2)
            continue
        if line:
            out[line] = (index, number)
        number += 1
    return out


def test_stages_pragmas_and_lines(tmp_path):
    source = preprocess(write(tmp_path, {"s.slang": SOURCE}))
    assert source.parameters == (Parameter("WIDTH", "Line width", 1.5, 0.5, 4.0, 0.25),
                                 Parameter("GLOW", "Glow", 0.3, 0.0, 1.0, DEFAULT_STEP))
    assert (source.name, source.format) == ("Scanlines", "R16G16B16A16_SFLOAT")
    for text in (source.vertex, source.fragment):
        assert text.startswith("#version 450\n#extension GL_GOOGLE_cpp_style_line_directive : require\n")
        assert "#pragma" not in text
    assert line_map(source.vertex) == {"const float SHARED = 1.0;": ("0", 6), "float vertex_only;": ("0", 8)}
    assert line_map(source.fragment) == {"const float SHARED = 1.0;": ("0", 6), "float fragment_only;": ("0", 10)}


def test_includes_are_relative_to_the_including_file_and_lines_map_back(tmp_path):
    path = write(tmp_path, {
        "shaders/main.slang": '#version 450\n#include "../lib/a.inc"\nfloat after_a;\n'
                              '#pragma include_optional "not-there.inc"\n#pragma include_optional "../lib/b.inc"\n'
                              "#pragma stage vertex\n#pragma stage fragment\n",
        "lib/a.inc": '// a\n#include "sub/c.inc"\nfloat in_a;\n',
        "lib/sub/c.inc": "float in_c;\n",
        "lib/b.inc": "float in_b;\n#pragma parameter FROM_B \"b\" 0 0 1\n",
    })
    source = preprocess(path)
    assert [p.relative_to(tmp_path).as_posix() for p in source.files] == [
        "shaders/main.slang", "lib/a.inc", "lib/sub/c.inc", "lib/b.inc"]
    assert line_map(source.fragment) == {"// a": ("1", 1), "float in_c;": ("2", 1), "float in_a;": ("1", 3),
                                         "float after_a;": ("0", 3), "float in_b;": ("3", 1)}
    assert [p.id for p in source.parameters] == ["FROM_B"]


def test_the_same_file_included_twice_is_no_cycle(tmp_path):
    path = write(tmp_path, {"m.slang": '#version 450\n#include "x.inc"\n#include "x.inc"\n'
                                       "#pragma stage vertex\n#pragma stage fragment\n",
                            "x.inc": "float x;\n"})
    assert preprocess(path).vertex.count("float x;") == 2


@pytest.mark.parametrize(("files", "message"), [
    ({"m.slang": "float x;\n#version 450\n"}, r"m\.slang:1: the first line must be #version"),
    ({"m.slang": ""}, r"m\.slang:1: the first line must be #version"),
    ({"m.slang": "#version 450\n#version 450\n"}, r"m\.slang:2: #version may only be the first line"),
    ({"m.slang": "#version 450\n#pragma stage vertex\n"}, r"m\.slang: no #pragma stage fragment"),
    ({"m.slang": "#version 450\n#pragma stage geometry\n"}, r"m\.slang:2: unsupported stage 'geometry'"),
    ({"m.slang": '#version 450\n#pragma parameter X "x" 1 0\n'}, r"m\.slang:2: expected #pragma parameter ID"),
    ({"m.slang": '#version 450\n#pragma parameter X "x" 1 0 2\n#pragma parameter X "y" 1 0 2\n'},
     r"m\.slang:3: parameter 'X' declared differently at .*m\.slang:2"),
    ({"m.slang": "#version 450\n#pragma format RGBA8\n"}, r"m\.slang:2: unknown #pragma format 'RGBA8'"),
    ({"m.slang": "#version 450\n#pragma name 1st\n"}, r"m\.slang:2: #pragma name needs an identifier"),
    ({"m.slang": "#version 450\n#pragma name A\n#pragma name B\n"}, r"m\.slang:3: #pragma name B contradicts"),
    ({"m.slang": "#version 450\n#include <x.h>\n"}, r'm\.slang:2: expected #include "relative/path"'),
    ({"m.slang": '#version 450\n\n#include "gone.inc"\n'}, r"m\.slang:3: cannot read .*gone\.inc: No such file"),
    ({"m.slang": '#version 450\n#include "a.inc"\n', "a.inc": '\n#include "b.inc"\n', "b.inc": '#include "a.inc"\n'},
     r"b\.inc:1: include cycle: a\.inc -> b\.inc -> a\.inc"),
])
def test_bad_shaders_say_where_and_what(tmp_path, files, message):
    with pytest.raises(SlangError, match=message):
        preprocess(write(tmp_path, files))


def test_a_shader_that_is_not_utf8_is_an_error(tmp_path):
    path = tmp_path / "m.slang"
    path.write_bytes(b"#version 450\n\xc3\x28\n")
    with pytest.raises(SlangError, match=r"m\.slang: cannot read .*m\.slang: 'utf-8' codec can't decode"):
        preprocess(path)
