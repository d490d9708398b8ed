"""GaussianNoise, GaussianDropout and AlphaDropout: identity at inference, real noise in training.

The training noise is checked by its statistics (moments within a few standard
errors of the Keras 2 formulas, worked out here by hand), AlphaDropout's
output element by element against the formula applied with the layer's own
kept/dropped pattern (recovered from the output), and seeds: the same seed
gives the same noise on NumPy, array-api-strict (second device) and Dask, and
the k-th training call of a seeded layer draws new noise.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers
from tests.support.layer_devices import devices_for, run

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@pytest.mark.parametrize("make", [lambda: layers.GaussianNoise(0.3),
                                  lambda: layers.GaussianDropout(0.4),
                                  lambda: layers.AlphaDropout(0.2, noise_shape=(None, 1))])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_identity_at_inference_on_every_device(make, dtype):
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(dtype)
    layer = make()
    for device in devices_for(dtype):
        np.testing.assert_array_equal(run(layer, x, device), x)


@settings(max_examples=20, deadline=None)
@given(stddev=st.floats(0.05, 3.0), dtype=st.sampled_from(["float32", "float64"]),
       seed=st.integers(0, 1000))
def test_gaussian_noise_moments(stddev, dtype, seed):
    x = np.full((80, 50), 2.0, dtype=dtype)
    noise = layers.GaussianNoise(stddev, seed=seed)(x, training=True).astype(np.float64) - 2.0
    n = noise.size
    assert abs(noise.mean()) < 5 * stddev / math.sqrt(n)
    assert abs(noise.std() - stddev) < 5 * stddev / math.sqrt(2 * n) + 1e-6


@settings(max_examples=20, deadline=None)
@given(rate=st.floats(0.05, 0.9), dtype=st.sampled_from(["float32", "float64"]),
       seed=st.integers(0, 1000))
def test_gaussian_dropout_moments(rate, dtype, seed):
    x = np.full((80, 50), 3.0, dtype=dtype)
    factor = layers.GaussianDropout(rate, seed=seed)(x, training=True).astype(np.float64) / 3
    spread = math.sqrt(rate / (1 - rate))        # Keras 2's standard deviation
    n = factor.size
    assert abs(factor.mean() - 1.0) < 5 * spread / math.sqrt(n)
    assert abs(factor.std() - spread) < 5 * spread / math.sqrt(2 * n)


@settings(max_examples=20, deadline=None)
@given(rate=st.floats(0.05, 0.8), seed=st.integers(0, 1000))
def test_alpha_dropout_is_keras2_formula(rate, seed):
    x = np.random.default_rng(seed).normal(size=(60, 40))
    y = layers.AlphaDropout(rate, seed=seed)(x, training=True)
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    dropped_value = a * alpha_p + b
    kept = ~np.isclose(y, dropped_value, rtol=0, atol=1e-12)
    np.testing.assert_allclose(y[kept], a * x[kept] + b, rtol=1e-12)
    assert abs((~kept).mean() - rate) < 5 * math.sqrt(rate * (1 - rate) / y.size)
    # the correction keeps a standard normal input at mean 0 and variance 1
    assert abs(y.mean()) < 0.1 and abs(y.std() - 1.0) < 0.1


def test_alpha_dropout_noise_shape_shares_the_draw():
    y = layers.AlphaDropout(0.5, noise_shape=(None, 1, 4), seed=3)(
        np.random.default_rng(0).normal(size=(5, 6, 4)), training=True)
    rate, alpha_p = 0.5, -SELU_ALPHA * SELU_SCALE
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    dropped = np.isclose(y, a * alpha_p - a * alpha_p * rate)
    assert all((dropped[:, t] == dropped[:, 0]).all() for t in range(6))
    assert 0 < dropped.mean() < 1
    with pytest.raises(ValueError, match="AlphaDropout 'ad'.*noise_shape"):
        layers.AlphaDropout(0.5, noise_shape=(5, 2, 4), name="ad")(np.ones((5, 6, 4)),
                                                                    training=True)


@pytest.mark.parametrize("make", [lambda: layers.GaussianNoise(0.5, seed=4),
                                  lambda: layers.GaussianDropout(0.5, seed=4),
                                  lambda: layers.AlphaDropout(0.5, seed=4)])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_seeds_give_the_same_noise_on_every_device(make, dtype):
    x = np.random.default_rng(1).normal(size=(4, 6)).astype(dtype)
    results = {device: run(make(), x, device, training=True) for device in devices_for(dtype)}
    for device, y in results.items():
        np.testing.assert_array_equal(y, results["numpy"], err_msg=device)
    layer = make()
    first, second = layer(x, training=True), layer(x, training=True)
    assert not np.array_equal(first, second)            # a new draw each training call
    np.testing.assert_array_equal(first, results["numpy"])


def test_rate_zero_and_bad_arguments():
    x = np.ones((2, 3))
    assert layers.GaussianDropout(0.0)(x, training=True) is x
    assert layers.AlphaDropout(0.0)(x, training=True) is x
    with pytest.raises(ValueError, match="GaussianNoise 'g1'.*stddev"):
        layers.GaussianNoise(-1.0, name="g1")
    with pytest.raises(ValueError, match="GaussianNoise 'g2'.*finite"):
        layers.GaussianNoise(float("inf"), name="g2")
    with pytest.raises(ValueError, match="GaussianDropout 'g3'.*rate"):
        layers.GaussianDropout(1.0, name="g3")
    with pytest.raises(TypeError, match="AlphaDropout 'g4'.*seed"):
        layers.AlphaDropout(0.5, seed=1.5, name="g4")
    with pytest.raises(ValueError, match="AlphaDropout 'g5'.*noise_shape"):
        layers.AlphaDropout(0.5, noise_shape=(0, 1), name="g5")
    with pytest.raises(TypeError, match="GaussianNoise 'g6'.*floating"):
        layers.GaussianNoise(0.1, name="g6")(np.ones((2, 3), dtype=np.int32))


def test_noise_ops_examples_and_draws():
    import doctest

    from cthulhu.ops import noise, random

    assert doctest.testmod(noise).failed == 0
    x = np.ones((5, 7), dtype=np.float32)
    # keep_mask draws what dropout_mask draws for one seed: 1 where dropout keeps a unit
    np.testing.assert_array_equal(noise.keep_mask(x, (5, 7), 0.4, seed=9) != 0,
                                  random.dropout_mask(x, (5, 7), 0.4, seed=9) != 0)
    assert noise.normal(x, (5, 7), seed=1).dtype == np.float32
    with pytest.raises(ValueError, match="keep_mask: rate"):
        noise.keep_mask(x, (5, 7), 1.0)
