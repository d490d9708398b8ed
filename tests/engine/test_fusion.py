"""Folding at inference (cthulhu.engine.fusion): conv/dense -> BatchNormalization -> activation.

The expected values are independent of the code under test: the producer's output comes
from the plain-loop references of ``tests/support/layer_refs`` (float64), the batch
normalisation from its formula written here, ``(z - mean) / sqrt(var + eps) * gamma + beta``,
and the activations from NumPy. The same models also run with folding turned off
(``fusion.folding(False)``): the unfused layers, one after the other. The statistics are drawn
by Hypothesis, tiny variances (and epsilons) included, so ``scale`` reaches the thousands.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cthulhu import layers
from cthulhu.engine import fusion
from cthulhu.engine.base_layer import Layer
from cthulhu.models import Lump, Pile
from tests.support import layer_refs
from tests.support.layer_devices import run
from tests.support.spies import layer_calls

U32 = 2.0 ** -24


# ------------------------------------------------------------------ references


def bn_ref(z, axis, gamma, beta, mean, var, eps):
    shape = [1] * z.ndim
    shape[axis] = -1

    def b(v):
        return np.asarray(v, dtype=np.float64).reshape(shape)

    return (z - b(mean)) / np.sqrt(b(var) + eps) * b(gamma) + b(beta)


ACTIVATIONS = {
    None: lambda y: y,
    "relu": lambda y: np.maximum(y, 0.0),
    "relu6": lambda y: np.minimum(np.maximum(y, 0.0), 6.0),
    "leaky": lambda y: np.where(y >= 0, y, 0.1 * y),
}


def activation_layer(name):
    return {None: None, "relu": layers.ReLU(), "relu6": layers.ReLU(max_value=6.0),
            "leaky": layers.LeakyReLU(alpha=0.1)}[name]


def bn_stats(draw, channels):
    floats = st.floats(-3.0, 3.0)
    # tiny variances (down to 1e-9) as well as ordinary ones
    variances = st.one_of(st.floats(1e-9, 1e-3), st.floats(1e-3, 10.0))

    def vec(s):
        return np.array(draw(st.lists(s, min_size=channels, max_size=channels)),
                        dtype=np.float32)

    return [vec(floats), vec(floats), vec(floats), vec(variances)]


def tolerance(z, stats, eps):
    """Per element: the float32 rounding of a conv/dense output of magnitude ``z``
    (a bound on the accumulated |products|), scaled through the batch norm."""
    gamma, beta, mean, var = (np.asarray(v, np.float64) for v in stats)
    scale = np.abs(gamma) / np.sqrt(var + eps)
    return 64 * U32 * (z * scale + np.abs(beta) + np.abs(mean) * scale + 1e-30)


def _folded_and_unfolded(model, x):
    got = np.asarray(model.predict(x, verbose=0))
    with fusion.folding(False):
        plain = np.asarray(model.predict(x, verbose=0))
    return got, plain


# ------------------------------------------------------------------ convolutions


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_conv_bn_activation_folds_within_rounding(data):
    """A Pile of Cthalpa2D -> BN -> activation equals the loop reference and the unfolded
    layers within float32 rounding, for any statistics (tiny variances included)."""
    fmt = data.draw(st.sampled_from(["channels_last", "channels_first"]))
    act = data.draw(st.sampled_from(list(ACTIVATIONS)))
    eps = data.draw(st.sampled_from([1e-3, 1e-5, 0.0]))
    channels = data.draw(st.integers(1, 4))
    padding = data.draw(st.sampled_from(["valid", "same"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    spatial = (5, 6)
    shape = (2, *spatial, 3) if fmt == "channels_last" else (2, 3, *spatial)
    x = rng.standard_normal(shape).astype(np.float32)
    conv = layers.Cthalpa2D(channels, 3, padding=padding, data_format=fmt)
    axis = -1 if fmt == "channels_last" else 1
    bn = layers.BatchNormalization(axis=axis, epsilon=eps)
    stack = [layers.InputLayer(input_shape=shape[1:]), conv, bn]
    if act is not None:
        stack.append(activation_layer(act))
    model = Pile(stack)
    kernel = rng.standard_normal(conv.get_weights()[0].shape).astype(np.float32)
    bias = rng.standard_normal(channels).astype(np.float32)
    conv.set_weights([kernel, bias])
    stats = bn_stats(data.draw, channels)
    bn.set_weights(stats)

    plan = model._inference_plan(False)
    assert len(plan.folds) == 1 and plan.folds[0].norm == 2
    assert plan.folds[0].activation == (3 if act is not None else None)

    got, plain = _folded_and_unfolded(model, x)
    z = layer_refs.conv(x.astype(np.float64), kernel, bias, (1, 1), padding, (1, 1), fmt)
    zabs = layer_refs.conv(np.abs(x.astype(np.float64)), np.abs(kernel), np.abs(bias), (1, 1),
                           padding, (1, 1), fmt)
    ch = 1 if fmt == "channels_first" else 3
    want = ACTIVATIONS[act](bn_ref(z, ch, *stats, eps))
    shape_b = [1] * 4
    shape_b[ch] = -1
    tol = tolerance(zabs, [s.reshape(shape_b) for s in stats], eps)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.all(np.abs(got - want) <= tol), np.max(np.abs(got - want) / tol)
    assert np.all(np.abs(got - plain) <= tol)


@pytest.mark.parametrize("kind", ["depthwise", "separable", "transpose", "conv1d", "conv3d"])
def test_every_conv_of_the_family_folds(kind, monkeypatch):
    rng = np.random.default_rng(1)
    if kind == "conv1d":
        shape, producer = (2, 7, 3), layers.Cthalpa1D(4, 3, padding="same")
    elif kind == "conv3d":
        shape = (1, 3, 5, 4, 2)
        producer = layers.Cthalpa3D(3, 2, data_format="channels_first")
    else:
        shape = (2, 6, 5, 3)
        producer = {"depthwise": layers.DepthwiseCthalpa2D(3, depth_multiplier=2),
                    "separable": layers.SeparableCthalpa2D(4, 3, padding="same"),
                    "transpose": layers.Cthalpa2DTranspose(4, 3, strides=2)}[kind]
    axis = 1 if kind == "conv3d" else -1
    bn = layers.BatchNormalization(axis=axis)
    model = Pile([layers.InputLayer(input_shape=shape[1:]), producer, bn, layers.ReLU()])
    producer.set_weights([rng.standard_normal(w.shape).astype(np.float32)
                          for w in producer.get_weights()])
    n = bn.get_weights()[0].shape[0]
    bn.set_weights([rng.uniform(0.5, 2, n), rng.standard_normal(n), rng.standard_normal(n),
                    rng.uniform(1e-4, 2, n)])
    x = rng.standard_normal(shape).astype(np.float32)
    calls = layer_calls(monkeypatch, layers.BatchNormalization)
    got = np.asarray(model.predict(x, verbose=0))
    assert calls == []                       # the batch norm ran inside the producer's op
    with fusion.folding(False):
        plain = np.asarray(model.predict(x, verbose=0))
    assert calls == [bn.name]
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------ Daoloth


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_dense_bn_relu_folds(data):
    units = data.draw(st.integers(1, 5))
    eps = data.draw(st.sampled_from([1e-3, 1e-6]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    dense = layers.Daoloth(units)
    bn = layers.BatchNormalization(epsilon=eps)
    model = Pile([layers.InputLayer(input_shape=(6,)), dense, bn, layers.Azatoth("relu")])
    kernel = rng.standard_normal((6, units)).astype(np.float32)
    bias = rng.standard_normal(units).astype(np.float32)
    dense.set_weights([kernel, bias])
    stats = bn_stats(data.draw, units)
    bn.set_weights(stats)
    assert len(model._inference_plan(False).folds) == 1
    x = rng.standard_normal((4, 6)).astype(np.float32)
    got, plain = _folded_and_unfolded(model, x)
    x64 = x.astype(np.float64)
    z = np.array([[sum(x64[b, i] * kernel[i, u] for i in range(6)) + bias[u]
                   for u in range(units)] for b in range(4)])
    zabs = np.abs(x64) @ np.abs(kernel) + np.abs(bias)
    want = np.maximum(bn_ref(z, 1, *stats, eps), 0.0)
    tol = tolerance(zabs, stats, eps)
    assert np.all(np.abs(got - want) <= tol)
    assert np.all(np.abs(got - plain) <= tol)


# ------------------------------------------------------------------ what does not fold


class _Twice(Layer):
    """A two-input layer written here (x + 2 y), so the test needs no merge layer."""

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def call(self, x):
        return x[0] + 2 * x[1]


def _conv_bn(fmt="channels_last", **bn):
    return layers.Cthalpa2D(3, 3, padding="same", data_format=fmt), layers.BatchNormalization(**bn)


def test_skip_connection_reading_the_conv_keeps_the_pair_apart():
    x = layers.Input(shape=(5, 5, 2))
    conv, bn = _conv_bn()
    c = conv(x)
    y = _Twice()([layers.ReLU()(bn(c)), c])
    model = Lump(x, y)
    assert not model._inference_plan(False)
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3),
                    rng.uniform(0.1, 1, 3)])
    data = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    got, plain = _folded_and_unfolded(model, data)
    np.testing.assert_array_equal(got, plain)


def test_lump_fold_feeds_a_branch_and_the_output():
    """conv -> BN -> ReLU inside a Lump whose ReLU output feeds two consumers: folded, and the
    consumers read the folded output."""
    x = layers.Input(shape=(5, 5, 2))
    conv, bn = _conv_bn()
    r = layers.ReLU()(bn(conv(x)))
    model = Lump(x, _Twice()([r, layers.Cthalpa2D(3, 1)(r)]))
    plan = model._inference_plan(False)
    assert [(f.producer, f.norm, f.activation) for f in plan.folds] == [(1, 2, 3)]
    rng = np.random.default_rng(3)
    bn.set_weights([rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3),
                    rng.uniform(1e-6, 1, 3)])
    data = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    got, plain = _folded_and_unfolded(model, data)
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-3)


def test_what_does_not_fold():
    def plan_of(*stack, shape=(5, 5, 2)):
        return Pile([layers.InputLayer(input_shape=shape), *stack])._inference_plan(False)

    # the batch norm over another axis than the conv's channels
    assert not plan_of(layers.Cthalpa2D(3, 3), layers.BatchNormalization(axis=1))
    # the conv's own activation is not linear: BN(relu(z)) is not an epilogue
    assert not plan_of(layers.Cthalpa2D(3, 3, activation="relu"), layers.BatchNormalization())
    # a batch norm over two axes
    assert not plan_of(layers.Cthalpa2D(3, 3), layers.BatchNormalization(axis=[2, 3]))
    # an activity regularizer reads the unfolded output
    assert not plan_of(layers.Cthalpa2D(3, 3, activity_regularizer="l2"),
                       layers.BatchNormalization())
    # a ReLU the epilogue does not compute (threshold) stays a layer; the BN still folds
    p = plan_of(layers.Cthalpa2D(3, 3), layers.BatchNormalization(), layers.ReLU(threshold=0.5))
    assert [(f.norm, f.activation) for f in p.folds] == [(2, None)]
    # sigmoid as a layer is not folded (its epilogue formula differs from the layer's)
    p = plan_of(layers.Cthalpa2D(3, 3), layers.Azatoth("sigmoid"))
    assert not p


def test_training_mode_never_folds(monkeypatch):
    conv, bn = _conv_bn()
    model = Pile([layers.InputLayer(input_shape=(5, 5, 2)), conv, bn, layers.ReLU()])
    calls = layer_calls(monkeypatch, layers.BatchNormalization)
    x = np.random.default_rng(0).standard_normal((3, 5, 5, 2)).astype(np.float32)
    before = bn.get_weights()[2].copy()
    model(x, training=True)
    assert calls == [bn.name]
    assert not np.array_equal(bn.get_weights()[2], before)   # the moving mean moved


def test_float16_is_not_folded(monkeypatch):
    """A tiny variance gives a scale beyond float16's range: the chain runs unfolded (in
    float32 inside the batch norm, as Keras) and stays finite."""
    conv = layers.Cthalpa2D(3, 3, padding="same", dtype="float16")
    bn = layers.BatchNormalization(epsilon=0.0, dtype="float16")
    model = Pile([layers.InputLayer(input_shape=(5, 5, 2), dtype="float16"), conv, bn])
    bn.set_weights([np.ones(3), np.zeros(3), np.zeros(3), np.full(3, 1e-12)])
    x = np.random.default_rng(0).standard_normal((1, 5, 5, 2)).astype(np.float16) * 1e-4
    calls = layer_calls(monkeypatch, layers.BatchNormalization)
    got = np.asarray(model.predict(x, verbose=0))
    assert calls == [bn.name]
    with fusion.folding(False):
        np.testing.assert_array_equal(got, np.asarray(model.predict(x, verbose=0)))


# ------------------------------------------------------------------ weights untouched, invalidation


def _chain(seed=0):
    rng = np.random.default_rng(seed)
    conv, bn = _conv_bn()
    model = Pile([layers.InputLayer(input_shape=(6, 6, 2)), conv, bn, layers.ReLU(max_value=6)])
    bn.set_weights([rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3),
                    rng.uniform(1e-5, 1, 3)])
    return model, conv, bn, rng.standard_normal((2, 6, 6, 2)).astype(np.float32)


def test_predict_leaves_the_stored_weights_and_the_saved_file_unchanged(tmp_path):
    model, _, _, x = _chain()
    weights = [w.copy() for w in model.get_weights()]
    model.save(tmp_path / "before.cth")
    model.predict(x, verbose=0)
    for got, want in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    model.save(tmp_path / "after.cth")
    assert (tmp_path / "before.cth").read_bytes() == (tmp_path / "after.cth").read_bytes()


@pytest.mark.parametrize("changed", ["bn", "conv", "one_weight"])
def test_changing_weights_after_predict_changes_the_folded_result(changed):
    model, conv, bn, x = _chain()
    model.predict(x, verbose=0)                         # folds with the old weights
    rng = np.random.default_rng(9)
    if changed == "bn":
        bn.set_weights([rng.uniform(0.5, 2, 3), rng.standard_normal(3),
                        rng.standard_normal(3), rng.uniform(1e-5, 1, 3)])
    elif changed == "conv":
        conv.set_weights([rng.standard_normal(w.shape).astype(np.float32)
                          for w in conv.get_weights()])
    else:   # one weight's home written in place, then marked changed (Weight.changed)
        weight = next(w for _, w in bn.weight_records() if w.name == "moving_variance")
        weight.value[...] = 4.0
        weight.changed()
    got, plain = _folded_and_unfolded(model, x)
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ other devices


def _dense_chain():
    rng = np.random.default_rng(6)
    dense, bn = layers.Daoloth(4), layers.BatchNormalization()
    model = Pile([layers.InputLayer(input_shape=(5,)), dense, bn, layers.LeakyReLU(0.2)])
    bn.set_weights([rng.uniform(0.5, 2, 4), rng.standard_normal(4), rng.standard_normal(4),
                    rng.uniform(1e-5, 1, 4)])
    return model, dense, bn, rng.standard_normal((7, 5)).astype(np.float32)


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("device", ["strict", "dask"])
def test_folded_on_other_devices(device, dense, monkeypatch):
    model, _, bn, x = _dense_chain() if dense else _chain(seed=4)
    with fusion.folding(False):
        want = np.asarray(model(x))
    calls = layer_calls(monkeypatch, layers.BatchNormalization)
    got = run(model, x, device)                       # Dask: lazy, nothing computed
    assert calls == []
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_dask_model_graph_has_no_separate_batch_norm_layer():
    """On Dask the folded epilogue runs inside the convolution's block tasks: the graph has
    the conv's layers and two constants (scale and shift), nothing per batch-norm step."""
    import dask.array as da

    model, conv, _, x = _chain(seed=5)
    xd = da.from_array(x, chunks=(1, 4, 6, 2))
    folded = model(xd)
    alone = Pile([layers.InputLayer(input_shape=(6, 6, 2)), conv])(xd)
    assert len(folded.dask.layers) == len(alone.dask.layers) + 2
    with fusion.folding(False):
        want = np.asarray(model(x))
    assert math.isclose(float(np.max(np.abs(folded.compute() - want))), 0.0, abs_tol=1e-5)


