"""Issue 10's per-channel layers in Dask's fused, block-by-block predict.

Batch normalisation along the channels, the element-wise activations and the
noise layers (identity at inference) are position-wise: a model of them runs
fused, block by block, lazily, with NumPy's numbers on chunks that divide
nothing. A layer that works along a spatial axis (a softmax or batch
normalisation over one, a PReLU with an alpha per pixel) must not be split:
the fused runner refuses it naming the layer, and ``model.predict`` then runs
the model layer by layer, with the same numbers.
"""

import dask.array as da
import numpy as np
import pytest

from cthulhu import layers as L
from cthulhu.blockwise import Unblockable
from cthulhu.devices.dask_ import predict
from cthulhu.models import Pile

TOL = {"rtol": 2e-5, "atol": 2e-5}


def seeded(model, seed=0):
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        weights.append(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
    model.set_weights(weights)     # positive everywhere: moving variances included
    return model


def mobilenet_block():
    return Pile([L.InputLayer(input_shape=(None, None, 3)),
                 L.Cthalpa2D(4, 3, padding="same", use_bias=False),
                 L.BatchNormalization(), L.ReLU(6.0),
                 L.DepthwiseCthalpa2D(3, padding="same", use_bias=False),
                 L.BatchNormalization(epsilon=1e-5), L.LeakyReLU(0.25),
                 L.GaussianNoise(0.3), L.AlphaDropout(0.2), L.Softmax()])


def channels_first_block():
    return Pile([L.InputLayer(input_shape=(2, None, None)),
                 L.Cthalpa2D(3, 3, strides=2, padding="same", data_format="channels_first"),
                 L.BatchNormalization(axis=1), L.PReLU(shared_axes=[2, 3]), L.ELU(0.5),
                 L.ThresholdedReLU(0.1), L.LayerNormalization(axis=1),
                 L.Softmax(axis=-3)])


@pytest.mark.parametrize("make, shape, chunks", [
    (mobilenet_block, (2, 13, 11, 3), (1, 5, 4, 3)),
    (channels_first_block, (1, 2, 14, 9), (1, 2, 5, 4)),
])
def test_per_channel_layers_run_fused(make, shape, chunks, compute_counter):
    model = seeded(make())
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    expected = model.predict(x)
    with compute_counter() as counter:
        fused = predict(model, da.from_array(x, chunks=chunks))
    assert counter.count == 0
    np.testing.assert_allclose(fused.compute(), expected, **TOL)


@pytest.mark.parametrize("layer, shape", [
    (lambda: L.Softmax(axis=1), (1, 9, 7, 2)),
    (lambda: L.BatchNormalization(axis=2), (1, 9, 7, 2)),
    (lambda: L.LayerNormalization(axis=[1, 2, 3]), (1, 9, 7, 2)),
    (lambda: L.PReLU(), (1, 9, 7, 2)),
    (lambda: L.PReLU(shared_axes=[1]), (1, 9, 7, 2)),
])
def test_layers_along_a_spatial_axis_are_not_split(layer, shape):
    model = seeded(Pile([L.InputLayer(input_shape=shape[1:]),
                         L.Cthalpa2D(2, 3, padding="same"), layer()]))
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    dx = da.from_array(x, chunks=(1, 4, 3, 2))
    name = model.layers[-1].name
    with pytest.raises(Unblockable, match=f"'{name}'.*cannot run block by block"):
        predict(model, dx)
    np.testing.assert_allclose(model.predict(dx).compute(), model.predict(x), **TOL)
