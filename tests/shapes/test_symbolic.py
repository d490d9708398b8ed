"""Symbolic sizes: simplification, printing, conditions, and symbolic == concrete."""

import doctest
import importlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import ShapeError, Sym, evaluate, subs, symbolic
from cthulhu.shapes.symbolic import ceildiv

h, w = Sym("h"), Sym("w")


# ------------------------------------------------------ simplify and print
@pytest.mark.parametrize("expr, text", [
    ((h + 4) - 4, "h"),
    ((2 * h) // 2, "h"),
    ((2 * h + 1) // 2, "h"),
    (h - h + 3, "3"),
    ((h - 3) // 2 + 1, "ceil(h/2) - 1"),
    (ceildiv(h, 2), "ceil(h/2)"),
    (ceildiv(ceildiv(h, 2), 2), "ceil(h/4)"),
    ((h // 2) // 3, "floor(h/6)"),
    ((h + 1) // 3, "floor((h + 1)/3)"),
    (3 * h // 2, "h + floor(h/2)"),
    (-h // 2, "-ceil(h/2)"),
    (2 * h + 3 * w - h, "h + 3*w"),
    (h * w * 3, "3*h*w"),
    ((h - 2) * (w - 2) * 4, "4*(h - 2)*(w - 2)"),
    ((2 * h - 4) * (w + 1), "2*(h - 2)*(w + 1)"),
    (h * (w + 1), "h + h*w"),
    (h - 2 * w - 1, "h - 2*w - 1"),
    (h.max(h + 2), "h + 2"),
    (h % 4, "h - 4*floor(h/4)"),
])
def test_symbolic_simplifies_and_prints(expr, text):
    assert str(expr) == text


def test_symbolic_constant_folds_to_int():
    assert (h + 1) - h == 1 and isinstance((h + 1) - h, int)
    assert h * 0 == 0 and (h * w) // h == w


def test_symbolic_equality_and_hash():
    assert (h + 1) - 1 == h and hash((h + 1) - 1) == hash(h)
    table = {ceildiv(h, 2): "half"}
    assert table[(h + 1) // 2] == "half"
    assert h != w and h != 3 and Sym("h") == h


def test_symbolic_refuses_comparisons_and_bad_division():
    with pytest.raises(TypeError, match="no value"):
        _ = h < 3
    with pytest.raises(TypeError):
        _ = 3 // h
    with pytest.raises(TypeError):
        _ = (h + 1) // w
    with pytest.raises(ZeroDivisionError):
        _ = h // 0
    with pytest.raises(ShapeError, match="identifier"):
        Sym("2h")


# ------------------------------------------------------------- conditions
def test_symbolic_records_and_checks_conditions():
    out = shapes.conv_length(h, 3, 2)
    assert [str(c) for c in out.conditions] == ["h >= 3"]
    assert out.evaluate(h=7) == 3
    with pytest.raises(ShapeError, match=r"h >= 3 does not hold for h=2"):
        out.evaluate(h=2)
    # conditions travel through arithmetic and keep the strongest bound
    twice = shapes.conv_length(out, 3, 1)
    assert [str(c) for c in twice.conditions] == ["h >= 7"]
    assert [str(c) for c in (twice + w).conditions] == ["h >= 7"]


def test_symbolic_conditions_on_floors_are_stated_on_the_size():
    x = shapes.crop_length(2 * (h // 2), 3, 3)     # 2*floor(h/2) >= 7  <=>  h >= 8
    assert [str(c) for c in x.conditions] == ["h >= 8"]
    with pytest.raises(ShapeError):
        x.evaluate(h=7)
    assert x.evaluate(h=8) == 2


def test_evaluate_shape_and_errors():
    shape = (None, shapes.conv_length(h, 3), w * 2, 3)
    assert evaluate(shape, h=5, w=4) == (None, 3, 8, 3)
    with pytest.raises(ShapeError, match="no value given for the symbolic size 'w'"):
        evaluate(shape, h=5)
    with pytest.raises(ShapeError, match="int >= 0"):
        evaluate(shape, h=-1, w=2)
    with pytest.raises(ShapeError, match="h >= 3"):
        evaluate(shape, h=1, w=2)


def test_subs_binds_some_names():
    x = shapes.conv_length(h, 3) + w
    y = subs(x, h=10)
    assert y == w + 8 and y.conditions == ()
    assert subs((None, x), w=1) == (None, h - 1)
    assert subs(x, h=10, w=1) == 9
    with pytest.raises(ShapeError, match="h >= 3"):
        subs(x, h=2)


# ---------------------------------------------------------------- parsing
def test_symbolic_parses_shapes():
    assert symbolic("b, h, w, 3") == (Sym("b"), h, w, 3)
    assert symbolic("(None, 224, 224, 3)") == (None, 224, 224, 3)
    assert symbolic("[?, 2*h + 1, 3]") == (None, 2 * h + 1, 3)
    assert symbolic("(h,)") == (h,)
    assert symbolic("h // 2 - 1, w") == (h // 2 - 1, w)


@pytest.mark.parametrize("text", ["b, h +, 3", "1.5, 2", "__import__('os'), 3", "h ** 2", "",
                                  "f(h)", "'x', 3"])
def test_symbolic_rejects_bad_text(text):
    with pytest.raises(ShapeError):
        symbolic(text)


# --------------------------------------------- random expressions vs ints
_names = ("a", "b", "c")


@st.composite
def expressions(draw, depth=3):
    """A pair (builder, evaluator): the same expression on Syms and on ints."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            name = draw(st.sampled_from(_names))
            return (lambda env, n=name: env[n]), (lambda env, n=name: env[n])
        k = draw(st.integers(-5, 5))
        return (lambda env, k=k: k), (lambda env, k=k: k)
    op = draw(st.sampled_from(["+", "-", "*k", "*", "//", "ceil", "max", "neg"]))
    fa, ga = draw(expressions(depth - 1))
    if op in ("*k", "//", "ceil"):
        k = draw(st.integers(1, 5) if op != "*k" else st.integers(-4, 4))
        if op == "*k":
            return (lambda e: fa(e) * k), (lambda e: ga(e) * k)
        if op == "//":
            return (lambda e: fa(e) // k), (lambda e: ga(e) // k)
        return (lambda e: ceildiv(fa(e), k)), (lambda e: -((-ga(e)) // k))
    if op == "neg":
        return (lambda e: -fa(e)), (lambda e: -ga(e))
    fb, gb = draw(expressions(depth - 1))
    if op == "+":
        return (lambda e: fa(e) + fb(e)), (lambda e: ga(e) + gb(e))
    if op == "-":
        return (lambda e: fa(e) - fb(e)), (lambda e: ga(e) - gb(e))
    if op == "*":
        return (lambda e: fa(e) * fb(e)), (lambda e: ga(e) * gb(e))

    def smax(a, b):
        if isinstance(a, Sym):
            return a.max(b)
        if isinstance(b, Sym):
            return b.max(a)
        return max(a, b)
    return (lambda e: smax(fa(e), fb(e))), (lambda e: max(ga(e), gb(e)))


@settings(max_examples=400)
@given(expressions(), st.lists(st.integers(0, 40), min_size=3, max_size=3))
def test_symbolic_expression_then_binding_equals_integers(expr, values):
    build, direct = expr
    env = dict(zip(_names, values, strict=True))
    sym = build({n: Sym(n) for n in _names})
    got = sym if isinstance(sym, int) else sym.evaluate(**env)
    assert got == direct(env)
    # printing is stable: equal expressions print the same
    if isinstance(sym, Sym):
        assert str(sym) == str(build({n: Sym(n) for n in _names}))


# ------------------------------------- every formula: symbolic == concrete
def _both(fn, n, *args, **kwargs):
    """``fn`` on ``n`` and on the symbol ``h`` bound to ``n``: both ints or both ShapeError."""
    try:
        want = fn(n, *args, **kwargs)
    except ShapeError:
        want = ShapeError
    try:
        sym = fn(h, *args, **kwargs)
        got = evaluate(sym, h=n)
    except ShapeError:
        got = ShapeError
    return got, want


_params = dict(n=st.integers(0, 60), k=st.integers(1, 6), s=st.integers(1, 4),
               d=st.integers(1, 3))


@settings(max_examples=300)
@given(padding=st.sampled_from(["valid", "same", "causal"]), **_params)
def test_symbolic_conv_length_and_padding(n, k, s, d, padding):
    if s > 1:
        d = 1
    got, want = _both(shapes.conv_length, n, k, s, padding, d)
    assert got == want
    got, want = _both(shapes.conv_padding, n, k, s, padding, d)
    assert got == want


@settings(max_examples=300)
@given(padding=st.sampled_from(["valid", "same"]), op=st.integers(0, 3), use_op=st.booleans(),
       **_params)
def test_symbolic_conv_transpose_length(n, k, s, d, padding, op, use_op):
    if s > 1:
        d = 1
    op = op % s if use_op else None
    got, want = _both(shapes.conv_transpose_length, n, k, s, padding, op, d)
    assert got == want


@settings(max_examples=300)
@given(padding=st.sampled_from(["valid", "same"]), **_params)
def test_symbolic_output_padding_and_pooling(n, k, s, d, padding):
    if s > 1:
        d = 1
    got, want = _both(shapes.pool_length, n, k, s, padding)
    assert got == want
    try:
        shapes.conv_transpose_output_padding(h, k, s, padding, d)
    except ShapeError as exc:
        # documented: with an even kernel the answer depends on whether s divides n
        assert "bind the symbols first" in str(exc) and k % 2 == 0 and s > 1
        return
    got, want = _both(shapes.conv_transpose_output_padding, n, k, s, padding, d)
    if got != want:
        # Known limit (symbolic.py docstring): a result that is no symbol (a folded int such
        # as (h - K) mod 1 == 0, or None for "inferred") cannot carry the condition h >= K.
        assert want is ShapeError and not isinstance(
            shapes.conv_transpose_output_padding(h, k, s, padding, d), Sym)


@settings(max_examples=200)
@given(n=st.integers(0, 40), lo=st.integers(0, 5), hi=st.integers(0, 5), u=st.integers(1, 4))
def test_symbolic_crop_pad_upsample(n, lo, hi, u):
    got, want = _both(shapes.crop_length, n, lo, hi)
    assert got == want and (got is ShapeError) == (n < lo + hi + 1)
    assert _both(shapes.pad_length, n, lo, hi)[0] == n + lo + hi
    assert _both(shapes.upsample_length, n, u)[0] == n * u


@settings(max_examples=150)
@given(rows=st.integers(1, 30), cols=st.integers(1, 30), k=st.integers(1, 4),
       s=st.integers(1, 3), padding=st.sampled_from(["valid", "same"]),
       fmt=st.sampled_from(["channels_last", "channels_first"]))
def test_symbolic_whole_layers(rows, cols, k, s, padding, fmt):
    def shape(r, c):
        return (None, r, c, 3) if fmt == "channels_last" else (None, 3, r, c)

    calls = [
        lambda x: shapes.conv(x, 8, k, s, padding, 1, fmt),
        lambda x: shapes.conv_transpose(x, 8, k, s, padding, None, 1, fmt),
        lambda x: shapes.depthwise_conv(x, k, s, padding, 2, 1, fmt),
        lambda x: shapes.separable_conv(x, 8, k, s, padding, 2, 1, fmt),
        lambda x: shapes.upsampling(x, (s, k), fmt),
        lambda x: shapes.cropping(x, ((1, 0), (0, 1)), fmt),
        lambda x: shapes.zero_padding(x, ((1, 2), (0, 1)), fmt),
        lambda x: shapes.flatten(x, fmt),
        lambda x: shapes.dense(x, 5),
        lambda x: shapes.permute(x, (3, 1, 2)),
        lambda x: shapes.reshape(x, (-1, 3)),
        lambda x: shapes.pooling(x, k, s, padding, fmt),
        lambda x: shapes.same_shape(x),
    ]
    for call in calls:
        try:
            want = call(shape(rows, cols))
        except ShapeError:
            want = ShapeError
        try:
            got = evaluate(call(shape(h, w)), h=rows, w=cols)
        except ShapeError:
            got = ShapeError
        assert got == want


# --------------------------------------------------------------- doctests
@pytest.mark.parametrize("name", ["symbolic", "chain", "axis_maps", "spec", "parse", "inverse"])
def test_symbolic_and_chain_docstring_examples(name):
    module = importlib.import_module(f"cthulhu.shapes.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_docs_shapes_md_examples_run():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "shapes.md"
    result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 20