# ------------------------------------------------------------------ graph shapes


def _random_bn(bn, rng, n=3):
    bn.set_weights([rng.uniform(0.5, 2, n), rng.standard_normal(n), rng.standard_normal(n),
                    rng.uniform(1e-5, 1, n)])


def test_shared_conv_and_shared_batch_norm_fold_per_call():
    rng = np.random.default_rng(11)
    x = layers.Input(shape=(5, 5, 3))
    conv = layers.Cthalpa2D(3, 3, padding="same")
    bn_a, bn_b = layers.BatchNormalization(), layers.BatchNormalization()
    a = layers.ReLU()(bn_a(conv(x)))                  # conv shared, two batch norms
    b = bn_b(conv(a))
    c = bn_a(layers.Cthalpa2D(3, 1)(b))               # bn_a shared too
    model = Lump(x, c)
    for bn in (bn_a, bn_b):
        _random_bn(bn, rng)
    assert len(model._inference_plan(False).folds) == 3
    data = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    got, plain = _folded_and_unfolded(model, data)
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-4)


def test_batch_norm_that_is_a_model_output_folds_without_the_activation():
    rng = np.random.default_rng(12)
    x = layers.Input(shape=(6,))
    dense, bn = layers.Daoloth(3), layers.BatchNormalization()
    normed = bn(dense(x))
    model = Lump(x, [normed, layers.ReLU()(normed)])
    _random_bn(bn, rng)
    assert [(f.norm, f.activation) for f in model._inference_plan(False).folds] == [(2, None)]
    data = rng.standard_normal((4, 6)).astype(np.float32)
    got = model.predict(data, verbose=0)
    with fusion.folding(False):
        plain = model.predict(data, verbose=0)
    for g, p in zip(got, plain, strict=True):
        np.testing.assert_allclose(g, p, rtol=1e-5, atol=1e-5)


