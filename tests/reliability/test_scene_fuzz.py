"""Malformed scenes through ``geos check`` (in-process ``engine.cli.main``).

Hand-picked YAML traps, then hypothesis: mutations of a shipped scene (characters
inserted and deleted, values replaced by YAML fragments) and generated structures
with the scene's own keys and hostile values.  Property: exit code 0 or 2; on 2,
every line on stderr is ``<file>:<line>: ...`` (or ``<file>: cannot read scene:
...``) and there is never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geometry_os.cli import main
from tests.conftest import ROOT

SEED = (ROOT / "scenes" / "patterns.yaml").read_text()

FRAGMENTS = [
    ".nan", "-.inf", "1e400", "99999999999999999999", "-1", "0", "''", "[]", "{}", "~", "null",
    "!!binary AAAA", "!!python/object/apply:os.system ['true']", "&a [*a]", "*undefined",
    "|\n  block", "yes", "0x1F", "0o17", "1_000", "2001-12-14", '"\\u0000"', "[1, [2, [3]]]",
    "{a: 1}", "{[1]: 2}", "{? [1] : 2}", "[{}, {type: qemu}]", "!!set {a}", "!!omap [a: 1]",
    "{type: pattern, width: -5}", "{type: nope}", "{type: [1]}", "{<<: {x: 1}}", "\t", "'unterminated",
    "{x: &b {y: *b}}", "'\\x00'", "\U0001F600", "[" * 50 + "]" * 50,
]
YAML_CHARS = st.sampled_from([*":-{}[],&*!|>'\"%@`#?\t\n ", "\x00", "\ufeff", "0", "a"])
SCENE_KEYS = ["window", "camera", "tiles", "effects", "plugins", "title", "position", "size",
              "source", "type", "width", "height", "fps", "zoom", "x", "y", "fit", "hud", "id",
              "rate", "options", "load", "memory", "iso", "pattern", "amount", "speed"]


def check(text: str | bytes) -> tuple[int, list[str], Path]:
    """Run ``geos check`` on ``text`` written to a scene file: (exit code, stderr lines, path)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scene.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(["check", str(path)])
        return code, err.getvalue().splitlines(), path


def assert_clean(text: str | bytes) -> None:
    code, lines, path = check(text)
    assert code in (0, 2), lines
    assert not any("Traceback" in line for line in lines)
    if code == 0:
        assert lines == []
        return
    assert lines
    prefix = re.escape(str(path))
    pattern = re.compile(rf"{prefix}(:\d+: \S|: cannot read scene: )")
    for line in lines:
        assert pattern.match(line), line


@pytest.mark.parametrize("text", [
    "", "\x00", "tiles: &a [*a]\n", "tiles:\n  - &t {title: x, source: *t}\n", "{[1,2]: 3, tiles: []}\n",
    "window: {width: .nan, height: -.inf, fps: 1e400}\n", "a: b: c", "tiles: 1\n---\ntiles: 2\n",
    "plugins: {options: {x: {[1]: 2}}}\n", "plugins: {options: {[1]: 2}}\n",
    "plugins: {options: {geos: {a: {[1]: 2}}}}\n", "plugins: {load: [[1]]}\n",
    "plugins: {load: [/nonexistent/x.py]}\n", "tiles: [{source: {type: {a: 1}}}]\n",
    "effects: [{type: [1]}]\n", "tiles:\n  - title: x\n    source: {type: pattern}\n    id: [1]\n",
    "%YAML 9.9\n---\ntiles: []\n", "\ufefftiles: []\n", "tiles: [" * 200 + "]" * 200,
] + [f"tiles:\n  - title: x\n    position: [0, 0]\n    size: [1, 1]\n    source: {fragment}\n"
     for fragment in FRAGMENTS], ids=repr)
def test_yaml_traps(text):
    assert_clean(text)


def test_undecodable_bytes():
    code, lines, path = check(b"\xff\xfe tiles")
    assert (code, lines) == (2, [f"{path}:1: not UTF-8: byte 0xff at column 1 (save the scene as UTF-8)"])


@st.composite
def mutated_scene(draw):
    """The shipped test-card scene with a few characters inserted, deleted or values replaced."""
    text = SEED
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "value"]))
        if op == "insert":
            text = text[:pos] + "".join(draw(st.lists(YAML_CHARS, min_size=1, max_size=6))) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 12)):]
        else:
            colon = text.find(": ", pos)
            if colon >= 0:
                end = text.find("\n", colon)
                end = len(text) if end < 0 else end
                fragment = draw(st.sampled_from(FRAGMENTS) | st.text(max_size=10))
                text = text[:colon + 2] + fragment + text[end:]
    return text


scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(SCENE_KEYS) | st.text(max_size=6), inner,
                                        max_size=4), max_leaves=20)


@st.composite
def structured_scene(draw):
    """A scene built from the scene's own keys with arbitrary values, as YAML."""
    tile = st.fixed_dictionaries({}, optional=dict.fromkeys(["title", "position", "size", "source", "id"], values))
    scene = draw(st.fixed_dictionaries({}, optional={
        "window": values, "camera": values, "effects": values, "plugins": values,
        "tiles": st.lists(tile | values, max_size=3)}))
    return yaml.safe_dump(scene, allow_unicode=True)


@given(text=mutated_scene())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_scenes_give_file_line_errors(text):
    assert_clean(text)


@given(text=structured_scene())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_scene_values_give_file_line_errors(text):
    assert_clean(text)


# Paths the must_exist check is handed: NUL bytes, names too long for the file system,
# special files, home folders of users that do not exist.
media_paths = st.text(max_size=300) | st.sampled_from(
    ["", "~", "~nobody-here/x.iso", "/", ".", "..", "a" * 5000, "x\x00y", "/dev/null", "/proc/self/mem", "/root"])


@given(iso=media_paths, disk=st.lists(media_paths, max_size=3), kernel=media_paths)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_media_paths_give_file_line_errors(iso, disk, kernel):
    source = {"type": "qemu", "iso": iso, "disk": disk, "kernel": kernel, "memory": 64}
    assert_clean(yaml.safe_dump({"tiles": [{"source": source}]}, allow_unicode=True))
