"""The formulas only use the symbolic-size protocol, so they run on symbols unchanged.

``Traced`` is a minimal stand-in for ``cthulhu.shapes.Sym``: it carries a hidden
value, supports only ``+ - *``, ``//``, negation, ``require_at_least`` and
``max``, and refuses comparisons and truth tests, as a real symbol must. Each
formula run on ``Traced`` must give the same value as on plain ints.
"""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import ShapeError


class Traced:
    def __init__(self, value, conditions=None):
        self.value = value
        self.conditions = conditions if conditions is not None else []

    def _wrap(self, value, other=None):
        conditions = list(self.conditions)
        if isinstance(other, Traced):
            conditions += other.conditions
        return type(self)(value, conditions)

    @staticmethod
    def _v(other):
        if isinstance(other, Traced):
            return other.value
        if isinstance(other, int) and not isinstance(other, bool):
            return other
        raise TypeError(f"Traced arithmetic with {other!r}")

    def __add__(self, other):
        return self._wrap(self.value + self._v(other), other)

    def __radd__(self, other):
        return self._wrap(self._v(other) + self.value, other)

    def __sub__(self, other):
        return self._wrap(self.value - self._v(other), other)

    def __rsub__(self, other):
        return self._wrap(self._v(other) - self.value, other)

    def __mul__(self, other):
        return self._wrap(self.value * self._v(other), other)

    def __rmul__(self, other):
        return self._wrap(self._v(other) * self.value, other)

    def __floordiv__(self, other):
        return self._wrap(self.value // self._v(other), other)

    def __rfloordiv__(self, other):
        return self._wrap(self._v(other) // self.value, other)

    def __neg__(self):
        return self._wrap(-self.value)

    def __bool__(self):
        raise TypeError("a symbolic size has no truth value")

    def _refuse(self, other):
        raise TypeError("a symbolic size cannot be compared")

    __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __hash__ = None

    def __eq__(self, other):
        raise TypeError("a symbolic size cannot be compared")

    def require_at_least(self, minimum, what):
        return self._wrap(self.value, None)._record((minimum, what))

    def _record(self, condition):
        self.conditions.append((self.value, condition[0], condition[1]))
        return self

    def max(self, other):
        return self._wrap(max(self.value, self._v(other)), other)


class TracedNoMax(Traced):
    max = None

    def __getattribute__(self, name):
        if name == "max":
            raise AttributeError(name)
        return super().__getattribute__(name)


def value(x):
    return x.value if isinstance(x, Traced) else x


def holds(x):
    """Every condition recorded on the way is true for the hidden values."""
    return all(v >= minimum for v, minimum, _ in getattr(x, "conditions", []))


@st.composite
def axis(draw):
    n, k, s, d = draw(st.integers(1, 40)), draw(st.integers(1, 7)), draw(st.integers(1, 4)), 1
    if s == 1:
        d = draw(st.integers(1, 3))
    return n, k, s, d


@settings(max_examples=300)
@given(axis(), st.sampled_from(["valid", "same", "causal"]))
def test_conv_length_and_padding_on_symbols(args, padding):
    n, k, s, d = args
    assume(padding != "valid" or n >= (k - 1) * d + 1)
    out = shapes.conv_length(Traced(n), k, s, padding, d)
    assert value(out) == shapes.conv_length(n, k, s, padding, d)
    assert holds(out)
    pads = shapes.conv_padding(Traced(n), k, s, padding, d)
    assert tuple(map(value, pads)) == shapes.conv_padding(n, k, s, padding, d)


@settings(max_examples=300)
@given(axis(), st.sampled_from(["valid", "same"]), st.data())
def test_transpose_formulas_on_symbols(args, padding, data):
    n, k, s, d = args
    p = data.draw(st.one_of(st.none(), st.integers(0, s - 1)))
    K = (k - 1) * d + 1
    assume(not (padding == "same" and p == 0 and K % 2 == 0 and n == 1))
    out = shapes.conv_transpose_length(Traced(n), k, s, padding, p, d)
    assert value(out) == shapes.conv_transpose_length(n, k, s, padding, p, d)
    assert holds(out)
    assume(padding == "same" or n >= K)
    if padding == "same" and K % 2 == 0 and s > 1:
        with pytest.raises(ShapeError, match="bind the symbols"):
            shapes.conv_transpose_output_padding(Traced(n), k, s, padding, d)
    else:
        q = shapes.conv_transpose_output_padding(Traced(n), k, s, padding, d)
        assert value(q) == shapes.conv_transpose_output_padding(n, k, s, padding, d)


def test_violated_condition_is_recorded_not_raised():
    out = shapes.conv_length(Traced(2), 3)
    assert not holds(out)
    assert any("dilated kernel size 3" in what for _, _, what in out.conditions)
    cropped = shapes.crop_length(Traced(5), 2, 2)
    assert value(cropped) == 1 and holds(cropped)


def test_same_padding_with_kernel_smaller_than_stride_needs_max():
    pads = shapes.conv_padding(Traced(7), 1, 3, "same")
    assert tuple(map(value, pads)) == shapes.conv_padding(7, 1, 3, "same")
    with pytest.raises(ShapeError, match="symbolically"):
        shapes.conv_padding(TracedNoMax(7), 1, 3, "same")
    # K >= s needs no max(): a symbol without .max() is fine.
    pads = shapes.conv_padding(TracedNoMax(7), 3, 2, "same")
    assert tuple(map(value, pads)) == shapes.conv_padding(7, 3, 2, "same")


@settings(max_examples=100)
@given(st.integers(3, 12), st.integers(3, 12), st.sampled_from(["channels_last", "channels_first"]))
def test_whole_layers_on_symbols(h, w, fmt):
    def shape(*spatial):
        return (None, 3, *spatial) if fmt == "channels_first" else (None, *spatial, 3)

    def values(t):
        return tuple(value(x) if not isinstance(x, list) else x for x in t)

    sym, num = shape(Traced(h), Traced(w)), shape(h, w)
    calls = [
        lambda x: shapes.conv(x, 4, 3, 2, "same", 1, fmt),
        lambda x: shapes.conv(x, 4, 3, 1, "valid", 1, fmt),
        lambda x: shapes.conv_transpose(x, 4, 3, 2, "valid", 1, 1, fmt),
        lambda x: shapes.depthwise_conv(x, 3, 1, "same", 2, 1, fmt),
        lambda x: shapes.separable_conv(x, 5, 2, 1, "valid", 1, 2, fmt),
        lambda x: shapes.cropping(x, 1, fmt),
        lambda x: shapes.zero_padding(x, (1, 2), fmt),
        lambda x: shapes.upsampling(x, 2, fmt),
        lambda x: shapes.pooling(x, 2, None, "valid", fmt),
    ]
    for call in calls:
        assert values(call(sym)) == call(num)
    assert value(shapes.flatten(sym, fmt)[1]) == shapes.flatten(num, fmt)[1]
    assert values(shapes.dense((None, Traced(h), 7), 3)) == (None, h, 3)
    assert values(shapes.reshape((None, Traced(h), 6), (-1, 3))) == (None, 2 * h, 3)
    assert values(shapes.permute((None, Traced(h), 6), (2, 1))) == (None, 6, h)
