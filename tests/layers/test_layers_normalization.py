"""BatchNormalization and LayerNormalization against plain-loop references, on every device.

The references below walk every element with Python loops and ``math``: each
output position finds its channel (batch norm) or its group of positions (layer
norm) by hand, and the statistics are sums over explicit index lists. They
share nothing with the layers' code. Configurations (rank, axes, dtype,
center/scale, epsilon, momentum) are drawn by Hypothesis; each runs on NumPy,
array-api-strict (second device) and Dask (odd chunks, nothing computed at
call time).
"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers
from tests.support.layer_devices import assert_matches, devices_for, run

# ------------------------------------------------------------------ loop references


def _positions(shape):
    return itertools.product(*(range(n) for n in shape))


def _key(index, axes):
    return tuple(index[a] for a in axes)


def bn_inference_ref(x, axes, gamma, beta, mean, var, eps):
    """Each element uses the statistics of its own position along ``axes``."""
    out = np.empty(x.shape)
    for index in _positions(x.shape):
        k = _key(index, axes)
        y = (float(x[index]) - mean[k]) / math.sqrt(var[k] + eps)
        out[index] = y * (gamma[k] if gamma is not None else 1.0) + (
            beta[k] if beta is not None else 0.0)
    return out


def batch_statistics(x, axes):
    """Per position along ``axes``: the mean, the biased variance, and the count."""
    groups = {}
    for index in _positions(x.shape):
        groups.setdefault(_key(index, axes), []).append(float(x[index]))
    stats = {}
    for k, values in groups.items():
        n = len(values)
        mean = sum(values) / n
        stats[k] = (mean, sum((v - mean) ** 2 for v in values) / n, n)
    return stats


def ln_ref(x, axes, gamma, beta, eps):
    """Each sample's group of positions (the other axes fixed) is normalised on its own."""
    others = [a for a in range(x.ndim) if a not in axes]
    out = np.empty(x.shape)
    groups = {}
    for index in _positions(x.shape):
        groups.setdefault(_key(index, others), []).append(index)
    for members in groups.values():
        values = [float(x[i]) for i in members]
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / len(values)
        for i in members:
            k = _key(i, axes)
            y = (float(x[i]) - mean) / math.sqrt(var + eps)
            out[i] = y * (gamma[k] if gamma is not None else 1.0) + (
                beta[k] if beta is not None else 0.0)
    return out


def _as_table(weight, axes):
    """A batch-norm weight as {position along axes: value}: shape (C,) for one axis, the
    input's rank with 1 on the other axes for several."""
    if weight is None:
        return None
    if weight.ndim == len(axes):
        return {k: float(weight[k]) for k in _positions(weight.shape)}
    return {_key(index, axes): float(weight[index]) for index in _positions(weight.shape)}


# ------------------------------------------------------------------ drawn configurations

@st.composite
def normalization_cases(draw, layer_norm=False):
    rank = draw(st.integers(2, 5))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    count = draw(st.integers(1, rank - 1))
    axes = draw(st.permutations(range(1, rank)))[:count]
    spelled = [a - rank if draw(st.booleans()) else a for a in axes]
    axis = spelled[0] if count == 1 and draw(st.booleans()) else list(spelled)
    dtype = draw(st.sampled_from(["float16", "float32", "float64"]))
    config = {"axis": axis, "epsilon": draw(st.sampled_from([1e-3, 0.1, 1e-5])),
              "center": draw(st.booleans()), "scale": draw(st.booleans())}
    if not layer_norm:
        config["momentum"] = draw(st.sampled_from([0.99, 0.9, 0.5]))
    seed = draw(st.integers(0, 2**16))
    return shape, sorted(a % rank for a in axes), config, dtype, seed


def _weights(layer, rng):
    """Random weights; positive moving variances."""
    return [rng.uniform(0.5, 1.5, w.value.shape) if "variance" in w.name
            else rng.normal(size=w.value.shape) for w in layer._weights]


def _named(layer):
    names = [w.name for w in layer._weights]
    return dict(zip(names, layer.get_weights(), strict=True))