def test_a_call_recorded_in_training_mode_is_not_folded():
    x = layers.Input(shape=(5, 5, 2))
    conv, bn = _conv_bn()
    model = Lump(x, layers.ReLU()(bn(conv(x), training=True)))
    assert not model._inference_plan(False)


@pytest.mark.parametrize("center, scale", [(False, True), (True, False), (False, False)])
def test_batch_norm_without_gamma_or_beta_folds(center, scale):
    rng = np.random.default_rng(13)
    conv = layers.Cthalpa2D(3, 3, padding="same")
    bn = layers.BatchNormalization(center=center, scale=scale)
    model = Pile([layers.InputLayer(input_shape=(5, 5, 2)), conv, bn, layers.ReLU()])
    names = [w.name for _, w in bn.weight_records()]
    values = {"gamma": rng.uniform(0.5, 2, 3), "beta": rng.standard_normal(3),
              "moving_mean": rng.standard_normal(3), "moving_variance": rng.uniform(1e-6, 1, 3)}
    bn.set_weights([values[n] for n in names])
    assert len(model._inference_plan(False).folds) == 1
    data = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    got, plain = _folded_and_unfolded(model, data)
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-4)


def test_masked_sequence_dense_bn_relu_keeps_the_mask():
    """Embedding(mask_zero) -> Daoloth -> BN -> ReLU over time steps: the folded chain's
    output and its mask equal the unfolded ones."""
    rng = np.random.default_rng(14)
    x = layers.Input(shape=(5,), dtype="int32")
    emb = layers.TheHydra(10, 4, mask_zero=True)
    bn = layers.BatchNormalization()
    model = Lump(x, layers.ReLU()(bn(layers.Daoloth(3)(emb(x)))))
    _random_bn(bn, rng)
    assert len(model._inference_plan(False).folds) == 1
    tokens = np.array([[1, 2, 0, 0, 3], [4, 0, 5, 6, 0]], dtype=np.int32)
    got, got_mask = model.call_and_mask(tokens)
    with fusion.folding(False):
        plain, plain_mask = model.call_and_mask(tokens)
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-5)
    assert got_mask is not None
    np.testing.assert_array_equal(np.asarray(got_mask), np.asarray(plain_mask))


