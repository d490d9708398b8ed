"""Matmul and resampling written only against the Array API standard."""

from __future__ import annotations

import math

from cthulhu.ops.generic._util import from_last, namespace, to_last


def matmul(x, kernel):
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


def upsample(x, size, *, interpolation="nearest", data_format="channels_last"):
    """Up-sample the spatial axes by integer factors ``size`` (nearest or bilinear)."""
    xp = namespace(x)
    xl = to_last(xp, x, data_format)
    step = _bilinear_axis if interpolation == "bilinear" else _nearest_axis
    for axis, factor in enumerate(size, start=1):
        xl = step(xp, xl, axis, factor)
    return from_last(xp, xl, data_format)


def pad(x, pads, *, data_format="channels_last"):
    """Zero-pad (or crop, for negative amounts) the spatial axes by ``(lo, hi)`` pairs."""
    from cthulhu.ops.generic._util import pad_spatial

    xp = namespace(x)
    return from_last(xp, pad_spatial(xp, to_last(xp, x, data_format), pads), data_format)


def crop(x, cropping, *, data_format="channels_last"):
    """Remove ``(lo, hi)`` samples from each spatial axis."""
    return pad(x, tuple((-lo, -hi) for lo, hi in cropping), data_format=data_format)