@settings(max_examples=40, deadline=None)
@given(normalization_cases())
def test_batch_normalization_inference_matches_loops(case):
    shape, axes, config, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 2.0, shape).astype(dtype)
    layer = layers.BatchNormalization(**config)
    layer.build(shape)
    layer.set_weights(_weights(layer, rng))
    w = _named(layer)
    table = {name: _as_table(w.get(name), axes)
             for name in ("gamma", "beta", "moving_mean", "moving_variance")}
    want = bn_inference_ref(x.astype(np.float64), axes, table["gamma"], table["beta"],
                            table["moving_mean"], table["moving_variance"], config["epsilon"])
    for device in devices_for(dtype):
        assert_matches(run(layer, x, device), want, dtype)


@settings(max_examples=40, deadline=None)
@given(normalization_cases())
def test_batch_normalization_training_matches_loops(case):
    """Output with the batch statistics, and the moving update with Keras 2's variance rule."""
    shape, axes, config, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 2.0, shape).astype(dtype)
    for device in devices_for(dtype):
        layer = layers.BatchNormalization(**config)
        layer.build(shape)
        layer.set_weights(_weights(layer, np.random.default_rng(seed)))
        w = _named(layer)
        stats = batch_statistics(x.astype(np.float64), axes)
        ndim = len(shape)
        # Keras 2's fused kernel (rank 4/5, the channels axis, not float64) is unbiased
        fused = ndim in (4, 5) and len(axes) == 1 and axes[0] in (1, ndim - 1)
        means = {k: s[0] for k, s in stats.items()}
        variances = {k: s[1] for k, s in stats.items()}
        want = bn_inference_ref(x.astype(np.float64), axes,
                                _as_table(w.get("gamma"), axes),
                                _as_table(w.get("beta"), axes), means, variances,
                                config["epsilon"])
        assert_matches(run(layer, x, device, training=True), want, dtype)
        momentum = config["momentum"]
        after = _named(layer)
        old_mean = _as_table(w["moving_mean"], axes)
        old_var = _as_table(w["moving_variance"], axes)
        new_mean = _as_table(after["moving_mean"], axes)
        new_var = _as_table(after["moving_variance"], axes)
        for k, (mean, var, n) in stats.items():
            batch_var = var * n / (n - 1) if fused and n > 1 else var
            tol = 2e-3 if dtype == "float16" else 1e-5
            assert math.isclose(new_mean[k], old_mean[k] * momentum + mean * (1 - momentum),
                                rel_tol=tol, abs_tol=tol)
            assert math.isclose(new_var[k], old_var[k] * momentum + batch_var * (1 - momentum),
                                rel_tol=tol, abs_tol=tol)


@settings(max_examples=40, deadline=None)
@given(normalization_cases(layer_norm=True))
def test_layer_normalization_matches_loops(case):
    shape, axes, config, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 2.0, shape).astype(dtype)
    layer = layers.LayerNormalization(**config)
    layer.build(shape)
    given_axes = config["axis"] if isinstance(config["axis"], list) else [config["axis"]]
    order = [a % len(shape) for a in given_axes]
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    w = _named(layer)
    # the weights are indexed in the order of the given axes (Keras: [shape[a] for a in axis])
    tables = {}
    for name in ("gamma", "beta"):
        if name in w:
            flat = np.reshape(w[name], [shape[a] for a in sorted(order)])
            tables[name] = {k: float(flat[k]) for k in _positions(flat.shape)}
        else:
            tables[name] = None
    want = ln_ref(x.astype(np.float64), axes, tables["gamma"], tables["beta"],
                  config["epsilon"])
    for device in devices_for(dtype):
        assert_matches(run(layer, x, device), want, dtype)


def test_layer_normalization_weights_follow_the_given_axis_order():
    # Keras 2: gamma has shape [shape[a] for a in axis] and is *reshaped* (not transposed)
    # to the input's axis order; the Keras reference holds such a case (ln_unsorted_axes)
    layer = layers.LayerNormalization(axis=[-1, 1])
    layer.build((2, 3, 4))
    assert [w.shape for w in layer.get_weights()] == [(4, 3), (4, 3)]


