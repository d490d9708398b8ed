"""Folded chains for the CuPy plugin's tests: a convolution of every kernel route ->
BatchNormalization -> ReLU / ReLU(6) / LeakyReLU, and a recorder of the plugin's kernel
launches. Shared by the emulated tests (tests/kernels/test_fusion_emulated.py) and the
GPU tests (tests/devices/test_cupy_plugin.py), so a GPU run starts from cases the
emulator has checked.
"""

from __future__ import annotations

import contextlib

import numpy as np

from cthulhu import layers as L
from cthulhu.devices.cupy_ import _launch
from cthulhu.models import Pile

#: The CTHULHU_EPI_* flags a folded batch norm sets: scale and shift (a bias adds 1).
EPI_SCALE_SHIFT = 2 | 4

#: (label, input shape, dtype, producer factory, kernel prefix): every kernel family,
#: rank, format and dtype route of the CuPy plugin's convolutions. conv_nd.cu takes what
#: igemm.cu does not (channels that fill no 16-byte vector, float64); depthwise.cu's
#: vectorised kernel takes channels_last with multiplier 1.
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

#: activation name -> (layer factory, the kernels' activation code).
ACTIVATIONS = {
    "relu": (lambda: L.ReLU(), _launch.ACTIVATIONS["relu"]),
    "relu6": (lambda: L.ReLU(max_value=6.0), _launch.ACTIVATIONS["relu6"]),
    "leaky_relu": (lambda: L.LeakyReLU(0.1), _launch.ACTIVATIONS["leaky_relu"]),
}


def folded_model(shape, producer, activation, dtype, rng) -> Pile:
    """``producer -> BatchNormalization -> activation`` with drawn weights: a wide spread
    of batch-norm scales and shifts, so a batch norm left out (or applied to the wrong
    channel) is far outside any tolerance, and shifts that make ReLU6 and LeakyReLU bite."""
    axis = 1 if getattr(producer, "data_format", "") == "channels_first" else -1
    bn = L.BatchNormalization(axis=axis)
    model = Pile([L.InputLayer(input_shape=shape[1:]), producer, bn, activation])
    producer.set_weights([rng.standard_normal(w.shape).astype(dtype)
                          for w in producer.get_weights()])
    n = bn.get_weights()[0].shape[0]
    bn.set_weights([rng.uniform(0.5, 2, n), 2 * rng.standard_normal(n),
                    rng.standard_normal(n), rng.uniform(1e-3, 1, n)])
    return model


@contextlib.contextmanager
def recorded_launches():
    """A list that fills with ``(name expression, scalar arguments)`` of every kernel the
    CuPy plugin launches in the block (on a GPU or on the emulator): the plugin's one
    launch function, :func:`cthulhu.devices.cupy_._conv.run`, wrapped."""
    from cthulhu.devices.cupy_ import _conv

    launches = []
    run = _conv.run

    def recording(file, launch, arrays):
        launches.append((launch.name, tuple(_conv.kernel_scalars(launch))))
        return run(file, launch, arrays)

    _conv.run = recording
    try:
        yield launches
    finally:
        _conv.run = run


def check_one_fused_launch(launches, kernel, producer, act_code, activation, dtype) -> None:
    """The chain ran as one launch of ``kernel`` that was handed the batch norm and the
    activation: its epilogue arguments (flags, activation code, alpha) say so."""
    assert len(launches) == 1 and launches[0][0].startswith(kernel), launches
    flags, code, alpha = launches[0][1][-3:]
    bias = 1 if producer.use_bias else 0
    assert (int(flags), int(code)) == (EPI_SCALE_SHIFT | bias, act_code)
    # leaky_relu's slope as the layer holds it; a double for the float64 kernels
    assert type(alpha) is (np.float64 if dtype == np.float64 else np.float32)
    assert alpha == alpha.dtype.type(activation.epilogue_activation()[1])
