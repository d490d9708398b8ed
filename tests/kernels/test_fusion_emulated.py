"""Folded models on the CuPy plugin (emulated CUDA kernels on the CPU): a convolution of
any kind -> BatchNormalization -> ReLU / ReLU(6) / LeakyReLU chain equals the unfolded
layers on the NumPy device, and runs as ONE kernel launch that was handed the batch
norm's scale and shift and the activation: igemm.cu, conv_nd.cu (what igemm.cu does not
take: channels that fill no 16-byte vector, float64, transposed convolutions of those)
and depthwise.cu (the vectorised channels_last kernel and the general one) all apply the
whole epilogue.

The model runs on NumPy arrays routed to the CuPy plugin (``emulated``, as in
test_cupy_ops_emulated.py); the reference is the same model on the NumPy plugin with
folding turned off, layer by layer.
"""

import numpy as np
import pytest

from cthulhu import layers
from cthulhu.devices.cupy_ import _launch
from cthulhu.engine import fusion
from cthulhu.models import Pile
from tests.kernels.test_cupy_ops_emulated import emulated  # noqa: F401  (fixture)
from tests.support import fake_cupy

L = layers
#: The CTHULHU_EPI_* flags a folded batch norm sets: scale and shift (bias: + 1).
EPI_SCALE_SHIFT = 2 | 4

#: (label, input shape, producer, kernel prefix): every kernel family, rank, format and
#: dtype route of the CuPy plugin's convolutions.
CASES = [
    ("conv2d igemm", (2, 6, 5, 4), np.float32,
     lambda: L.Cthalpa2D(8, 3, padding="same"), "cthulhu_igemm_ndhwc<"),
    ("conv2d dilated 3ch", (2, 9, 8, 3), np.float32,
     lambda: L.Cthalpa2D(5, 3, dilation_rate=2), "cthulhu_conv_nd_ndhwc<float,"),
    ("conv2d strides 2x3 nchw", (2, 5, 9, 10), np.float32,
     lambda: L.Cthalpa2D(6, (3, 2), strides=(2, 3), padding="same",
                         data_format="channels_first"), "cthulhu_conv_nd_ncdhw<float,"),
    ("conv1d float64 stride 3", (2, 13, 4), np.float64,
     lambda: L.Cthalpa1D(7, 3, strides=3, use_bias=False), "cthulhu_conv_nd_ndhwc<double,"),
    ("conv3d nchw", (1, 3, 4, 5, 4), np.float32,
     lambda: L.Cthalpa3D(4, 2, data_format="channels_first"), "cthulhu_conv_nd_ncdhw<float,"),
    ("conv3d float64 nchw", (1, 2, 4, 5, 3), np.float64,
     lambda: L.Cthalpa3D(3, (2, 3, 2), padding="same", data_format="channels_first"),
     "cthulhu_conv_nd_ncdhw<double,"),
    ("convT2d s2 3ch", (2, 4, 5, 3), np.float32,
     lambda: L.Cthalpa2DTranspose(5, 3, strides=2, padding="same"),
     "cthulhu_conv_transpose_nd_ndhwc<float,"),
    ("convT1d float64 nchw", (2, 3, 7), np.float64,
     lambda: L.Cthalpa1DTranspose(4, 3, strides=2, data_format="channels_first"),
     "cthulhu_conv_transpose_nd_ncdhw<double,"),
    ("depthwise1d vectorised", (2, 11, 8), np.float32,
     lambda: L.DepthwiseCthalpa1D(3, padding="same"), "cthulhu_depthwise_cl<float, 4>"),
    ("depthwise1d m2 nchw", (2, 3, 11), np.float32,
     lambda: L.DepthwiseCthalpa1D(3, strides=2, depth_multiplier=2,
                                  data_format="channels_first"),
     "cthulhu_depthwise_nd_ncdhw<float>"),
    ("depthwise2d", (2, 6, 5, 4), np.float32,
     lambda: L.DepthwiseCthalpa2D(3, padding="same"), "cthulhu_depthwise_cl<float, 4>"),
    ("depthwise2d 3ch dilated", (2, 7, 8, 3), np.float32,
     lambda: L.DepthwiseCthalpa2D(3, dilation_rate=2, use_bias=False),
     "cthulhu_depthwise_cl<float, 1>"),
    ("depthwise2d float64 m2 nchw", (2, 3, 6, 7), np.float64,
     lambda: L.DepthwiseCthalpa2D(3, strides=(1, 2), depth_multiplier=2,
                                  data_format="channels_first"),
     "cthulhu_depthwise_nd_ncdhw<double>"),
    ("depthwise3d vectorised", (1, 4, 5, 6, 8), np.float32,
     lambda: L.DepthwiseCthalpa3D(3, padding="same"), "cthulhu_depthwise_cl<float, 4>"),
    ("depthwise3d float64 dilated nchw", (1, 3, 5, 6, 7), np.float64,
     lambda: L.DepthwiseCthalpa3D(2, dilation_rate=2, data_format="channels_first"),
     "cthulhu_depthwise_nd_ncdhw<double>"),
    ("depthwise3d m3", (1, 4, 4, 5, 2), np.float32,
     lambda: L.DepthwiseCthalpa3D((1, 2, 3), depth_multiplier=3),
     "cthulhu_depthwise_nd_ndhwc<float>"),
]

