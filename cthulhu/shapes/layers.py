"""Whole-layer output shapes for the spatial layers (convolutions, crop, pad, up-sample, pool).

Input shapes include the batch axis; the batch size passes through unchanged.
Each function normalises its arguments (so layers may pass raw user values),
checks the input rank, and applies the one-axis formulas of ``lengths`` to the
spatial axes. Errors name ``owner`` (a layer or a string).
"""

from ._arith import check_dim, is_int
from .errors import ShapeTypeError, shape_error
from .lengths import (
    _conv_out,
    _conv_transpose_out,
    _crop_out,
    _pad_out,
    _upsample_out,
    dilated_kernel_size,
    pool_length,
)
from .normalize import (
    as_tuple,
    check_conv_args,
    normalize_cropping,
    normalize_data_format,
    normalize_output_padding,
    normalize_padding,
    normalize_size,
    normalize_zero_padding,
    positive_int,
)

__all__ = [
    "check_shape", "split_channels", "join_channels", "channels_axis", "conv",
    "conv_transpose", "depthwise_conv", "separable_conv", "cropping", "upsampling",
    "zero_padding", "pooling", "global_pooling", "spatial_data_format",
]

_AXES = {1: "steps", 2: "rows, cols", 3: "dim1, dim2, dim3"}


def check_shape(input_shape, rank=None, owner=None, min_rank=None, what=None):
    """``input_shape`` as a tuple of sizes, with ``rank`` (or at least ``min_rank``) axes."""
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise shape_error(owner, f"input shape must be a tuple of sizes, got {input_shape!r}",
                          ShapeTypeError)
    shape = tuple(input_shape)
    shape = tuple(check_dim(dim, f"input shape {shape!r}: axis {i}", owner)
                  for i, dim in enumerate(shape))
    wanted = f" {what}" if what else ""
    if rank is not None and len(shape) != rank:
        raise shape_error(owner, f"expected an input of rank {rank}{wanted} (batch axis "
                                 f"included), got shape {shape!r} of rank {len(shape)}")
    if min_rank is not None and len(shape) < min_rank:
        raise shape_error(owner, f"expected an input of rank >= {min_rank}{wanted} (batch axis "
                                 f"included), got shape {shape!r} of rank {len(shape)}")
    return shape


def _spatial_shape(input_shape, rank, data_format, owner):
    if rank not in _AXES:
        raise shape_error(owner, "expected an input of rank 3, 4 or 5 (batch, 1 to 3 spatial "
                                 f"axes, channels) and arguments of that many axes, got "
                                 f"input shape {input_shape!r} and {rank!r} spatial axes")
    what = (f"(batch, channels, {_AXES[rank]})" if data_format == "channels_first"
            else f"(batch, {_AXES[rank]}, channels)")
    return check_shape(input_shape, rank + 2, owner, what=what)


def split_channels(shape, data_format):
    """``(batch, spatial_sizes, channels)`` of a checked shape."""
    if data_format == "channels_first":
        return shape[0], tuple(shape[2:]), shape[1]
    return shape[0], tuple(shape[1:-1]), shape[-1]


def join_channels(batch, spatial, channels, data_format):
    """The inverse of :func:`split_channels`."""
    if data_format == "channels_first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def channels_axis(rank, data_format):
    """Index of the channels axis: ``1`` for channels_first, ``-1`` for channels_last.

    ``rank`` (the number of axes, or the spatial rank; both work since the
    index is counted from the end) only has to be a positive int.
    """
    if not is_int(rank) or rank < 1:
        raise shape_error(None, f"rank must be a positive integer, got {rank!r}")
    return 1 if normalize_data_format(data_format) == "channels_first" else -1


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


def _conv_args(rank, kernel_size, strides, padding, dilation_rate, data_format, owner,
               allowed=("valid", "same", "causal")):
    kernel_size = as_tuple(kernel_size, rank, "kernel_size", owner)
    strides = as_tuple(strides, rank, "strides", owner)
    dilation_rate = as_tuple(dilation_rate, rank, "dilation_rate", owner)
    check_conv_args(kernel_size, strides, dilation_rate, owner)
    padding = normalize_padding(padding, owner, allowed)
    if padding == "causal" and rank != 1:
        raise shape_error(owner, f"padding 'causal' is only for 1D convolutions, got it with "
                                 f"a {rank}D kernel_size {kernel_size!r}")
    return kernel_size, strides, padding, dilation_rate, normalize_data_format(data_format, owner)


def _check_rank(shape, rank, first, owner):
    """The cheap rank test of a checked shape; the validating one builds the message."""
    if len(shape) != rank + 2:
        _spatial_shape(shape, rank, "channels_first" if first else "channels_last", owner)


