"""The convolutions' plans (``ops.CONV.plan`` and the three others) and the layers that
keep them (``Layer.planned``).

The law: ``op.plan(x, *weights, bias=b, activation=a, **args)(x2)`` gives the same bits
as ``op(x2, *weights, bias=b, activation=a, **args)`` for every ``x2``: of the planned
kind (the plugin directly) or not (the checked call); and planning refuses what the call
refuses, with the same message. The ops themselves are proved against loop references
elsewhere (tests/ops/test_conv.py and the Hypothesis suites).
"""

import array_api_strict as xps
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers as L
from cthulhu import ops

_OPS = {"conv": ops.CONV, "conv_transpose": ops.CONV_TRANSPOSE,
        "depthwise_conv": ops.DEPTHWISE_CONV, "separable_conv": ops.SEPARABLE_CONV}


def _weights(kind, rank, k, c, f, rng, dtype):
    window = (k,) * rank
    if kind == "conv":
        shapes = [(*window, c, f)]
    elif kind == "conv_transpose":
        shapes = [(*window, f, c)]
    elif kind == "depthwise_conv":
        shapes = [(*window, c, 2)]
    else:
        shapes = [(*window, c, 2), ((1,) * rank + (2 * c, f))]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _out_channels(kind, c, f):
    return 2 * c if kind == "depthwise_conv" else f


@st.composite
def cases(draw):
    kind = draw(st.sampled_from(sorted(_OPS)))
    rank = draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 2))
    dilation = 1 if stride > 1 or kind == "conv_transpose" and stride > 1 \
        else draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["valid", "same"] + (["causal"] if rank == 1
                                                        and kind == "conv" else [])))
    fmt = draw(st.sampled_from(["channels_last", "channels_first"]))
    c, f = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    bias = draw(st.booleans())
    activation = draw(st.sampled_from([None, "relu", "relu6", "sigmoid"]))
    size = draw(st.integers(k * 2, 9))
    batch = draw(st.integers(1, 2))
    return dict(kind=kind, rank=rank, k=k, stride=stride, dilation=dilation,
                padding=padding, fmt=fmt, c=c, f=f, dtype=dtype, bias=bias,
                activation=activation, size=size, batch=batch, seed=draw(st.integers(0, 99)))


def _input(case, rng, batch=None, size=None, dtype=None):
    spatial = (size or case["size"],) * case["rank"]
    n = batch or case["batch"]
    shape = (n, *spatial, case["c"]) if case["fmt"] == "channels_last" \
        else (n, case["c"], *spatial)
    return rng.standard_normal(shape).astype(dtype or case["dtype"])


def _planned_and_called(case):
    rng = np.random.default_rng(case["seed"])
    op = _OPS[case["kind"]]
    weights = _weights(case["kind"], case["rank"], case["k"], case["c"], case["f"], rng,
                       case["dtype"])
    bias = rng.standard_normal(_out_channels(case["kind"], case["c"], case["f"])) \
        .astype(case["dtype"]) if case["bias"] else None
    args = {"strides": case["stride"], "padding": case["padding"],
            "dilation": case["dilation"], "data_format": case["fmt"]}
    x = _input(case, rng)
    run = op.plan(x, *weights, bias=bias, activation=case["activation"], **args)

    def call(x2):
        return op(x2, *weights, bias=bias, activation=case["activation"], **args)

    others = [x, x * 2,                                            # the planned kind
              _input(case, rng, batch=case["batch"] + 1),          # another shape
              _input(case, rng, dtype=np.float64 if case["dtype"] == np.float32
                     else np.float32),                             # another dtype
              x.astype(x.dtype.newbyteorder(">")),                 # another byte order
              np.moveaxis(np.moveaxis(x, 0, -1).copy(), -1, 0)]    # strided, same kind
    return run, call, others


@settings(max_examples=60, deadline=None)
@given(cases())
def test_plan_equals_the_call_for_any_input(case):
    run, call, others = _planned_and_called(case)
    for x2 in others:
        got, want = run(x2), call(x2)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_plan_runs_other_libraries_through_the_checked_call():
    """An input of another library is not the planned kind: ``run`` behaves as the call
    with the planned (NumPy) weights would, here refusing the mix the same way."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 6, 6, 2))
    kernel = rng.standard_normal((3, 3, 2, 4))
    run = ops.CONV.plan(x, kernel, padding="same", activation="relu")
    strict = xps.asarray(x)
    with pytest.raises(Exception) as planned:
        run(strict)
    with pytest.raises(type(planned.value)) as called:
        ops.conv(strict, kernel, padding="same", activation="relu")
    assert str(called.value) == str(planned.value)
    run = ops.CONV.plan(strict, xps.asarray(kernel), padding="same", activation="relu")
    want = ops.conv(strict, xps.asarray(kernel), padding="same", activation="relu")
    assert type(run(strict)) is type(want)
    np.testing.assert_array_equal(np.asarray(run(strict)), np.asarray(want))


def test_plan_skips_the_checks_for_its_kind_only(monkeypatch):
    """The planned kind goes straight to the plugin (the checks are not run again);
    any other input goes through them."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 8, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 5)).astype(np.float32)
    run = ops.CONV.plan(x, kernel, padding="causal", dilation=2)
    want = ops.conv(x, kernel, padding="causal", dilation=2)

    def refuse(*args, **kwargs):
        raise AssertionError("checked again")

    monkeypatch.setattr(ops.CONV, "_arguments", refuse)
    np.testing.assert_array_equal(run(x), want)
    with pytest.raises(AssertionError, match="checked again"):
        run(x[:1])


