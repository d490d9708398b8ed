"""Convolutions written only against the Array API standard.

Strategy: pad, then loop over the kernel *taps* (``prod(kernel_size)`` of
them, small) and, for each, multiply the strided slice of the input that the
tap sees by the tap's ``(C, F)`` matrix, accumulating. No loop over output
positions, no fancy indexing, no in-place writes (immutable arrays work).
These are also the reference the fast plugins are tested against.
"""

from __future__ import annotations

import itertools

from cthulhu.ops import _args
from cthulhu.ops.generic._util import (
    from_last,
    namespace,
    pad_spatial,
    stuff_axis,
    to_last,
    window,
)


def _normalised(kernel_size, strides, dilation, op):
    rank = len(kernel_size)
    return (_args.int_tuple(strides, rank, "strides", op),
            _args.int_tuple(dilation, rank, "dilation", op))


def _tap_windows(xp, x, kernel, strides, dilation, padding, data_format, op):
    """For each kernel tap: the strided window of ``x`` (padded, channels-last) it sees, and its weights.

    ``padding`` is normalised (a name or explicit pairs); ``op`` names the caller in
    shape errors, which are raised before the first pair is yielded.
    """
    ksize = tuple(kernel.shape[:-2])
    xl = to_last(xp, x, data_format)
    spatial = tuple(xl.shape[1:-1])
    pads = _args.conv_pads(spatial, ksize, strides, dilation, padding, op)
    out_sizes = _args.conv_out_sizes(spatial, ksize, strides, dilation, pads, op)
    xl = pad_spatial(xp, xl, pads)
    for tap in itertools.product(*(range(k) for k in ksize)):
        yield xl[window(tap, dilation, strides, out_sizes)], kernel[(*tap, ...)]


def conv(x, kernel, *, strides=1, padding="valid", dilation=1, data_format="channels_last"):
    """Cross-correlation of ``x`` ``(N, *S, C)``/``(N, C, *S)`` with ``kernel`` ``(*k, C, F)``."""
    xp = namespace(x, kernel)
    ksize = tuple(kernel.shape[:-2])
    strides, dilation = _normalised(ksize, strides, dilation, "ops.generic.conv")
    padding = _args.padding(padding, len(ksize), "ops.generic.conv")
    y = None
    for patch, weights in _tap_windows(xp, x, kernel, strides, dilation, padding, data_format,
                                       "ops.conv"):
        term = xp.matmul(patch, weights)
        y = term if y is None else y + term
    return from_last(xp, y, data_format)


def conv_transpose(x, kernel, *, strides=1, padding="valid", output_padding=None, dilation=1,
                   data_format="channels_last"):
    """Transposed convolution, kernel ``(*k, F, C)``: zero-stuffing + a flipped direct conv."""
    xp = namespace(x, kernel)
    ksize = tuple(kernel.shape[:-2])
    rank = len(ksize)
    op = "ops.conv_transpose"
    strides, dilation = _normalised(ksize, strides, dilation, op)
    padding = _args.padding(padding, rank, op, allowed=("valid", "same"))
    if output_padding is not None:
        output_padding = _args.int_tuple(output_padding, rank, "output_padding", op, minimum=0)
    xl = to_last(xp, x, data_format)
    spatial = tuple(xl.shape[1:-1])
    pads = _args.transpose_pads(spatial, ksize, strides, dilation, padding, output_padding, op)
    for axis, s in enumerate(strides, start=1):
        xl = stuff_axis(xp, xl, axis, s)
    flipped = xp.flip(kernel, axis=tuple(range(rank)))
    direct = xp.permute_dims(flipped, (*range(rank), rank + 1, rank))
    y = conv(xl, direct, strides=1, padding=pads, dilation=dilation,
             data_format="channels_last")
    return from_last(xp, y, data_format)


def depthwise_conv(x, kernel, *, strides=1, padding="valid", dilation=1,
                   data_format="channels_last"):
    """Depthwise convolution, kernel ``(*k, C, M)``; output channel ``c*M + m``."""
    xp = namespace(x, kernel)
    ksize = tuple(kernel.shape[:-2])
    op = "ops.depthwise_conv"
    strides, dilation = _normalised(ksize, strides, dilation, op)
    padding = _args.padding(padding, len(ksize), op)
    y = None
    for patch, weights in _tap_windows(xp, x, kernel, strides, dilation, padding, data_format,
                                       op):
        term = xp.expand_dims(patch, axis=-1) * weights   # (N, *O, C, 1) * (C, M) -> (N, *O, C, M)
        y = term if y is None else y + term
    channels, multiplier = kernel.shape[-2:]
    y = xp.reshape(y, (*y.shape[:-2], channels * multiplier))
    return from_last(xp, y, data_format)


def separable_conv(x, depthwise_kernel, pointwise_kernel, *, strides=1, padding="valid",
                   dilation=1, data_format="channels_last"):
    """Depthwise convolution followed by a 1x1 convolution with ``(*ones, C*M, F)``."""
    xp = namespace(x, depthwise_kernel, pointwise_kernel)
    mid = depthwise_conv(x, depthwise_kernel, strides=strides, padding=padding,
                         dilation=dilation, data_format=data_format)
    pointwise = xp.reshape(pointwise_kernel, tuple(pointwise_kernel.shape[-2:]))
    mid = to_last(xp, mid, data_format)
    return from_last(xp, xp.matmul(mid, pointwise), data_format)