def _conv_fast(shape, owner, rank, first, dilated, strides, padding, filters, multiplier):
    """The output shape of every direct convolution, from checked arguments.

    This is the one home of the whole-layer convolution formula: :func:`conv`,
    :func:`depthwise_conv` and :func:`separable_conv` call it after validating
    their arguments, and :func:`~cthulhu.shapes.chain` calls it directly with
    the arguments a spec had checked once when it was normalised.
    ``dilated`` holds the dilated kernel sizes; ``filters`` is ``None`` for a
    depthwise convolution (channels times ``multiplier``).
    """
    _check_rank(shape, rank, first, owner)
    spatial = shape[2:] if first else shape[1:-1]
    out = [_conv_out(n, k, s, padding, owner)
           for n, k, s in zip(spatial, dilated, strides, strict=True)]
    if filters is None:
        channels = shape[1] if first else shape[-1]
        filters = None if channels is None else channels * multiplier
    return (shape[0], filters, *out) if first else (shape[0], *out, filters)


def _conv_transpose_fast(shape, owner, rank, first, kernel, dilated, strides, padding,
                         output_padding, filters):
    """The output shape of a transposed convolution from checked arguments (see ``_conv_fast``)."""
    _check_rank(shape, rank, first, owner)
    spatial = shape[2:] if first else shape[1:-1]
    pads = output_padding if output_padding is not None else (None,) * rank
    out = [_conv_transpose_out(n, k, K, s, padding, p, owner)
           for n, k, K, s, p in zip(spatial, kernel, dilated, strides, pads, strict=True)]
    return (shape[0], filters, *out) if first else (shape[0], *out, filters)


def _dilated(kernel_size, dilation_rate):
    return tuple(dilated_kernel_size(k, d) for k, d in zip(kernel_size, dilation_rate, strict=True))


def conv(input_shape, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
         data_format=None, owner=None):
    """Output shape of ``Cthalpa1D/2D/3D`` (Keras ``Conv1D/2D/3D``).

    >>> conv((None, 224, 224, 3), 64, 3, 2, "same", 1, "channels_last")
    (None, 112, 112, 64)
    """
    rank = _rank_of(input_shape, kernel_size, strides, dilation_rate)
    kernel_size, strides, padding, dilation_rate, data_format = _conv_args(
        rank, kernel_size, strides, padding, dilation_rate, data_format, owner)
    filters = positive_int(filters, "filters", owner)
    shape = _spatial_shape(input_shape, rank, data_format, owner)
    return _conv_fast(shape, owner, rank, data_format == "channels_first",
                      _dilated(kernel_size, dilation_rate), strides, padding, filters, 1)


def conv_transpose(input_shape, filters, kernel_size, strides=1, padding="valid",
                   output_padding=None, dilation_rate=1, data_format=None, owner=None):
    """Output shape of ``Cthalpa2DTranspose/3DTranspose`` (Keras 2 ``deconv_length`` per axis).

    >>> conv_transpose((None, 5, 5, 8), 4, 3, 2, "valid", None, 1, "channels_last")
    (None, 11, 11, 4)
    """
    rank = _rank_of(input_shape, kernel_size, strides, output_padding, dilation_rate)
    kernel_size, strides, padding, dilation_rate, data_format = _conv_args(
        rank, kernel_size, strides, padding, dilation_rate, data_format, owner,
        allowed=("valid", "same"))
    output_padding = normalize_output_padding(output_padding, strides, owner)
    filters = positive_int(filters, "filters", owner)
    shape = _spatial_shape(input_shape, rank, data_format, owner)
    return _conv_transpose_fast(shape, owner, rank, data_format == "channels_first",
                                kernel_size, _dilated(kernel_size, dilation_rate), strides,
                                padding, output_padding, filters)


def depthwise_conv(input_shape, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                   dilation_rate=1, data_format=None, owner=None):
    """Output shape of ``DepthwiseCthalpa2D``: channels times ``depth_multiplier``.

    >>> depthwise_conv((None, 3, 32, 32), 3, 1, "same", 2, 1, "channels_first")
    (None, 6, 32, 32)
    """
    rank = _rank_of(input_shape, kernel_size, strides, dilation_rate)
    kernel_size, strides, padding, dilation_rate, data_format = _conv_args(
        rank, kernel_size, strides, padding, dilation_rate, data_format, owner,
        allowed=("valid", "same"))
    depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", owner)
    shape = _spatial_shape(input_shape, rank, data_format, owner)
    return _conv_fast(shape, owner, rank, data_format == "channels_first",
                      _dilated(kernel_size, dilation_rate), strides, padding, None,
                      depth_multiplier)


def separable_conv(input_shape, filters, kernel_size, strides=1, padding="valid",
                   depth_multiplier=1, dilation_rate=1, data_format=None, owner=None):
    """Output shape of ``SeparableCthalpa1D/2D``: spatial as ``conv``, ``filters`` channels.

    >>> separable_conv((None, 10, 4), 8, 3, 1, "valid", 2, 1, "channels_last")
    (None, 8, 8)
    """
    rank = _rank_of(input_shape, kernel_size, strides, dilation_rate)
    kernel_size, strides, padding, dilation_rate, data_format = _conv_args(
        rank, kernel_size, strides, padding, dilation_rate, data_format, owner,
        allowed=("valid", "same"))
    positive_int(depth_multiplier, "depth_multiplier", owner)
    filters = positive_int(filters, "filters", owner)
    shape = _spatial_shape(input_shape, rank, data_format, owner)
    return _conv_fast(shape, owner, rank, data_format == "channels_first",
                      _dilated(kernel_size, dilation_rate), strides, padding, filters, 1)


