"""The shader loader's #include expansion and error mapping (no GL needed)."""

from __future__ import annotations

import pytest

from geometry_os.render.shaders import Generated, ShaderError, load_source, map_driver_log


def write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


def test_includes_expand_and_lines_map_back_to_their_files(tmp_path):
    write(tmp_path, "common.glsl", "// common\nfloat helper() { return 1.0; }\n")
    main = write(tmp_path, "main.frag", '#version 330 core\n#include "common.glsl"\nvoid main() {}\n')
    source = load_source(main)
    assert source.text.splitlines() == ["#version 330 core", "// common", "float helper() { return 1.0; }",
                                        "void main() {}"]
    assert source.origin(3) == f"{(tmp_path / 'common.glsl').resolve()}:2"
    assert source.origin(4) == f"{main.resolve()}:3"
    assert source.files == {main.resolve(), (tmp_path / "common.glsl").resolve()}


def test_driver_errors_are_mapped_to_file_and_line(tmp_path):
    write(tmp_path, "inc.glsl", "float a;\nfloat b = ;\n")
    main = write(tmp_path, "m.frag", '#version 330 core\n#include "inc.glsl"\n')
    source = load_source(main)
    lines = map_driver_log("0:3(11): error: syntax error, unexpected ';'\n", source)
    assert lines == [f"{(tmp_path / 'inc.glsl').resolve()}:2: error: syntax error, unexpected ';'"]


def test_missing_include_names_the_including_line(tmp_path):
    main = write(tmp_path, "m.frag", '#version 330 core\n\n#include "nope.glsl"\n')
    with pytest.raises(ShaderError) as info:
        load_source(main)
    assert info.value.lines[0].startswith(f"{main.resolve()}:3: cannot include 'nope.glsl': not found")


def test_include_cycle_is_an_error(tmp_path):
    write(tmp_path, "a.glsl", '#include "b.glsl"\n')
    write(tmp_path, "b.glsl", '// b\n#include "a.glsl"\n')
    main = write(tmp_path, "m.frag", '#version 330 core\n#include "a.glsl"\n')
    with pytest.raises(ShaderError) as info:
        load_source(main)
    cycle = "include cycle: m.frag -> a.glsl -> b.glsl -> a.glsl"
    assert info.value.lines == [f"{(tmp_path / 'b.glsl').resolve()}:2: {cycle}"]


def test_generated_includes(tmp_path):
    fx = write(tmp_path, "fx.glsl", "vec4 effect_fx(vec4 c, vec2 uv) { return c; }\n")
    main = write(tmp_path, "m.frag", '#version 330 core\n#include "@chain"\n')
    source = load_source(main, virtual={"chain": Generated(files=(fx,), text="// calls", header="uniform float u;")})
    assert source.text.splitlines()[1:] == ["uniform float u;", "vec4 effect_fx(vec4 c, vec2 uv) { return c; }",
                                            "// calls"]
    assert source.origin(3) == f"{fx.resolve()}:1"
    with pytest.raises(ShaderError, match="unknown generated include '@other'"):
        load_source(write(tmp_path, "n.frag", '#version 330 core\n#include "@other"\n'))
