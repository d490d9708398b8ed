"""Matmul and resampling written only against the Array API standard."""

from __future__ import annotations

import math

from cthulhu.ops.generic._util import from_last, namespace, pad_spatial, to_last


def matmul(x, kernel, *, geometry):
    """``x @ kernel`` over the last axis of ``x`` (any rank >= 2)."""
    xp = namespace(x, kernel)
    return xp.matmul(x, kernel)


def _nearest_axis(xp, x, axis, factor):
    if factor == 1:
        return x
    expanded = xp.expand_dims(x, axis=axis + 1)
    shape = list(expanded.shape)
    shape[axis + 1] = factor
    repeated = xp.broadcast_to(expanded, tuple(shape))
    merged = list(x.shape)
    merged[axis] *= factor
    return xp.reshape(repeated, tuple(merged))


def bilinear_taps(n: int, factor: int):
    """Source indices ``lower``, ``upper`` and weight of ``upper`` for each of ``n*factor`` outputs.

    TensorFlow 2 ``tf.image.resize(..., "bilinear")`` (half-pixel centres,
    ``align_corners=False``): output ``i`` samples input coordinate
    ``(i + 0.5)/factor - 0.5``, clamped to the edges.
    """
    lower, upper, weight = [], [], []
    for i in range(n * factor):
        src = (i + 0.5) / factor - 0.5
        floor = math.floor(src)
        lower.append(min(max(floor, 0), n - 1))
        upper.append(min(max(floor + 1, 0), n - 1))
        weight.append(src - floor)
    return lower, upper, weight


def _bilinear_axis(xp, x, axis, factor):
    if factor == 1:
        return x
    from array_api_compat import device

    lower, upper, weight = bilinear_taps(x.shape[axis], factor)
    dev = device(x)
    lo = xp.take(x, xp.asarray(lower, dtype=xp.int64, device=dev), axis=axis)
    hi = xp.take(x, xp.asarray(upper, dtype=xp.int64, device=dev), axis=axis)
    shape = [1] * x.ndim
    shape[axis] = len(weight)
    w = xp.reshape(xp.asarray(weight, dtype=x.dtype, device=dev), tuple(shape))
    return lo + (hi - lo) * w


def upsample(x, *, geometry):
    """Up-sample the spatial axes by the integer factors ``geometry.size`` (nearest or
    bilinear)."""
    xp = namespace(x)
    fmt = geometry.data_format
    xl = to_last(xp, x, fmt)
    step = _bilinear_axis if geometry.interpolation == "bilinear" else _nearest_axis
    for axis, factor in enumerate(geometry.size, start=1):
        xl = step(xp, xl, axis, factor)
    return from_last(xp, xl, fmt)


def pad(x, *, geometry):
    """Zero-pad (or crop, for negative amounts) the spatial axes by ``geometry.pads``."""
    xp = namespace(x)
    fmt = geometry.data_format
    return from_last(xp, pad_spatial(xp, to_last(xp, x, fmt), geometry.pads), fmt)
