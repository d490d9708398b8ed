"""The formulas on the real ``shapes.Sym``: bind after computing == compute on ints."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import ShapeError

FORMATS = st.sampled_from(["channels_last", "channels_first"])
LAYERS = [
    lambda x, f: shapes.conv(x, 4, 3, 2, "same", 1, f),
    lambda x, f: shapes.conv(x, 4, (3, 2), 1, "valid", (1, 2), f),
    lambda x, f: shapes.conv(x, 4, 1, 3, "same", 1, f),            # K < s: 'same' needs max()
    lambda x, f: shapes.conv_transpose(x, 4, 3, 2, "valid", None, 1, f),
    lambda x, f: shapes.conv_transpose(x, 4, 4, 2, "same", 1, 1, f),
    lambda x, f: shapes.depthwise_conv(x, 3, 2, "valid", 2, 1, f),
    lambda x, f: shapes.separable_conv(x, 5, 2, 1, "same", 1, 2, f),
    lambda x, f: shapes.cropping(x, ((1, 2), 1), f),
    lambda x, f: shapes.zero_padding(x, (1, 2), f),
    lambda x, f: shapes.upsampling(x, (2, 3), f),
    lambda x, f: shapes.pooling(x, 2, None, "same", f),
    lambda x, f: shapes.flatten(x, f),
    lambda x, f: shapes.dense(x, 7),
    lambda x, f: shapes.permute(x, (3, 1, 2)),
]


@settings(max_examples=60)
@given(st.integers(1, 30), st.integers(1, 30), FORMATS)
def test_symbolic_then_bound_equals_numeric(h, w, fmt):
    sym_h, sym_w = shapes.symbolic("h, w")
    def shape(a, b):
        return (None, 3, a, b) if fmt == "channels_first" else (None, a, b, 3)

    for layer in LAYERS:
        try:
            expected = layer(shape(h, w), fmt)
        except ShapeError:
            with pytest.raises(ShapeError):
                shapes.evaluate(layer(shape(sym_h, sym_w), fmt), h=h, w=w)
            continue
        assert shapes.evaluate(layer(shape(sym_h, sym_w), fmt), h=h, w=w) == expected


@settings(max_examples=100)
@given(st.integers(1, 60), st.integers(1, 5), st.integers(1, 4), st.sampled_from(["valid", "same"]))
def test_symbolic_lengths_and_paddings(n, k, s, padding):
    (h,) = shapes.symbolic("h")
    for fn in (lambda m: shapes.conv_length(m, k, s, padding),
               lambda m: shapes.conv_padding(m, k, s, padding),
               lambda m: shapes.conv_transpose_length(m, k, s, padding, s - 1)):
        try:
            expected = fn(n)
        except ShapeError:
            with pytest.raises(ShapeError):
                shapes.evaluate(_as_tuple(fn(h)), h=n)
            continue
        assert shapes.evaluate(_as_tuple(fn(h)), h=n) == _as_tuple(expected)


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)
