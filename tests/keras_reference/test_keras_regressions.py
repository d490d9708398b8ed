"""Regression tests for the mismatches the Keras 2.15 reference (test_keras_reference.py)
found, each checked against an independent formula rather than the fixture."""

import math

import array_api_strict as xs
import numpy as np
import pytest

from cthulhu import activations
from cthulhu.activations import _erf

POINTS = [-9.0, -6.0, -3.0001, -3.0, -2.9999, -1.5, -0.4, -1e-8, 0.0, 1e-8, 0.3, 1.0, 2.5,
          2.9999, 3.0, 3.0001, 4.2, 6.0, 9.0, 30.0]


def test_erf_matches_math_erf_in_float64():
    z = np.concatenate([np.array(POINTS), np.linspace(-7, 7, 2801)])
    want = [math.erf(v) for v in z]
    np.testing.assert_allclose(_erf(z), want, rtol=0, atol=4e-15)


def test_erf_float32_and_array_api_strict():
    z = np.linspace(-5, 5, 401, dtype=np.float32)
    got = _erf(xs.asarray(z))
    assert got.dtype == xs.float32
    want = [math.erf(float(v)) for v in z]
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name_or_fn", ["gelu", activations.gelu])
def test_gelu_is_exact_by_default_as_in_keras2(name_or_fn):
    """Keras 2 (TF >= 2.4) 'gelu' is 0.5 x (1 + erf(x / sqrt 2)), not the tanh form.

    Found by the Keras 2.15 reference: cthulhu used the tanh approximation
    (errors up to 4e-4) and refused approximate=False.
    """
    fn = activations.get(name_or_fn)
    x = np.array(POINTS)
    want = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in POINTS]
    np.testing.assert_allclose(fn(x), want, rtol=1e-13, atol=1e-15)


def test_gelu_approximate_keeps_the_tanh_form():
    x = np.array(POINTS[:-1])
    want = [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
            for v in x]
    np.testing.assert_allclose(activations.gelu(x, approximate=True), want, rtol=1e-13,
                               atol=1e-15)


@pytest.mark.parametrize("target", [(2, 6), (6, 2), (4, 3), (-1,), (3, 2, 2), (-1, 2, 2)])
def test_reshape_regroups_axes_of_a_chunked_dask_array(target):
    """Found by running the Keras reference through Dask: Reshape((2, 6)) on a (3, 4)
    sample raised Dask's NotImplementedError (it only merges or evenly splits axes)."""
    da = pytest.importorskip("dask.array")
    from cthulhu.layers import Reshape

    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    y = Reshape(target)(da.from_array(x, chunks=(1, 2, 3)))
    assert type(y).__module__.startswith("dask")
    want = x.reshape((2, *target))
    np.testing.assert_array_equal(y.compute(), want)


def test_keras215_activation_names_exist():
    """Found by the Keras 2.15 reference: 'mish', 'relu6', 'log_softmax' and 'silu'
    (Keras 2.15's activations.get names) were unknown to cthulhu."""
    x = [-7.0, -1.0, 0.0, 0.5, 3.0, 8.0]
    arr = np.array([x])

    def softplus(v):
        return math.log1p(math.exp(v))

    np.testing.assert_allclose(activations.get("relu6")(arr)[0], [min(max(v, 0), 6) for v in x])
    np.testing.assert_allclose(activations.get("mish")(arr)[0],
                               [v * math.tanh(softplus(v)) for v in x], rtol=1e-13)
    total = math.log(sum(math.exp(v) for v in x))
    np.testing.assert_allclose(activations.get("log_softmax")(arr)[0], [v - total for v in x],
                               rtol=1e-13)
    assert activations.get("silu") is activations.swish
    big = np.array([[1000.0, 0.0]])  # stable: no overflow in exp
    np.testing.assert_allclose(activations.log_softmax(big), [[0.0, -1000.0]])
    y = activations.get("mish")(xs.asarray(arr, dtype=xs.float32))
    assert y.dtype == xs.float32
