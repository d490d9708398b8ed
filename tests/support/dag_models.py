"""Models with skip connections for the fused Dask runner's tests: U-Nets, ResNet and
MobileNet blocks, and Hypothesis-drawn small U-Net-shaped graphs.

Every builder returns a built ``Lump`` with seeded weights (batch normalisation with
positive moving variances, so that inference is a real per-channel scale and shift).
"""

import numpy as np
from hypothesis import strategies as st

from cthulhu import layers as L
from cthulhu.models import Lump

_CONV = {2: L.Cthalpa2D, 3: L.Cthalpa3D}
_TRANSPOSE = {2: L.Cthalpa2DTranspose, 3: L.Cthalpa3DTranspose}
_UP = {2: L.UbboSathla2D, 3: L.UbboSathla3D}


def seeded(model, seed=0):
    """``model`` with random weights; moving variances (and BN scales) kept away from 0."""
    rng = np.random.default_rng(seed)
    weights = []
    for _layer, weight in model.weight_records():
        shape = tuple(weight.shape)
        value = rng.standard_normal(shape).astype(np.float32) * 0.5
        if weight.name == "moving_variance":
            value = np.abs(value) + 0.5
        weights.append(value)
    model.set_weights(weights)
    return model


def _axis(data_format):
    return -1 if data_format == "channels_last" else 1


def _input(rank, channels, data_format):
    spatial = (None,) * rank
    shape = (*spatial, channels) if data_format == "channels_last" else (channels, *spatial)
    return L.Input(shape=shape)


def conv_bn_relu(x, filters, rank, data_format, kernel=3):
    x = _CONV[rank](filters, kernel, padding="same", data_format=data_format)(x)
    x = L.BatchNormalization(axis=_axis(data_format))(x)
    return L.ReLU()(x)


def unet(rank=3, depth=3, base=2, channels=1, classes=1, data_format="channels_last",
         ups=None, downs=None, merges=None, seed=0):
    """A U-Net: per level conv+BN+ReLU, down by a strided convolution, up by a transposed
    convolution (``"transpose"``) or up-sampling then a convolution (``"upsample"``),
    skips joined by ``Concatenate`` (``"concat"``) or ``Add`` (``"add"``); a 1x1
    sigmoid convolution last. ``ups``/``downs``/``merges`` choose per level (deepest
    last); ``downs`` entries are the strided convolution's kernel size."""
    ups = ups or ["transpose", "upsample", "transpose"][:depth]
    downs = downs or [2, 3, 2][:depth]
    merges = merges or ["concat"] * depth
    fmt, axis = data_format, _axis(data_format)
    inputs = _input(rank, channels, fmt)
    x, skips = inputs, []
    for level in range(depth):
        filters = base * 2 ** level
        x = conv_bn_relu(x, filters, rank, fmt)
        skips.append(x)
        x = _CONV[rank](filters, downs[level], strides=2, padding="same", data_format=fmt)(x)
    x = conv_bn_relu(x, base * 2 ** depth, rank, fmt)
    for level in reversed(range(depth)):
        filters = base * 2 ** level
        if ups[level] == "transpose":
            x = _TRANSPOSE[rank](filters, 2 + level % 2, strides=2, padding="same",
                                 data_format=fmt)(x)
        else:
            x = _UP[rank](2, data_format=fmt)(x)
            x = _CONV[rank](filters, 2, padding="same", data_format=fmt)(x)
        if merges[level] == "add":
            x = L.Add()([skips[level], x])
        else:
            x = L.Concatenate(axis=axis)([skips[level], x])
        x = conv_bn_relu(x, filters, rank, fmt)
    out = _CONV[rank](classes, 1, activation="sigmoid", data_format=fmt)(x)
    return seeded(Lump(inputs, out, name=f"unet{rank}d"), seed)