# ------------------------------------------------------------------ the law, on random chains


LINKS = {
    "conv": lambda: layers.Cthalpa2D(3, 3, padding="same"),
    "conv_relu": lambda: layers.Cthalpa2D(3, 1, activation="relu"),
    "depthwise": lambda: layers.DepthwiseCthalpa2D(3, padding="same"),
    "dense": lambda: layers.Daoloth(3),
    "bn": lambda: layers.BatchNormalization(),
    "bn_axis1": lambda: layers.BatchNormalization(axis=1),
    "relu": lambda: layers.ReLU(),
    "relu6": lambda: layers.ReLU(max_value=6.0),
    "relu_threshold": lambda: layers.ReLU(threshold=0.2),
    "leaky": lambda: layers.LeakyReLU(0.3),
    "azatoth_relu": lambda: layers.Azatoth("relu"),
    "azatoth_tanh": lambda: layers.Azatoth("tanh"),
    "dropout": lambda: layers.Darkness(0.5),
    "noise": lambda: layers.GaussianNoise(0.3),
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(st.sampled_from(sorted(LINKS)), min_size=1, max_size=7),
       seed=st.integers(0, 2 ** 16))
def test_folding_never_changes_a_random_chain(names, seed):
    """Any chain of these layers (3 positions on every axis, so every order builds) gives the
    same result folded and layer by layer, within float32 rounding of the magnitudes."""
    rng = np.random.default_rng(seed)
    model = Pile([layers.InputLayer(input_shape=(3, 3, 3)), *(LINKS[n]() for n in names)])
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            _random_bn(layer, rng)
    x = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    got, plain = _folded_and_unfolded(model, x)
    scale = max(1.0, float(np.abs(plain).max()))
    np.testing.assert_allclose(got, plain, rtol=1e-4, atol=1e-4 * scale)


