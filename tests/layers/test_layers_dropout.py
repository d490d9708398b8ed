"""Darkness and SpatialDarkness: identity at inference, real dropping in training."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers


@pytest.mark.parametrize("layer", [
    layers.Darkness(0.5), layers.SpatialDarkness1D(0.5), layers.SpatialDarkness2D(0.5),
    layers.SpatialDarkness3D(0.5)], ids=lambda layer: type(layer).__name__)
def test_identity_at_inference(layer):
    rank = getattr(layer, "rank", 2)
    x = np.random.default_rng(0).normal(size=(2,) + (3,) * rank + (4,))
    assert layer(x) is x or np.array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)


@settings(max_examples=20)
@given(rate=st.floats(0.1, 0.9), dtype=st.sampled_from([np.float32, np.float64]))
def test_darkness_training_drops_and_rescales(rate, dtype):
    x = np.ones((50, 40), dtype=dtype)
    y = layers.Darkness(rate, seed=3)(x, training=True)
    assert y.dtype == dtype
    kept = y != 0
    # every kept unit is scaled by 1 / (1 - rate); dropped ones are exactly 0
    np.testing.assert_allclose(y[kept], 1.0 / (1.0 - rate), rtol=1e-6)
    frac = 1.0 - kept.mean()
    assert abs(frac - rate) < 0.06  # 2000 Bernoulli draws: sd <= 0.011
    assert abs(y.mean() - 1.0) < 0.2  # unbiased on average


def test_darkness_seed_reproduces_masks_and_calls_differ():
    x = np.ones((4, 30))
    a, b = layers.Darkness(0.5, seed=7), layers.Darkness(0.5, seed=7)
    first_a, first_b = a(x, training=True), b(x, training=True)
    np.testing.assert_array_equal(first_a, first_b)
    second_a = a(x, training=True)
    assert not np.array_equal(first_a, second_a)  # a new mask each training call
    np.testing.assert_array_equal(second_a, b(x, training=True))


def test_darkness_noise_shape_shares_the_mask():
    x = np.ones((3, 20, 5))
    y = layers.Darkness(0.5, noise_shape=(None, 1, 5), seed=0)(x, training=True)
    for t in range(20):
        np.testing.assert_array_equal(y[:, t, :], y[:, 0, :])
    assert 0 < (y == 0).mean() < 1


def test_darkness_bad_noise_shape_names_layer():
    with pytest.raises(ValueError, match="Darkness .*noise_shape"):
        layers.Darkness(0.5, noise_shape=(3, 2))(np.ones((3, 4, 5)), training=True)
    with pytest.raises(ValueError, match="Darkness .*noise_shape"):
        layers.Darkness(0.5, noise_shape=(3, 0, 5))


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "half", None])
def test_rate_outside_0_1_names_layer(rate):
    with pytest.raises((ValueError, TypeError), match=r"Darkness .*rate"):
        layers.Darkness(rate)
    with pytest.raises((ValueError, TypeError), match=r"SpatialDarkness2D .*rate"):
        layers.SpatialDarkness2D(rate)


@pytest.mark.parametrize("rank, fmt", [(1, "channels_last"), (2, "channels_last"),
                                       (2, "channels_first"), (3, "channels_last"),
                                       (3, "channels_first")])
def test_spatial_darkness_drops_whole_feature_maps(rank, fmt):
    cls = {1: layers.SpatialDarkness1D, 2: layers.SpatialDarkness2D,
           3: layers.SpatialDarkness3D}[rank]
    kwargs = {} if rank == 1 else {"data_format": fmt}
    layer = cls(0.5, seed=11, **kwargs)
    spatial = (4,) * rank
    shape = (6, *spatial, 8) if fmt == "channels_last" else (6, 8, *spatial)
    y = layer(np.ones(shape), training=True)
    caxis = -1 if fmt == "channels_last" else 1
    y = np.moveaxis(y, caxis, -1).reshape(6, -1, 8)
    for b in range(6):
        for c in range(8):
            values = set(y[b, :, c].tolist())
            assert values in ({0.0}, {2.0})  # a whole map is dropped or kept (scaled by 2)
    assert 0 < (y == 0).mean() < 1


def test_dropout_keeps_the_input_library_device_and_dtype(xp):
    y = layers.Darkness(0.5, seed=0)(xp.asarray(np.ones((4, 5), np.float32)), training=True)
    assert y.dtype == xp.float32
    assert set(np.unique(xp.to_numpy(y))) <= {0.0, 2.0}


def test_rate_zero_is_identity_in_training():
    x = np.ones((2, 3))
    np.testing.assert_array_equal(layers.Darkness(0.0)(x, training=True), x)


def test_spatial_darkness_reads_keras_config_with_noise_shape_none():
    keras_config = {"name": "spatial_dropout2d_1", "trainable": True, "rate": 0.2,
                    "noise_shape": None, "seed": None}
    layer = layers.SpatialDarkness2D.from_config(keras_config)
    assert layer.rate == 0.2
    with pytest.raises(TypeError, match="SpatialDarkness2D.*noise_shape"):
        layers.SpatialDarkness2D(0.2, noise_shape=(1, 1, 1, 3))