def resnet_block(channels=3, filters=4, data_format="channels_last", seed=0):
    """Two residual blocks: identity shortcut (``Add``), then a strided one with a 1x1
    strided projection on the shortcut."""
    fmt, axis = data_format, _axis(data_format)
    inputs = _input(2, channels, fmt)
    x = L.Cthalpa2D(filters, 3, padding="same", data_format=fmt)(inputs)
    x = L.ReLU()(L.BatchNormalization(axis=axis)(x))
    y = conv_bn_relu(x, filters, 2, fmt)
    y = L.Cthalpa2D(filters, 3, padding="same", data_format=fmt)(y)
    y = L.BatchNormalization(axis=axis)(y)
    x = L.ReLU()(L.Add()([x, y]))
    y = L.Cthalpa2D(2 * filters, 3, strides=2, padding="same", data_format=fmt)(x)
    y = L.ReLU()(L.BatchNormalization(axis=axis)(y))
    y = L.Cthalpa2D(2 * filters, 3, padding="same", data_format=fmt)(y)
    y = L.BatchNormalization(axis=axis)(y)
    shortcut = L.Cthalpa2D(2 * filters, 1, strides=2, data_format=fmt)(x)
    shortcut = L.BatchNormalization(axis=axis)(shortcut)
    out = L.ReLU()(L.Add()([shortcut, y]))
    return seeded(Lump(inputs, out, name="resnet_blocks"), seed)


def mobilenet_block(channels=4, expansion=2, data_format="channels_last", seed=0):
    """An inverted residual block (MobileNet v2): 1x1 expansion + BN + ReLU(6), 3x3
    depthwise + BN + ReLU(6), 1x1 projection + BN, ``Add`` with the input; then a
    strided depthwise block without a shortcut."""
    fmt, axis = data_format, _axis(data_format)
    inputs = _input(2, channels, fmt)
    x = L.Cthalpa2D(channels * expansion, 1, use_bias=False, data_format=fmt)(inputs)
    x = L.ReLU(max_value=6.0)(L.BatchNormalization(axis=axis)(x))
    x = L.DepthwiseCthalpa2D(3, padding="same", use_bias=False, data_format=fmt)(x)
    x = L.ReLU(max_value=6.0)(L.BatchNormalization(axis=axis)(x))
    x = L.Cthalpa2D(channels, 1, use_bias=False, data_format=fmt)(x)
    x = L.BatchNormalization(axis=axis)(x)
    x = L.Add()([inputs, x])
    y = L.DepthwiseCthalpa2D(3, strides=2, padding="same", depth_multiplier=2,
                             data_format=fmt)(x)
    y = L.ReLU(max_value=6.0)(L.BatchNormalization(axis=axis)(y))
    out = L.Cthalpa2D(3, 1, data_format=fmt)(y)
    return seeded(Lump(inputs, out, name="mobilenet_block"), seed)


@st.composite
def unet_cases(draw, ranks=(2, 3)):
    """``(model, shape)``: a drawn U-Net-shaped graph and an input shape it takes."""
    rank = draw(st.sampled_from(ranks))
    depth = draw(st.integers(1, 2))
    fmt = draw(st.sampled_from(["channels_last", "channels_first"]))
    ups = [draw(st.sampled_from(["transpose", "upsample"])) for _ in range(depth)]
    downs = [draw(st.integers(1, 3)) for _ in range(depth)]
    merges = [draw(st.sampled_from(["concat", "add"])) for _ in range(depth)]
    channels = draw(st.integers(1, 2))
    model = unet(rank, depth, base=2, channels=channels, data_format=fmt, ups=ups,
                 downs=downs, merges=merges, seed=draw(st.integers(0, 3)))
    unit = 2 ** depth
    limit = 5 if rank == 3 else 8
    spatial = tuple(unit * draw(st.integers(1, max(1, limit // unit + 1))) for _ in range(rank))
    batch = draw(st.integers(1, 2))
    shape = (batch, *spatial, channels) if fmt == "channels_last" else \
        (batch, channels, *spatial)
    return model, shape