def spatial_data_format(rank, data_format, owner=None):
    """The data format of a cropping, padding, up-sampling or spatial-dropout layer.

    Keras 2's 1D versions of these layers have no ``data_format``: they always work
    on ``(batch, steps, features)``.

    >>> spatial_data_format(1, "channels_first")
    'channels_last'
    """
    return "channels_last" if rank == 1 else normalize_data_format(data_format, owner)


def cropping(input_shape, cropping, data_format=None, owner=None, rank=None):
    """Output shape of ``Cropping1D/2D/3D``; ``cropping`` in any documented form.

    >>> cropping((None, 28, 28, 3), ((2, 2), (4, 4)), "channels_last")
    (None, 24, 20, 3)
    """
    rank = _rank_of(input_shape) if rank is None else rank
    pairs = normalize_cropping(cropping, rank, owner)
    data_format = spatial_data_format(rank, data_format, owner)
    shape = _spatial_shape(input_shape, rank, data_format, owner)
    return _cropping_fast(shape, owner, rank, data_format == "channels_first", pairs)


def _cropping_fast(shape, owner, rank, first, pairs):
    """:func:`cropping` from checked arguments (``pairs`` normalised)."""
    _check_rank(shape, rank, first, owner)
    spatial = shape[2:] if first else shape[1:-1]
    out = [_crop_out(n, lo, hi, owner) for n, (lo, hi) in zip(spatial, pairs, strict=True)]
    return (shape[0], shape[1], *out) if first else (shape[0], *out, shape[-1])


def zero_padding(input_shape, padding, data_format=None, owner=None, rank=None):
    """Output shape of ``Xexanoth1D/2D/3D`` (Keras ``ZeroPadding``); any documented form.

    >>> zero_padding((None, 4, 5, 3), ((1, 0), (2, 2)), "channels_last")
    (None, 5, 9, 3)
    """
    rank = _rank_of(input_shape) if rank is None else rank
    pairs = normalize_zero_padding(padding, rank, owner)
    data_format = spatial_data_format(rank, data_format, owner)
    shape = _spatial_shape(input_shape, rank, data_format, owner)
    return _zero_padding_fast(shape, owner, rank, data_format == "channels_first", pairs)


def _zero_padding_fast(shape, owner, rank, first, pairs):
    """:func:`zero_padding` from checked arguments (``pairs`` normalised)."""
    _check_rank(shape, rank, first, owner)
    spatial = shape[2:] if first else shape[1:-1]
    out = [_pad_out(n, lo, hi) for n, (lo, hi) in zip(spatial, pairs, strict=True)]
    return (shape[0], shape[1], *out) if first else (shape[0], *out, shape[-1])


def upsampling(input_shape, size, data_format=None, owner=None):
    """Output shape of ``UbboSathla1D/2D/3D`` (Keras ``UpSampling``): each axis times its factor.

    >>> upsampling((None, 3, 4, 5, 1), 2, "channels_last")
    (None, 6, 8, 10, 1)
    """
    rank = _rank_of(input_shape, size)
    size = normalize_size(size, rank, owner)
    data_format = spatial_data_format(rank, data_format, owner)
    shape = _spatial_shape(input_shape, rank, data_format, owner)
    return _upsampling_fast(shape, owner, rank, data_format == "channels_first", size)


def _upsampling_fast(shape, owner, rank, first, size):
    """:func:`upsampling` from checked arguments (``size`` normalised)."""
    _check_rank(shape, rank, first, owner)
    spatial = shape[2:] if first else shape[1:-1]
    out = [_upsample_out(n, f) for n, f in zip(spatial, size, strict=True)]
    return (shape[0], shape[1], *out) if first else (shape[0], *out, shape[-1])


def pooling(input_shape, pool_size, strides=None, padding="valid", data_format=None,
            owner=None):
    """Output shape of max/average pooling (Keras 2: ``strides=None`` means ``pool_size``)."""
    rank = _rank_of(input_shape, pool_size, strides)
    pool_size = normalize_size(pool_size, rank, owner, "pool_size")
    strides = pool_size if strides is None else normalize_size(strides, rank, owner, "strides")
    padding = normalize_padding(padding, owner, ("valid", "same"))
    data_format = normalize_data_format(data_format, owner)
    shape = _spatial_shape(input_shape, rank, data_format, owner)
    batch, spatial, channels = split_channels(shape, data_format)
    out = tuple(pool_length(n, k, s, padding, owner=owner)
                for n, k, s in zip(spatial, pool_size, strides, strict=True))
    return join_channels(batch, out, channels, data_format)


def global_pooling(input_shape, rank, data_format=None, owner=None):
    """Output shape of global pooling: ``(batch, channels)``."""
    data_format = normalize_data_format(data_format, owner)
    shape = _spatial_shape(input_shape, rank, data_format, owner)
    batch, _, channels = split_channels(shape, data_format)
    return (batch, channels)
