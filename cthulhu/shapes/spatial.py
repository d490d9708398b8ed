"""Whole-layer output shapes for the spatial layers (convolutions, crop, pad, up-sample, pool).

Input shapes include the batch axis; the batch size passes through unchanged.
Each function takes the raw user arguments (so layers may pass them as given),
has the layer's :class:`~cthulhu.shapes.kinds.Kind` check them (the same
checks, padding rule and messages as a spec's), checks the input shape and
applies the kind's formula. Errors name ``owner`` (a layer or a string).
``data_format=None`` means channels_last (see :mod:`cthulhu.shapes.layout`).
"""

from .checks import check_shape, check_spatial_rank
from .errors import ShapeTypeError, shape_error
from .kinds.pooling import GLOBAL_POOLING, POOLING
from .kinds.resample import CROPPING, UPSAMPLING, ZERO_PADDING
from .kinds.window import CONV, CONV_TRANSPOSE, DEPTHWISE_CONV, SEPARABLE_CONV

__all__ = [
    "check_shape", "conv", "conv_transpose", "depthwise_conv", "separable_conv", "cropping",
    "upsampling", "zero_padding", "pooling", "global_pooling",
]


def _rank_of(input_shape, *args):
    """Spatial rank: from the first tuple argument, else from the input shape."""
    for arg in args:
        if isinstance(arg, (list, tuple)):
            return len(arg)
    try:
        return len(tuple(input_shape)) - 2
    except TypeError:
        raise shape_error(None, f"input shape must be a tuple of sizes, got {input_shape!r}",
                          ShapeTypeError) from None


def _shape(kind, input_shape, owner, rank, **args):
    """The output shape of ``kind`` with raw ``args`` at spatial ``rank``, validated."""
    check_spatial_rank(rank, input_shape, owner)
    spec = kind.normalize({"rank": rank, **args}, owner)
    return kind.output_shape(spec, input_shape, owner)


def conv(input_shape, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
         data_format=None, owner=None):
    """Output shape of ``Cthalpa1D/2D/3D`` (Keras ``Conv1D/2D/3D``).

    >>> conv((None, 224, 224, 3), 64, 3, 2, "same", 1, "channels_last")
    (None, 112, 112, 64)
    """
    rank = _rank_of(input_shape, kernel_size, strides, dilation_rate)
    return _shape(CONV, input_shape, owner, rank, filters=filters, kernel_size=kernel_size,
                  strides=strides, padding=padding, dilation_rate=dilation_rate,
                  data_format=data_format)


def conv_transpose(input_shape, filters, kernel_size, strides=1, padding="valid",
                   output_padding=None, dilation_rate=1, data_format=None, owner=None):
    """Output shape of ``Cthalpa2DTranspose/3DTranspose`` (Keras 2 ``deconv_length`` per axis).

    >>> conv_transpose((None, 5, 5, 8), 4, 3, 2, "valid", None, 1, "channels_last")
    (None, 11, 11, 4)
    """
    rank = _rank_of(input_shape, kernel_size, strides, output_padding, dilation_rate)
    return _shape(CONV_TRANSPOSE, input_shape, owner, rank, filters=filters,
                  kernel_size=kernel_size, strides=strides, padding=padding,
                  output_padding=output_padding, dilation_rate=dilation_rate,
                  data_format=data_format)


def depthwise_conv(input_shape, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                   dilation_rate=1, data_format=None, owner=None):
    """Output shape of ``DepthwiseCthalpa2D``: channels times ``depth_multiplier``.

    >>> depthwise_conv((None, 3, 32, 32), 3, 1, "same", 2, 1, "channels_first")
    (None, 6, 32, 32)
    """
    rank = _rank_of(input_shape, kernel_size, strides, dilation_rate)
    return _shape(DEPTHWISE_CONV, input_shape, owner, rank, kernel_size=kernel_size,
                  strides=strides, padding=padding, depth_multiplier=depth_multiplier,
                  dilation_rate=dilation_rate, data_format=data_format)


def separable_conv(input_shape, filters, kernel_size, strides=1, padding="valid",
                   depth_multiplier=1, dilation_rate=1, data_format=None, owner=None):
    """Output shape of ``SeparableCthalpa1D/2D``: spatial as ``conv``, ``filters`` channels.

    >>> separable_conv((None, 10, 4), 8, 3, 1, "valid", 2, 1, "channels_last")
    (None, 8, 8)
    """
    rank = _rank_of(input_shape, kernel_size, strides, dilation_rate)
    return _shape(SEPARABLE_CONV, input_shape, owner, rank, filters=filters,
                  kernel_size=kernel_size, strides=strides, padding=padding,
                  depth_multiplier=depth_multiplier, dilation_rate=dilation_rate,
                  data_format=data_format)


def cropping(input_shape, cropping, data_format=None, owner=None, rank=None):
    """Output shape of ``Cropping1D/2D/3D``; ``cropping`` in any documented form.

    >>> cropping((None, 28, 28, 3), ((2, 2), (4, 4)), "channels_last")
    (None, 24, 20, 3)
    """
    rank = _rank_of(input_shape) if rank is None else rank
    return _shape(CROPPING, input_shape, owner, rank, cropping=cropping,
                  data_format=data_format)


def zero_padding(input_shape, padding, data_format=None, owner=None, rank=None):
    """Output shape of ``Xexanoth1D/2D/3D`` (Keras ``ZeroPadding``); any documented form.

    >>> zero_padding((None, 4, 5, 3), ((1, 0), (2, 2)), "channels_last")
    (None, 5, 9, 3)
    """
    rank = _rank_of(input_shape) if rank is None else rank
    return _shape(ZERO_PADDING, input_shape, owner, rank, padding=padding,
                  data_format=data_format)


def upsampling(input_shape, size, data_format=None, owner=None):
    """Output shape of ``UbboSathla1D/2D/3D`` (Keras ``UpSampling``): each axis times its factor.

    >>> upsampling((None, 3, 4, 5, 1), 2, "channels_last")
    (None, 6, 8, 10, 1)
    """
    rank = _rank_of(input_shape, size)
    return _shape(UPSAMPLING, input_shape, owner, rank, size=size, data_format=data_format)


def pooling(input_shape, pool_size, strides=None, padding="valid", data_format=None,
            owner=None):
    """Output shape of max/average pooling (Keras 2: ``strides=None`` means ``pool_size``).

    >>> pooling((None, 9, 9, 4), 2, None, "same", "channels_last")
    (None, 5, 5, 4)
    """
    rank = _rank_of(input_shape, pool_size, strides)
    return _shape(POOLING, input_shape, owner, rank, pool_size=pool_size, strides=strides,
                  padding=padding, data_format=data_format)


def global_pooling(input_shape, rank, data_format=None, owner=None, keepdims=False):
    """Output shape of global pooling: ``(batch, channels)``; with ``keepdims`` the
    spatial axes stay, of size 1.

    >>> global_pooling((None, 3, 8, 8), 2, "channels_first")
    (None, 3)
    >>> global_pooling((None, 8, 8, 3), 2, "channels_last", keepdims=True)
    (None, 1, 1, 3)
    """
    return _shape(GLOBAL_POOLING, input_shape, owner, rank, data_format=data_format,
                  keepdims=keepdims)
