"""Folded models on the CuPy plugin (emulated CUDA kernels on the CPU): a conv (or a
depthwise conv) -> BatchNormalization -> ReLU chain equals the unfolded NumPy layers, and
runs as ONE kernel launch where the kernel fuses the whole epilogue (igemm.cu), else as
two: the convolution (bias fused) and one channel-epilogue launch for the batch norm and
the activation together (conv_nd.cu and depthwise.cu fuse only a bias and a relu).

The model runs on NumPy arrays routed to the CuPy plugin (``emulated``, as in
test_cupy_ops_emulated.py); the reference is the same model on the NumPy plugin with
folding turned off, layer by layer.
"""

import numpy as np
import pytest

from cthulhu import layers
from cthulhu.engine import fusion
from cthulhu.models import Pile
from tests.kernels.test_cupy_ops_emulated import emulated  # noqa: F401  (fixture)
from tests.support import fake_cupy


@pytest.mark.parametrize(("kind", "launches"), [
    ("conv", ["cthulhu_igemm_ndhwc<"]),
    ("depthwise", ["cthulhu_depthwise_cl<", "cthulhu_channel_epilogue_nhwc<"]),
    ("conv3d_first", ["cthulhu_conv_nd_ncdhw<", "cthulhu_channel_epilogue_nchw<"])])
def test_folded_chain_launches(emulated, kind, launches):  # noqa: F811
    rng = np.random.default_rng(2)
    if kind == "conv":
        shape, producer = (2, 6, 5, 4), layers.Cthalpa2D(8, 3, padding="same")
        activation, axis = layers.ReLU(), -1
    elif kind == "depthwise":
        shape, producer = (2, 6, 5, 4), layers.DepthwiseCthalpa2D(3, padding="same")
        activation, axis = layers.ReLU(max_value=6.0), -1
    else:
        shape = (1, 3, 4, 5, 4)
        producer = layers.Cthalpa3D(4, 2, data_format="channels_first")
        activation, axis = layers.LeakyReLU(0.1), 1
    bn = layers.BatchNormalization(axis=axis)
    model = Pile([layers.InputLayer(input_shape=shape[1:]), producer, bn, activation])
    producer.set_weights([rng.standard_normal(w.shape).astype(np.float32)
                          for w in producer.get_weights()])
    n = bn.get_weights()[0].shape[0]
    bn.set_weights([rng.uniform(0.5, 2, n), rng.standard_normal(n), rng.standard_normal(n),
                    rng.uniform(1e-5, 1, n)])
    x = rng.standard_normal(shape).astype(np.float32)
    with fusion.folding(False):
        want = np.asarray(model(x))
    fake_cupy.FakeRawModule.launched.clear()
    with emulated:
        got = np.asarray(model(x))
    launched = fake_cupy.FakeRawModule.launched
    assert len(launched) == len(launches), launched
    assert all(got.startswith(want) for got, want in zip(launched, launches, strict=True))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