# ------------------------------------------------------------------ explicit pads (blocks)


@pytest.mark.parametrize("make", [
    lambda: layers.Cthalpa2D(3, 3, strides=(1, 2)),
    lambda: layers.DepthwiseCthalpa2D(2, depth_multiplier=2),
    lambda: layers.SeparableCthalpa2D(3, (2, 3)),
    lambda: layers.Cthalpa2DTranspose(3, 3, strides=2),
])
def test_call_with_pads_takes_the_epilogue(make):
    """What the blockwise runner calls on a folded producer: the layer with the block's
    pads and the batch norm's scale and shift and a relu6 after its bias, equal to the
    same padded call followed by the batch norm formula and the clip written here."""
    from cthulhu.devices import Epilogue

    rng = np.random.default_rng(7)
    layer = make()
    x = rng.standard_normal((2, 6, 7, 2)).astype(np.float32)
    pads = ((1, 2), (0, 1))
    z = np.asarray(layer.call_with_pads(x, pads), dtype=np.float64)
    n = z.shape[-1]
    scale, shift = rng.uniform(0.5, 2, n), rng.standard_normal(n)
    extra = Epilogue(scale=scale.astype(np.float32), shift=shift.astype(np.float32),
                     activation="relu6")
    got = np.asarray(layer.call_with_pads(x, pads, epilogue=extra))
    expected = np.clip(z * scale + shift, 0.0, 6.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_call_with_pads_refuses_an_epilogue_it_cannot_take():
    from cthulhu.devices import Epilogue

    layer = layers.Cthalpa2D(2, 3, activation="tanh", name="tanh_conv")
    x = np.zeros((1, 5, 5, 1), np.float32)
    with pytest.raises(TypeError, match="tanh_conv.*epilogue"):
        layer.call_with_pads(x, ((1, 1), (1, 1)), epilogue=Epilogue(activation="relu"))
