"""Activations against formulas written here element by element with ``math``."""

import math

import array_api_strict as xs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import activations

X = [-5.0, -1.5, -0.25, 0.0, 0.3, 1.0, 2.5, 7.0]
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


SCALAR_REFS = {
    "elu": lambda v: v if v > 0 else math.exp(v) - 1.0,
    "selu": lambda v: SELU_SCALE * (v if v > 0 else SELU_ALPHA * (math.exp(v) - 1.0)),
    "softplus": lambda v: math.log(math.exp(v) + 1.0),
    "softsign": lambda v: v / (abs(v) + 1.0),
    "relu": lambda v: max(v, 0.0),
    "tanh": math.tanh,
    "sigmoid": _sig,
    "hard_sigmoid": lambda v: min(1.0, max(0.0, 0.2 * v + 0.5)),
    "exponential": math.exp,
    "linear": lambda v: v,
    "swish": lambda v: v * _sig(v),
}


@pytest.mark.parametrize("name", sorted(SCALAR_REFS))
def test_activation_matches_scalar_formula(name):
    fn = activations.get(name)
    got = fn(np.array(X))
    want = [SCALAR_REFS[name](v) for v in X]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(SCALAR_REFS) + ["softmax", "gelu"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_keeps_namespace_and_dtype(name, dtype):
    x = xs.asarray(np.array([X, X[::-1]]), dtype=getattr(xs, dtype))
    y = activations.get(name)(x)
    assert type(y) is type(x) and y.dtype == x.dtype and y.shape == x.shape


def test_softmax_matches_formula_and_axis():
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 1000.0]])
    for row_in, row_out in zip(x, activations.softmax(x), strict=True):
        m = max(row_in)
        exps = [math.exp(v - m) for v in row_in]
        np.testing.assert_allclose(row_out, [e / sum(exps) for e in exps], rtol=1e-12)
    cols = activations.softmax(x, axis=0)
    np.testing.assert_allclose(cols.sum(axis=0), 1.0)
    with pytest.raises(ValueError, match="1D"):
        activations.softmax(np.array([1.0, 2.0]))


def test_relu_keras_options():
    x = np.array([-3.0, -1.0, 0.5, 1.0, 2.0, 9.0])

    def ref(v, alpha, max_value, threshold):
        # Keras 2 backend relu, branch by branch
        if max_value is not None and v >= max_value:
            return max_value
        if v > threshold:
            return v if max_value is None else min(max(v, 0.0), max_value)
        return alpha * (v - threshold)

    for alpha, max_value, threshold in [(0.1, None, 0.0), (0.0, 6.0, 0.0), (0.2, 6.0, 1.0),
                                        (0.0, None, 1.0), (0.5, 1.5, -2.0)]:
        got = activations.relu(x, alpha=alpha, max_value=max_value, threshold=threshold)
        want = [ref(v, alpha, max_value, threshold) for v in x]
        np.testing.assert_allclose(got, want, err_msg=f"{alpha}, {max_value}, {threshold}")


def test_elu_alpha_and_extremes_do_not_overflow():
    np.testing.assert_allclose(activations.elu(np.array([-2.0]), alpha=0.5), [0.5 * math.expm1(-2.0)])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        big = np.array([-800.0, 800.0])
        np.testing.assert_array_equal(activations.sigmoid(big), [0.0, 1.0])
        np.testing.assert_allclose(activations.softplus(big), [0.0, 800.0])


@settings(max_examples=30)
@given(st.lists(st.floats(-30, 30), min_size=1, max_size=8))
def test_activation_laws(values):
    x = np.array(values)
    np.testing.assert_allclose(activations.sigmoid(x) + activations.sigmoid(-x), 1.0, rtol=1e-12)
    np.testing.assert_allclose(activations.softmax(x[None, :]).sum(), 1.0, rtol=1e-12)
    assert np.all(np.abs(activations.softsign(x)) < 1)
    np.testing.assert_allclose(activations.relu(x) - activations.relu(-x), x)


def test_activation_get_and_serialize():
    assert activations.get(None) is activations.linear
    assert activations.get("relu") is activations.relu
    fn = np.abs
    assert activations.get(fn) is fn
    assert activations.serialize(activations.tanh) == "tanh"
    assert activations.name_of(activations.relu) == "relu" and activations.name_of(fn) is None
    with pytest.raises(ValueError, match="Unknown activation function: 'relux'"):
        activations.get("relux")
    with pytest.raises(ValueError, match="Could not interpret"):
        activations.get(3)
