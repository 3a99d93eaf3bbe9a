"""Colour and vector parameters: parsing (fuzzed), and the pass model's own checks (no GL needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geometry_os import api
from geometry_os.render.effects import _converted

TEXT = st.text(alphabet=st.sampled_from("#0123456789abcdefABCDEFgxyz -"), max_size=12) | st.text(max_size=12)
VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | TEXT,
                      lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner, inner), max_leaves=12)


@given(VALUES)
def test_colour_parsing_never_fails_other_than_with_a_one_line_value_error(value):
    try:
        colour = api.Color.parse(value)
    except ValueError as exc:
        assert "\n" not in str(exc) and "colour" in str(exc)
    else:
        assert len(colour) == 3 and all(0.0 <= c <= 1.0 for c in colour)


@pytest.mark.parametrize(("text", "rgb"), [("#ffaa00", (1.0, 170 / 255, 0.0)), ("#FA0", (1.0, 170 / 255, 0.0)),
                                          ("#000", (0.0, 0.0, 0.0)), ([0.25, 0.5, 1], (0.25, 0.5, 1.0))])
def test_colour_forms(text, rgb):
    assert api.Color.parse(text) == pytest.approx(rgb)
    assert repr(api.Color(1.0, 170 / 255, 0.0)) == "#ffaa00"


@given(VALUES)
def test_run_time_vector_values_convert_or_say_why(value):
    try:
        converted = _converted(tuple[float, float], value)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(converted, tuple) and len(converted) == 2
        assert all(type(v) is float for v in converted)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: api.Scale("sideways"), "kind"),
    (lambda: api.Scale("source", 0.0), "scale must be > 0"),
    (lambda: api.Pass(Path("x.glsl"), name="not an identifier"), "GLSL identifier"),
    (lambda: api.Pass(Path("x.glsl"), format="rgb565"), "format"),
    (lambda: api.Pass(Path("x.glsl"), history=17), "history"),
    (lambda: api.Lut("grain", Path("g.png"), wrap="tile"), "wrap"),
    (lambda: api.EffectType("x", object, "tile"), "give either a shader or passes"),
    (lambda: api.EffectType("x", object, "tile", Path("x.glsl"), passes=[api.Pass(Path("y.glsl"))]),
     "give either a shader or passes"),
])
def test_pass_descriptions_are_checked_when_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_scale_sizes_round_and_clamp():
    assert api.Scale("viewport", 0.5).size(640, 333) == 166
    assert api.Scale("source", 2.0).size(640, 333) == 1280
    assert api.Scale("absolute", 30).size(640, 333) == 30
    assert api.Scale("source", 1000.0).size(640, 1) == 16384 and api.Scale("viewport", 0.001).size(1, 1) == 1
