"""The merge layers against plain-loop references, Keras 2's broadcasting and refusals.

The references below compute every output element with Python loops: for the
element-wise merges each output index is mapped back to each input by Keras 2's
rule written out by hand (the input's non-batch axes aligned with the output's
last ones, an axis of size 1 read at 0); ``Concatenate`` finds the input an
index falls in by walking the offsets; ``Dot`` sums the products over the
contracted axis for every combination of the other indices. Shapes, ranks,
axes and dtypes are drawn by Hypothesis; every case runs on NumPy,
array-api-strict (second device) and Dask (odd chunks, nothing computed at
call time).
"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers, shapes
from cthulhu.engine.input_layer import Input
from cthulhu.models import Lump
from tests.support.layer_devices import assert_matches, devices_for, run

OPS = {"Add": sum, "Subtract": lambda v: v[0] - v[1], "Multiply": math.prod,
       "Average": lambda v: sum(v) / len(v), "Maximum": max, "Minimum": min}


# ------------------------------------------------------------------ loop references

def _source_index(out_index, in_shape):
    """Where output element ``out_index`` reads an input of ``in_shape`` (Keras 2 rule)."""
    batch, rest = out_index[0], out_index[1:]
    rest = rest[len(rest) - (len(in_shape) - 1):] if len(in_shape) > 1 else ()
    return (batch, *(0 if n == 1 else i for i, n in zip(rest, in_shape[1:], strict=True)))


def merge_ref(name, xs, out_shape):
    out = np.empty(out_shape)
    for index in itertools.product(*(range(n) for n in out_shape)):
        values = [float(x[_source_index(index, x.shape)]) for x in xs]
        out[index] = OPS[name](values)
    return out


def concatenate_ref(xs, axis):
    axis = axis % xs[0].ndim
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    out = np.empty(shape)
    for index in itertools.product(*(range(n) for n in shape)):
        offset = index[axis]
        for x in xs:
            if offset < x.shape[axis]:
                source = list(index)
                source[axis] = offset
                out[index] = x[tuple(source)]
                break
            offset -= x.shape[axis]
    return out


def dot_ref(x, y, a0, a1, normalize):
    rest_x = [i for i in range(1, x.ndim) if i != a0]
    rest_y = [i for i in range(1, y.ndim) if i != a1]
    out_shape = (x.shape[0], *(x.shape[i] for i in rest_x), *(y.shape[i] for i in rest_y))
    out = np.empty(out_shape if len(out_shape) > 1 else (x.shape[0], 1))

    def norms(a, axis, rest):
        table = {}
        for b in range(a.shape[0]):
            for idx in itertools.product(*(range(a.shape[i]) for i in rest)):
                total = 0.0
                for k in range(a.shape[axis]):
                    full = [b, *idx]
                    full.insert(axis, k)
                    total += float(a[tuple(full)]) ** 2
                table[(b, idx)] = 1.0 / math.sqrt(max(total, 1e-12)) if normalize else 1.0
        return table

    nx, ny = norms(x, a0, rest_x), norms(y, a1, rest_y)
    for b in range(x.shape[0]):
        for ix in itertools.product(*(range(x.shape[i]) for i in rest_x)):
            for iy in itertools.product(*(range(y.shape[i]) for i in rest_y)):
                total = 0.0
                for k in range(x.shape[a0]):
                    fx, fy = [b, *ix], [b, *iy]
                    fx.insert(a0, k)
                    fy.insert(a1, k)
                    total += float(x[tuple(fx)]) * float(y[tuple(fy)])
                value = total * nx[(b, ix)] * ny[(b, iy)]
                out[(b, *ix, *iy) if ix or iy else (b, 0)] = value
    return out


# ------------------------------------------------------------------ drawn cases

DTYPES = st.sampled_from(["float16", "float32", "float64"])


@st.composite
def merge_cases(draw):
    name = draw(st.sampled_from(sorted(OPS)))
    count = 2 if name == "Subtract" else draw(st.integers(1, 4))
    rank = draw(st.integers(1, 4))          # non-batch axes of the output
    out = [draw(st.integers(1, 3)) for _ in range(rank)]
    batch = draw(st.integers(1, 3))
    shapes_ = []
    for _ in range(count):
        own = draw(st.integers(0, rank))     # an input may have fewer axes (Keras expands)
        tail = [1 if draw(st.integers(0, 3)) == 0 else n for n in out[rank - own:]]
        shapes_.append((batch, *tail))
    return name, shapes_, draw(DTYPES), draw(st.integers(0, 2**16))


@settings(max_examples=60, deadline=None)
@given(merge_cases())
def test_elementwise_merges_match_loops(case):
    name, input_shapes, dtype, seed = case
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=s).astype(dtype) for s in input_shapes]
    layer = getattr(layers, name)()
    out_shape = layer.compute_output_shape(input_shapes)
    want = merge_ref(name, [x.astype(np.float64) for x in xs], out_shape)
    for device in devices_for(dtype):
        assert_matches(run(layer, xs, device), want, dtype)


@st.composite
def concatenate_cases(draw):
    rank = draw(st.integers(2, 5))
    axis = draw(st.integers(1, rank - 1))
    base = [draw(st.integers(1, 3)) for _ in range(rank)]
    shapes_ = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        shape[axis] = draw(st.integers(1, 3))
        shapes_.append(tuple(shape))
    spelled = axis - rank if draw(st.booleans()) else axis
    return spelled, shapes_, draw(DTYPES), draw(st.integers(0, 2**16))


@settings(max_examples=40, deadline=None)
@given(concatenate_cases())
def test_concatenate_matches_loops(case):
    axis, input_shapes, dtype, seed = case
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=s).astype(dtype) for s in input_shapes]
    layer = layers.Concatenate(axis=axis)
    want = concatenate_ref([x.astype(np.float64) for x in xs], axis)
    assert layer.compute_output_shape(input_shapes) == want.shape
    for device in devices_for(dtype):
        assert_matches(run(layer, xs, device), want, dtype)


@st.composite
def dot_cases(draw):
    batch, depth = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    ranks = [draw(st.integers(2, 4)), draw(st.integers(2, 4))]
    shapes_, axes = [], []
    for rank in ranks:
        shape = [batch] + [draw(st.integers(1, 3)) for _ in range(rank - 1)]
        axis = draw(st.integers(1, rank - 1))
        shape[axis] = depth
        shapes_.append(tuple(shape))
        axes.append(axis - rank if draw(st.booleans()) else axis)
    if axes[0] == axes[1] and draw(st.booleans()):
        axes = axes[0]
    return axes, draw(st.booleans()), shapes_, draw(DTYPES), draw(st.integers(0, 2**16))


@settings(max_examples=50, deadline=None)
@given(dot_cases())
def test_dot_matches_loops(case):
    axes, normalize, input_shapes, dtype, seed = case
    rng = np.random.default_rng(seed)
    x, y = (rng.normal(size=s).astype(dtype) for s in input_shapes)
    layer = layers.Dot(axes=axes, normalize=normalize)
    pair = (axes, axes) if isinstance(axes, int) else axes
    a0, a1 = (a % n for a, n in zip(pair, (x.ndim, y.ndim), strict=True))
    want = dot_ref(x.astype(np.float64), y.astype(np.float64), a0, a1, normalize)
    assert layer.compute_output_shape(input_shapes) == want.shape
    tolerance_dtype = dtype
    for device in devices_for(dtype):
        got = run(layer, [x, y], device)
        if dtype == "float16":  # a sum of up to 4 products rounded in float16
            np.testing.assert_allclose(got.astype(np.float64), want, rtol=1e-2, atol=1e-2)
        else:
            assert_matches(got, want, tolerance_dtype)


# ------------------------------------------------------------------ Keras 2's rules

def test_merge_shapes_follow_keras2():
    add = layers.Add()
    assert add.compute_output_shape([(None, 3, 4), (None, 1, 4)]) == (None, 3, 4)
    assert add.compute_output_shape([(None, 3, 4), (None, 4)]) == (None, 3, 4)
    assert add.compute_output_shape([(2, 3), (2, 3, 1)]) == (2, 3, 3)
    assert add.compute_output_shape([(None, 3), (5, 3)]) == (5, 3)
    assert add.compute_output_shape([(None, None), (None, 4)]) == (None, 4)
    assert add.compute_output_shape([(None, None), (None, 1)]) == (None, None)
    assert add.compute_output_shape([(None, 4)]) == (None, 4)
    assert layers.Dot(1).compute_output_shape([(None, 3), (None, 3)]) == (None, 1)
    assert layers.Dot((1, 2)).compute_output_shape([(None, 3, 4), (None, 5, 3)]) == (None, 4, 5)
    h = shapes.Sym("h")
    assert add.compute_output_shape([(None, h, 2), (None, 1, 2)]) == (None, h, 2)


@pytest.mark.parametrize("layer, input_shapes, words", [
    (layers.Add(name="m1"), [(2, 3), (2, 4)], r"axis 1: the inputs' sizes differ \(3 and 4\)"),
    (layers.Add(name="m2"), [(2, 3), (1, 3)], r"batch axis: the inputs' sizes differ"),
    (layers.Subtract(name="m3"), [(2, 3)] * 3, "exactly 2 inputs"),
    (layers.Concatenate(name="m4"), [(2, 3, 4), (2, 2, 4)], r"axis 1: .*\(3 and 2\)"),
    (layers.Concatenate(name="m5"), [(2, 3, 4), (2, 3)], "one rank"),
    (layers.Concatenate(axis=3, name="m6"), [(2, 3, 4), (2, 3, 4)], "not a non-batch axis"),
    (layers.Dot(1, name="m7"), [(2, 3), (2, 4)], "size 3.*size 4"),
    (layers.Dot(3, name="m8"), [(2, 3), (2, 3)], "out of range"),
    (layers.Dot(1, name="m9"), [(2, 3), (2, 3), (2, 3)], "exactly 2 inputs"),
    (layers.Dot(1, name="m10"), [(3,), (3,)], "rank >= 2"),
    (layers.Add(name="m11"), [], "list of input shapes"),
])
def test_merge_refusals_name_the_layer_and_the_shapes(layer, input_shapes, words):
    label = f"{type(layer).__name__} '{layer.name}'"
    with pytest.raises(ValueError, match=f"{label}: .*{words}"):
        layer.compute_output_shape(input_shapes)
    if input_shapes:
        with pytest.raises(ValueError, match=label):
            layer([np.ones(s) for s in input_shapes])


def test_merge_refuses_a_batch_mismatch_after_being_built():
    # a built layer checks every call: NumPy would broadcast a batch of 1 silently
    layer = layers.Add(name="built")
    layer([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="Add 'built'.*batch axis"):
        layer([np.ones((2, 3)), np.ones((1, 3))])


def test_merge_construction_refusals():
    with pytest.raises(ValueError, match="Concatenate 'c0'.*batch axis"):
        layers.Concatenate(axis=0, name="c0")
    with pytest.raises(TypeError, match="Concatenate 'c1'.*axis must be an int"):
        layers.Concatenate(axis="last", name="c1")
    with pytest.raises(TypeError, match="Dot 'd0'.*axes"):
        layers.Dot(axes=(1, 2, 3), name="d0")
    with pytest.raises(TypeError, match="Dot 'd1'.*normalize"):
        layers.Dot(axes=1, normalize="yes", name="d1")
    with pytest.raises(ValueError, match="Dot 'd2'.*batch axis"):
        layers.Dot(axes=0, name="d2")([np.ones((2, 3)), np.ones((2, 3))])


def test_concatenate_dtypes():
    ints = [np.arange(6).reshape(2, 3), np.arange(4).reshape(2, 2)]
    assert layers.Concatenate()(ints).tolist() == [[0, 1, 2, 0, 1], [3, 4, 5, 2, 3]]
    mixed = layers.Concatenate()([np.ones((2, 1), np.float32), np.ones((2, 1))])
    assert mixed.dtype == np.float64
    with pytest.raises(TypeError, match="Concatenate 'c2'.*one dtype"):
        layers.Concatenate(name="c2")([np.ones((2, 1), np.int32), np.ones((2, 1))])


def test_merge_masks_follow_keras2():
    keep_a = np.array([[True, False, True]])
    keep_b = np.array([[True, True, False]])
    xs = [np.ones((1, 3, 2)), np.ones((1, 3, 2))]
    assert layers.Add().compute_mask(xs, [keep_a, keep_b]).tolist() == [[True, False, False]]
    assert layers.Add().compute_mask(xs, [keep_a, None]).tolist() == [[True, False, True]]
    assert layers.Add().compute_mask(xs, [None, None]) is None
    assert layers.Dot(2).compute_mask(xs, [keep_a, keep_b]) is None
    # Concatenate: a missing mask is all True, a mask of lower rank gains a last axis; the
    # masks join along the axis, then all() over the last axis
    joined = layers.Concatenate(axis=1).compute_mask(xs, [keep_a, keep_b])
    assert joined.tolist() == [[True, False, True, True, True, False]]
    assert layers.Concatenate().compute_mask(xs, [keep_a, None]).tolist() == keep_a.tolist()
    last = layers.Concatenate().compute_mask(xs, [keep_a, keep_b])
    assert last.tolist() == [[True, False, False]]


def test_merges_in_a_functional_model_with_skips():
    image = Input(shape=(6, 6, 2))
    a = layers.ReLU()(image)
    b = layers.LeakyReLU(0.25)(image)          # exact in float32, as Keras keeps alpha
    skip = layers.concatenate([layers.add([a, b]), layers.multiply([a, b]), image])
    model = Lump(image, layers.Softmax()(skip))
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 2))
    relu, leaky = np.maximum(x, 0), np.where(x > 0, x, 0.25 * x)
    joined = np.concatenate([relu + leaky, relu * leaky, x], axis=-1)
    want = np.exp(joined) / np.exp(joined).sum(axis=-1, keepdims=True)
    assert model.output_shape == (None, 6, 6, 6)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-12)
    np.testing.assert_allclose(model.predict(x, batch_size=1), want, rtol=1e-12)


def test_merge_checks_every_new_list_of_shapes_and_remembers_only_accepted_ones():
    # the shape algebra runs once per accepted list of shapes: a refused list is refused
    # again, and shapes accepted before do not let a different list through
    layer = layers.Concatenate(axis=1, name="cat")
    good = [np.ones((2, 3, 4)), np.ones((2, 5, 4))]
    assert layer(good).shape == (2, 8, 4)
    bad = [np.ones((2, 3, 4)), np.ones((2, 5, 3))]
    for _ in range(2):
        with pytest.raises(ValueError, match="Concatenate 'cat'"):
            layer(bad)
    assert layer(good).shape == (2, 8, 4)
    with pytest.raises(ValueError, match="Concatenate 'cat'"):
        layer([np.ones((2, 3, 4)), np.ones((1, 5, 4))])
