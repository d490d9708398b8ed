"""The advanced activations against plain-loop references, on every device.

Each reference is the formula of the Keras 2 docs applied element by element
with ``math`` (``Softmax``: sums over the index groups of its axes; ``PReLU``:
the alpha of each element found by hand from ``shared_axes``). Arguments,
shapes, axes and dtypes are drawn by Hypothesis; every case runs on NumPy,
array-api-strict (second device) and Dask (odd chunks, nothing computed when
called). The layers keep Keras 2's float32 arguments, so the references use
the float32-rounded values.
"""

import functools
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers, shapes
from tests.support.layer_devices import assert_matches, devices_for, run


def f32(value):
    return float(np.float32(value))


def f16(value):
    """A float that float16, float32 and float64 all hold exactly."""
    return float(np.float16(value))


def elementwise_ref(x, fn):
    out = np.empty(x.shape)
    for index in itertools.product(*(range(n) for n in x.shape)):
        out[index] = fn(float(x[index]))
    return out


def relu_ref(v, max_value, slope, threshold):
    """Keras 2's ``backend.relu`` step by step: keep ``v`` above the threshold, clip at
    ``max_value``, subtract ``slope`` times the part below the threshold (so a
    ``max_value`` under the threshold gives 0 between them, not ``max_value``)."""
    y = v if v > threshold else 0.0
    if max_value is not None:
        y = min(max(y, 0.0), max_value)
    return y - slope * max(threshold - v, 0.0)


def softmax_ref(x, axes):
    others = [a for a in range(x.ndim) if a not in axes]
    groups = {}
    for index in itertools.product(*(range(n) for n in x.shape)):
        groups.setdefault(tuple(index[a] for a in others), []).append(index)
    out = np.empty(x.shape)
    for members in groups.values():
        top = max(float(x[i]) for i in members)
        total = sum(math.exp(float(x[i]) - top) for i in members)
        for i in members:
            out[i] = math.exp(float(x[i]) - top) / total
    return out


def prelu_ref(x, alpha, shared):
    out = np.empty(x.shape)
    for index in itertools.product(*(range(n) for n in x.shape)):
        a = alpha[tuple(0 if axis + 1 in shared else i for axis, i in enumerate(index[1:]))]
        v = float(x[index])
        out[index] = v if v > 0 else float(a) * v
    return out


DTYPES = st.sampled_from(["float16", "float32", "float64"])
SHAPES = st.lists(st.integers(1, 4), min_size=2, max_size=5).map(tuple)


