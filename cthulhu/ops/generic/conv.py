"""Convolutions written only against the Array API standard.

Strategy: pad, then loop over the kernel *taps* (``prod(kernel_size)`` of
them, small) and, for each, multiply the strided slice of the input that the
tap sees by the tap's ``(C, F)`` matrix, accumulating. No loop over output
positions, no fancy indexing, no in-place writes (immutable arrays work).
These are also the reference the fast plugins are tested against.

Each function takes the call's :class:`cthulhu.shapes.ConvGeometry` (pads and output
sizes explicit) and fuses no epilogue, as the plugin contract describes.
"""

from __future__ import annotations

import itertools

from cthulhu.ops.generic._util import (
    from_last,
    namespace,
    pad_spatial,
    stuff_axis,
    to_last,
    window,
)


def _tap_windows(xp, x, kernel, geometry):
    """For each kernel tap: the strided window of ``x`` (padded, channels-last) it sees,
    and its weights."""
    xl = pad_spatial(xp, to_last(xp, x, geometry.data_format), geometry.pads)
    for tap in itertools.product(*(range(k) for k in geometry.kernel_size)):
        yield (xl[window(tap, geometry.dilation, geometry.strides, geometry.out_spatial)],
               kernel[(*tap, ...)])


def _direct(xp, x, kernel, geometry):
    """Cross-correlation on a channels_last result (``geometry.data_format`` in)."""
    y = None
    for patch, weights in _tap_windows(xp, x, kernel, geometry):
        term = xp.matmul(patch, weights)
        y = term if y is None else y + term
    return y


def conv(x, kernel, *, geometry):
    """Cross-correlation of ``x`` ``(N, *S, C)``/``(N, C, *S)`` with ``kernel`` ``(*k, C, F)``."""
    xp = namespace(x, kernel)
    return from_last(xp, _direct(xp, x, kernel, geometry), geometry.data_format)


def conv_transpose(x, kernel, *, geometry):
    """Transposed convolution, kernel ``(*k, F, C)``: zero-stuffing + a flipped direct conv
    (``geometry.stuffed()``)."""
    xp = namespace(x, kernel)
    rank = geometry.rank
    xl = to_last(xp, x, geometry.data_format)
    for axis, s in enumerate(geometry.strides, start=1):
        xl = stuff_axis(xp, xl, axis, s)
    flipped = xp.flip(kernel, axis=tuple(range(rank)))
    direct = xp.permute_dims(flipped, (*range(rank), rank + 1, rank))
    last = geometry.stuffed().replace(data_format="channels_last")
    return from_last(xp, _direct(xp, xl, direct, last), geometry.data_format)


def _depthwise(xp, x, kernel, geometry):
    """Depthwise convolution on a channels_last result."""
    y = None
    for patch, weights in _tap_windows(xp, x, kernel, geometry):
        term = xp.expand_dims(patch, axis=-1) * weights   # (N, *O, C, 1) * (C, M) -> (N, *O, C, M)
        y = term if y is None else y + term
    return xp.reshape(y, (*y.shape[:-2], geometry.mid_channels))


def depthwise_conv(x, kernel, *, geometry):
    """Depthwise convolution, kernel ``(*k, C, M)``; output channel ``c*M + m``."""
    xp = namespace(x, kernel)
    return from_last(xp, _depthwise(xp, x, kernel, geometry), geometry.data_format)


def separable_conv(x, depthwise_kernel, pointwise_kernel, *, geometry):
    """Depthwise convolution followed by a 1x1 convolution with ``(*ones, C*M, F)``."""
    xp = namespace(x, depthwise_kernel, pointwise_kernel)
    mid = _depthwise(xp, x, depthwise_kernel, geometry)
    pointwise = xp.reshape(pointwise_kernel, tuple(pointwise_kernel.shape[-2:]))
    return from_last(xp, xp.matmul(mid, pointwise), geometry.data_format)