@pytest.mark.parametrize("op, args, kwargs", [
    (ops.CONV, ((1, 5, 5, 2), (3, 3, 3, 4)), {}),                          # channels
    (ops.CONV, ((1, 5, 5, 2), (3, 3, 2, 4)), {"padding": "causal"}),      # rank-1 only
    (ops.CONV, ((1, 5, 5, 2), (3, 3, 2, 4)), {"strides": 0}),
    (ops.CONV, ((1, 5, 5, 2), (3, 3, 2, 4)), {"bias": (3,)}),
    (ops.CONV, ((1, 5, 5, 2), (3, 3, 2, 4)), {"activation": "swish"}),
    (ops.CONV_TRANSPOSE, ((1, 5, 2), (3, 4, 2)), {"strides": 2, "output_padding": 3}),
    (ops.DEPTHWISE_CONV, ((1, 5, 2), (3, 3, 2)), {}),
    (ops.SEPARABLE_CONV, ((1, 5, 2), (3, 2, 1), (1, 3, 4)), {}),
    (ops.CONV, ((1, 5, 5, 2), (3, 3, 2, 4)), {"data_format": "NHWC"}),
])
def test_plan_refuses_what_the_call_refuses_with_its_message(op, args, kwargs):
    arrays = [np.ones(shape, dtype=np.float32) for shape in args]
    if "bias" in kwargs:
        kwargs = {**kwargs, "bias": np.ones(kwargs["bias"], dtype=np.float32)}
    with pytest.raises((ValueError, TypeError)) as planned:
        op.plan(*arrays, **kwargs)
    with pytest.raises(type(planned.value)) as called:
        op(*arrays, **kwargs)
    assert str(called.value) == str(planned.value)


def test_plan_of_an_empty_input_is_the_checked_call():
    x = np.ones((0, 5, 2), dtype=np.float32)
    kernel = np.ones((3, 2, 4), dtype=np.float32)
    run = ops.CONV.plan(x, kernel, padding="same")
    assert run(x).shape == (0, 5, 4)


# ---------------------------------------------------------------- the layers' plans

_LAYERS = [
    lambda: L.Cthalpa2D(4, 3, padding="same", activation="relu"),
    lambda: L.Cthalpa1D(3, 2, padding="causal", dilation_rate=2, activation="sigmoid"),
    lambda: L.Cthalpa3D(2, 2, strides=2, data_format="channels_first", use_bias=False),
    lambda: L.Cthalpa2DTranspose(3, 3, strides=2, padding="same", output_padding=1),
    lambda: L.DepthwiseCthalpa2D(3, depth_multiplier=2, activation="relu6"),
    lambda: L.SeparableCthalpa1D(5, 3, padding="same", activation="tanh"),
]


def _layer_input(layer, rng, batch=2):
    rank = layer.rank
    first = getattr(layer, "data_format", "channels_last") == "channels_first"
    shape = (batch, 3, *(6,) * rank) if first else (batch, *(6,) * rank, 3)
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("make", _LAYERS)
def test_a_layer_follows_its_weights_and_inputs_through_its_plan(make):
    """A layer keeps its op's plan between calls: its result is always the plain op
    call's on the weights of the moment, whatever changed between two calls."""
    rng = np.random.default_rng(5)
    layer = make()
    x = _layer_input(layer, rng)
    layer(x)

    def expected(x2):
        y = layer._convolve(x2, layer._bias(x2), None)
        return layer.activation(y)

    np.testing.assert_allclose(layer(x), expected(x), rtol=1e-6, atol=1e-6)
    plan = layer._last_plan[1]
    layer(x * 3)
    assert layer._last_plan[1] is plan                    # kept: same kind of input
    new = [rng.standard_normal(w.shape).astype(w.dtype) for w in layer.get_weights()]
    layer.set_weights(new)
    np.testing.assert_allclose(layer(x), expected(x), rtol=1e-6, atol=1e-6)
    assert layer._last_plan[1] is not plan                # the weights changed
    for x2 in (_layer_input(layer, rng, batch=1), x.astype(np.float64)):
        y = layer(x2)
        assert y.dtype == x2.dtype
        np.testing.assert_allclose(y, expected(x2), rtol=1e-6, atol=1e-6)
    y = np.asarray(layer(xps.asarray(x)))
    np.testing.assert_allclose(y, expected(x), rtol=1e-6, atol=1e-6)


def test_a_layer_plan_follows_a_weight_assigned_or_written_in_place():
    """``Weight.assign`` and ``Weight.changed`` (after writing its home in place) are
    what a layer's cached conversions, and so its plan, follow."""
    rng = np.random.default_rng(6)
    layer = L.Cthalpa2D(2, 3, bias_initializer="ones")
    x = _layer_input(layer, rng)
    before = layer(x) - 1.0
    record = layer._weight_record("kernel")
    record.assign(record.value * 2)
    np.testing.assert_allclose(layer(x) - 1.0, 2 * before, rtol=1e-5, atol=1e-5)
    record.value[...] *= 3
    record.changed()
    np.testing.assert_allclose(layer(x) - 1.0, 6 * before, rtol=1e-5, atol=1e-5)