def _input(shape, dtype, seed, scale=3.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(dtype)


SCALAR_REFS = {
    "LeakyReLU": lambda v, c: v if v > 0 else c["alpha"] * v,
    "ELU": lambda v, c: v if v > 0 else c["alpha"] * math.expm1(v),
    "ThresholdedReLU": lambda v, c: v if v > c["theta"] else 0.0,
    "ReLU": lambda v, c: relu_ref(v, c["max_value"], c["negative_slope"], c["threshold"]),
}


@st.composite
def elementwise_cases(draw):
    kind = draw(st.sampled_from(sorted(SCALAR_REFS)))
    if kind == "LeakyReLU":
        config = {"alpha": f32(draw(st.floats(0.0, 1.0)))}
    elif kind == "ELU":
        config = {"alpha": f32(draw(st.floats(0.1, 2.0)))}
    elif kind == "ThresholdedReLU":
        # Keras compares in the input's dtype: a float16 input meets theta rounded to
        # float16, so theta is drawn among the values every dtype holds exactly.
        config = {"theta": f16(draw(st.floats(0.0, 2.0)))}
    else:
        config = {"max_value": draw(st.one_of(st.none(), st.floats(0.5, 6.0).map(f16))),
                  "negative_slope": f32(draw(st.sampled_from([0.0, 0.1, 0.3]))),
                  "threshold": f32(draw(st.sampled_from([0.0, 0.5, 1.0])))}
    fn = functools.partial(lambda v, c, ref: ref(v, c), c=config, ref=SCALAR_REFS[kind])
    return kind, config, fn, draw(SHAPES), draw(DTYPES), draw(st.integers(0, 2**16))


@settings(max_examples=80, deadline=None)
@given(elementwise_cases())
def test_elementwise_activations_match_loops(case):
    kind, config, fn, shape, dtype, seed = case
    x = _input(shape, dtype, seed)
    layer = getattr(layers, kind)(**config)
    want = elementwise_ref(x.astype(np.float64), fn)
    for device in devices_for(dtype):
        assert_matches(run(layer, x, device), want, dtype)


@st.composite
def softmax_cases(draw):
    shape = draw(SHAPES)
    rank = len(shape)
    count = draw(st.integers(1, rank - 1))
    axes = draw(st.permutations(range(1, rank)))[:count]
    spelled = [a - rank if draw(st.booleans()) else a for a in axes]
    axis = spelled[0] if count == 1 and draw(st.booleans()) else list(spelled)
    return axis, sorted(axes), shape, draw(DTYPES), draw(st.integers(0, 2**16))


@settings(max_examples=60, deadline=None)
@given(softmax_cases())
def test_softmax_matches_loops(case):
    axis, axes, shape, dtype, seed = case
    x = _input(shape, dtype, seed)
    layer = layers.Softmax(axis=axis)
    want = softmax_ref(x.astype(np.float64), axes)
    for device in devices_for(dtype):
        assert_matches(run(layer, x, device), want, dtype)


@st.composite
def prelu_cases(draw):
    shape = draw(SHAPES)
    shared = sorted(set(draw(st.lists(st.integers(1, len(shape) - 1), max_size=3))))
    return shared or None, shape, draw(DTYPES), draw(st.integers(0, 2**16))


@settings(max_examples=50, deadline=None)
@given(prelu_cases())
def test_prelu_matches_loops(case):
    shared, shape, dtype, seed = case
    x = _input(shape, dtype, seed)
    layer = layers.PReLU(shared_axes=shared)
    layer.build(shape)
    alpha = np.random.default_rng(seed + 1).normal(size=layer.get_weights()[0].shape)
    layer.set_weights([alpha])
    assert alpha.shape == tuple(1 if i in (shared or ()) else n for i, n in enumerate(shape)
                                if i > 0)
    stored = layer.get_weights()[0].astype(np.float64)    # float32, as the layer keeps it
    want = prelu_ref(x.astype(np.float64), stored, shared or ())
    for device in devices_for(dtype):
        assert_matches(run(layer, x, device), want, dtype)


def test_softmax_mask_adds_a_large_negative_number():
    x = np.zeros((1, 2, 4))
    mask = np.array([[[True, True, False, True], [True, False, False, False]]])
    y = layers.Softmax()(x, mask=mask)
    np.testing.assert_allclose(y[0, 0], [1 / 3, 1 / 3, 0, 1 / 3], atol=1e-9)
    np.testing.assert_allclose(y[0, 1], [1, 0, 0, 0], atol=1e-9)
    # a (batch, steps) mask does not broadcast to (batch, steps, features): refused, as in Keras
    with pytest.raises(ValueError, match="Softmax 'sm'.*mask"):
        layers.Softmax(name="sm")(np.zeros((2, 3, 4)), mask=np.ones((2, 3), dtype=bool))


def test_float_arguments_are_float32_as_in_keras2():
    assert layers.LeakyReLU().get_config()["alpha"] == 0.30000001192092896
    assert layers.ELU(0.1).alpha == f32(0.1)
    config = layers.ReLU(6, 0.1, 0.2).get_config()
    assert (config["max_value"], config["negative_slope"], config["threshold"]) == (
        6.0, f32(0.1), f32(0.2))
    x = np.array([[-1.0]])
    assert layers.LeakyReLU(0.1)(x)[0, 0] == -f32(0.1)


def test_leaky_relu_takes_keras3_negative_slope():
    assert layers.LeakyReLU(negative_slope=0.5).alpha == 0.5
    assert layers.LeakyReLU(0.5, negative_slope=0.5).alpha == 0.5
    with pytest.raises(ValueError, match="LeakyReLU 'lr'.*not both"):
        layers.LeakyReLU(0.2, negative_slope=0.5, name="lr")
    assert "negative_slope" not in layers.LeakyReLU(negative_slope=0.5).get_config()


def test_nan_stays_nan_where_keras_multiplies():
    x = np.array([[np.nan, -1.0]])
    assert np.isnan(layers.LeakyReLU()(x)[0, 0])
    assert np.isnan(layers.ThresholdedReLU()(x)[0, 0])
    assert np.isnan(layers.ELU()(x)[0, 0])


@pytest.mark.parametrize("make, words", [
    (lambda: layers.LeakyReLU(None, name="a1"), "LeakyReLU 'a1': alpha must be a float"),
    (lambda: layers.ELU(float("nan"), name="a2"), "ELU 'a2': alpha must be a finite"),
    (lambda: layers.ThresholdedReLU(-1.0, name="a3"), "ThresholdedReLU 'a3': theta .* >= 0"),
    (lambda: layers.ReLU(-1.0, name="a4"), "ReLU 'a4': max_value .* >= 0"),
    (lambda: layers.ReLU(negative_slope=-0.1, name="a5"), "ReLU 'a5': negative_slope"),
    (lambda: layers.ReLU(threshold=-1, name="a6"), "ReLU 'a6': threshold"),
    (lambda: layers.LeakyReLU(1e39, name="a7"), "LeakyReLU 'a7': alpha must fit in float32"),
    (lambda: layers.PReLU(shared_axes=[0], name="a8"), "PReLU 'a8': shared_axes"),
    (lambda: layers.PReLU(shared_axes="rows", name="a9"), "PReLU 'a9': shared_axes"),
    (lambda: layers.Softmax(axis=0, name="a10"), "Softmax 'a10': axis cannot be the batch"),
    (lambda: layers.Softmax(axis=[1, "x"], name="a11"), "Softmax 'a11': axis must be"),
])
def test_bad_arguments_name_the_layer(make, words):
    with pytest.raises((ValueError, TypeError), match=words):
        make()


def test_bad_inputs_name_the_layer():
    with pytest.raises(ValueError, match="Softmax 's1'.*out of range"):
        layers.Softmax(axis=3, name="s1")(np.ones((2, 3)))
    prelu = layers.PReLU(name="p1")
    prelu(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="PReLU 'p1'"):
        prelu(np.ones((2, 3, 5)))
    with pytest.raises(ValueError, match="PReLU 'p1'"):
        prelu(np.ones((2, 3)))
    with pytest.raises(ValueError, match="PReLU 'p2'.*shared_axes 3"):
        layers.PReLU(shared_axes=3, name="p2")(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="PReLU 'p3'.*known shape"):
        layers.PReLU(name="p3").build((None, None, 4))
    with pytest.raises(TypeError, match="ELU 'e1'.*floating"):
        layers.ELU(name="e1")(np.ones((2, 3), dtype=np.int64))


def test_block_roles_say_what_can_be_split():
    along = shapes.get_kind("along_axis")
    assert along.blockwise({"axis": (-1,)}, "channels_last", 5) == "pointwise"
    assert along.blockwise({"axis": (1,)}, "channels_first", 5) == "pointwise"
    assert along.blockwise({"axis": (1,)}, "channels_last", 5) == "whole"
    assert along.blockwise({"axis": (1, 4)}, "channels_last", 5) == "whole"
    per = shapes.get_kind("per_position")
    assert per.blockwise({"shared_axes": (1, 2)}, "channels_last", 4) == "pointwise"
    assert per.blockwise({"shared_axes": (2, 3)}, "channels_first", 4) == "pointwise"
    assert per.blockwise({"shared_axes": (1,)}, "channels_last", 4) == "whole"
    assert per.blockwise({"shared_axes": None}, "channels_last", 2) == "pointwise"


def test_relu_threshold_above_max_value_follows_keras_order():
    # Keras 2 thresholds, then clips: 0.5674 is under the threshold, so it gives 0
    # (plus the slope's part), not max_value (found by Hypothesis on float16).
    x = np.array([[0.5674, 1.5, -1.0]], dtype="float32")
    got = np.asarray(layers.ReLU(max_value=0.5, threshold=1.0, negative_slope=0.1)(x))
    np.testing.assert_allclose(got, [[0.1 * (0.5674 - 1.0), 0.5, -0.2]], rtol=1e-6)


# What tf.keras.layers.ReLU (TensorFlow 2.15.1, CPU) returned for these inputs: NaN stays
# NaN, -inf times a zero mask is NaN where a threshold is set, and -0.0 is kept.
SPECIAL = [np.nan, -1.0, 2.0, -np.inf, np.inf, 7.0]
KERAS_215_RELU = [
    ({}, [np.nan, 0.0, 2.0, 0.0, np.inf, 7.0]),
    ({"max_value": 6.0}, [np.nan, 0.0, 2.0, 0.0, 6.0, 6.0]),
    ({"threshold": 1.0}, [np.nan, -0.0, 2.0, np.nan, np.inf, 7.0]),
    ({"negative_slope": 0.1}, [np.nan, -0.1, 2.0, -np.inf, np.inf, 7.0]),
    ({"negative_slope": 0.1, "threshold": 1.0, "max_value": 6.0},
     [np.nan, -0.2, 2.0, np.nan, 6.0, 6.0]),
]


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("config, keras", KERAS_215_RELU)
def test_relu_special_values_as_keras_215(config, keras):
    x = np.array([SPECIAL], dtype="float32")
    got = np.asarray(layers.ReLU(**config)(x))
    np.testing.assert_allclose(got, [keras], rtol=1e-6)
    want = np.array([keras], "float32")
    number = ~np.isnan(want)  # a NaN's sign bit is not part of the contract
    np.testing.assert_array_equal(np.signbit(got)[number], np.signbit(want)[number])