#: (activation layer, its kernel code).
ACTIVATIONS = {
    "relu": (lambda: L.ReLU(), _launch.ACTIVATIONS["relu"]),
    "relu6": (lambda: L.ReLU(max_value=6.0), _launch.ACTIVATIONS["relu6"]),
    "leaky_relu": (lambda: L.LeakyReLU(0.1), _launch.ACTIVATIONS["leaky_relu"]),
}


def _model(shape, producer, activation, dtype, rng):
    axis = 1 if getattr(producer, "data_format", "") == "channels_first" else -1
    bn = L.BatchNormalization(axis=axis)
    model = Pile([L.InputLayer(input_shape=shape[1:]), producer, bn, activation])
    producer.set_weights([rng.standard_normal(w.shape).astype(dtype)
                          for w in producer.get_weights()])
    n = bn.get_weights()[0].shape[0]
    # a wide spread of scales and shifts, so a batch norm left out (or applied to the
    # wrong channel) is far outside the tolerance; shifts make ReLU6 and LeakyReLU bite
    bn.set_weights([rng.uniform(0.5, 2, n), 2 * rng.standard_normal(n),
                    rng.standard_normal(n), rng.uniform(1e-3, 1, n)])
    return model


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize(("label", "shape", "dtype", "producer", "kernel"), CASES,
                         ids=[c[0] for c in CASES])
def test_folded_chain_is_one_launch_equal_to_the_unfolded_numpy_layers(
        emulated, label, shape, dtype, producer, kernel, act):  # noqa: F811
    make_activation, act_code = ACTIVATIONS[act]
    rng = np.random.default_rng(len(label))
    producer, activation = producer(), make_activation()
    model = _model(shape, producer, activation, dtype, rng)
    x = rng.standard_normal(shape).astype(dtype)
    with fusion.folding(False):
        want = np.asarray(model(x))          # NumPy device, layer by layer
    fake_cupy.FakeRawModule.launched.clear()
    fake_cupy.FakeRawModule.scalars.clear()
    with emulated:
        got = np.asarray(model(x))
    launched = fake_cupy.FakeRawModule.launched
    assert len(launched) == 1 and launched[0].startswith(kernel), launched
    # the one kernel applied the batch norm and the activation itself: its epilogue
    # arguments (flags, activation, alpha) say so
    flags, code, kernel_alpha = fake_cupy.FakeRawModule.scalars[0][-3:]
    bias = 1 if producer.use_bias else 0
    assert (int(flags), int(code)) == (EPI_SCALE_SHIFT | bias, act_code)
    # leaky_relu's slope as the layer holds it, a double for float64 kernels
    assert type(kernel_alpha) is (np.float64 if dtype == np.float64 else np.float32)
    assert kernel_alpha == kernel_alpha.dtype.type(activation.epilogue_activation()[1])
    assert got.dtype == want.dtype and got.shape == want.shape
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_folding_off_runs_the_same_kernel_without_the_batch_norm(emulated):  # noqa: F811
    """The control: without folding the convolution's launch carries no scale/shift
    flags (the batch norm and the ReLU run as their own layers after it)."""
    rng = np.random.default_rng(0)
    model = _model((2, 7, 8, 3), L.DepthwiseCthalpa2D(3, use_bias=False), L.ReLU(),
                   np.float32, rng)
    x = rng.standard_normal((2, 7, 8, 3)).astype(np.float32)
    fake_cupy.FakeRawModule.launched.clear()
    fake_cupy.FakeRawModule.scalars.clear()
    with emulated, fusion.folding(False):
        model(x)
    depthwise = [s for n, s in zip(fake_cupy.FakeRawModule.launched,
                                   fake_cupy.FakeRawModule.scalars, strict=True)
                 if n.startswith("cthulhu_depthwise")]
    assert len(depthwise) == 1 and tuple(int(v) for v in depthwise[0][-3:-1]) == (0, 0)