# ------------------------------------------------------------------ Keras 2 behaviours

def test_batch_normalization_folds_scale_and_shift_once():
    layer = layers.BatchNormalization()
    x = np.ones((2, 4, 4, 3), dtype=np.float32)
    calls = []
    fold = layer._fold
    layer._fold = lambda *a: calls.append(1) or fold(*a)
    first = layer(x)
    layer(x)
    assert len(calls) == 1                               # folded once for NumPy float32
    gamma, beta, mean, var = layer.get_weights()
    layer.set_weights([gamma * 2, beta, mean, var])      # new weights: folded again
    np.testing.assert_allclose(layer(x), first * 2 - beta, rtol=1e-6)
    assert len(calls) == 2
    layer(x, training=True)                              # moving statistics move ...
    layer(x)
    assert len(calls) == 3                               # ... and the fold follows them


def test_batch_normalization_not_trainable_uses_moving_statistics():
    layer = layers.BatchNormalization(trainable=False)
    x = np.random.default_rng(0).normal(5.0, 3.0, (6, 3))
    before = layer(x)
    np.testing.assert_array_equal(layer(x, training=True), before)
    np.testing.assert_array_equal(layer.get_weights()[2], np.zeros(3))


def test_batch_normalization_masked_training_uses_kept_positions():
    x = np.random.default_rng(1).normal(size=(3, 5, 2))
    mask = np.ones((3, 5), dtype=bool)
    mask[0, 1] = mask[2, 4] = False
    layer = layers.BatchNormalization(momentum=0.0)
    layer(x, training=True, mask=mask)
    kept = x[mask]                                      # (13, 2)
    np.testing.assert_allclose(layer.get_weights()[2], kept.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(layer.get_weights()[3], kept.var(axis=0), rtol=1e-6)


def test_batch_normalization_weights_and_errors():
    bn = layers.BatchNormalization(axis=[1, 3], center=False)
    bn.build((None, 3, 4, 5))
    assert [w.shape for w in bn.get_weights()] == [(1, 3, 1, 5)] * 3
    assert [w.name for w in bn._weights] == ["gamma", "moving_mean", "moving_variance"]
    with pytest.raises(ValueError, match="BatchNormalization 'b0'.*batch axis"):
        layers.BatchNormalization(axis=0, name="b0")
    with pytest.raises(ValueError, match="BatchNormalization 'b1'.*out of range"):
        layers.BatchNormalization(axis=3, name="b1")(np.ones((2, 3)))
    with pytest.raises(ValueError, match="BatchNormalization 'b2'.*twice"):
        layers.BatchNormalization(axis=[1, -1], name="b2")(np.ones((2, 3)))
    with pytest.raises(ValueError, match="BatchNormalization 'b3'.*known size"):
        layers.BatchNormalization(name="b3").build((None, None))
    with pytest.raises(TypeError, match="BatchNormalization 'b4'.*axis"):
        layers.BatchNormalization(axis=1.5, name="b4")
    with pytest.raises(TypeError, match="BatchNormalization 'b5'.*momentum"):
        layers.BatchNormalization(momentum="fast", name="b5")
    with pytest.raises(ValueError, match="LayerNormalization 'l1'.*epsilon"):
        layers.LayerNormalization(epsilon=-1.0, name="l1")


def test_batch_normalization_refuses_other_channel_counts_once_built():
    layer = layers.BatchNormalization(name="b7")
    layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match="BatchNormalization 'b7'.*3 channels"):
        layer(np.ones((2, 4)))


def test_normalization_keeps_float16_in_float16():
    x = np.random.default_rng(2).normal(size=(4, 6)).astype(np.float16)
    for layer in (layers.BatchNormalization(), layers.LayerNormalization()):
        assert layer(x).dtype == np.float16
        assert layer(x, training=True).dtype == np.float16
    # Keras keeps a float16 layer's batch-norm weights in float32
    assert layers.BatchNormalization(dtype="float16")(x).dtype == np.float16
