"""Pooling written only against the Array API standard.

Both reductions are separable (the maximum, or the sum and the count, over a box is
the reduction along one axis after another), so each spatial axis in turn is padded
with the reduction's neutral value (``-inf`` for the maximum, ``0`` for the sum) and
reduced over the ``pool_size`` strided slices of it: no loop over positions, no
fancy indexing. An average divides the sums by the number of real samples under
each window (the padding is excluded), a product of per-axis counts.
"""

from __future__ import annotations

from array_api_compat import device

from cthulhu.ops.generic._util import from_last, namespace, to_last


def _pad_with(xp, x, axis: int, lo: int, hi: int, value: float):
    """``x`` with ``lo``/``hi`` samples of ``value`` added along ``axis``."""
    if not lo and not hi:
        return x
    parts = []
    for amount in (lo, None, hi):
        if amount is None:
            parts.append(x)
        elif amount:
            shape = list(x.shape)
            shape[axis] = amount
            parts.append(xp.full(tuple(shape), value, dtype=x.dtype, device=device(x)))
    return xp.concat(parts, axis=axis)


def _reduce_axis(xp, x, axis: int, k: int, s: int, pads, m: int, is_max: bool):
    """One axis of the pooling: ``m`` windows of ``k`` samples every ``s``."""
    lo, hi = pads
    x = _pad_with(xp, x, axis, lo, hi, float("-inf") if is_max else 0.0)
    out = None
    for t in range(k):
        index = [slice(None)] * x.ndim
        index[axis] = slice(t, t + (m - 1) * s + 1, s)
        part = x[tuple(index)]
        if out is None:
            out = part
        else:
            out = xp.maximum(out, part) if is_max else out + part
    return out


def _is_half(xp, dtype) -> bool:
    """Whether ``dtype`` is float16 (the standard has none; NumPy, CuPy, torch do)."""
    half = getattr(xp, "float16", None)
    return half is not None and dtype == half


def window_counts(n: int, k: int, s: int, lo: int, m: int) -> list[int]:
    """The number of real samples (of ``n``) under each of the ``m`` windows of one axis."""
    return [min(o * s - lo + k, n) - max(o * s - lo, 0) for o in range(m)]


def pool(x, *, geometry):
    """Max or average pooling of ``geometry`` (a :class:`cthulhu.shapes.PoolGeometry`)."""
    g = geometry
    xp = namespace(x)
    is_max = g.kind == "max"
    dtype = x.dtype
    y = to_last(xp, x, g.data_format)
    if not is_max and _is_half(xp, dtype):
        y = xp.astype(y, xp.float32)      # sums of float16 accumulate in float32
    per_axis = zip(g.pool_size, g.strides, g.pads, g.out_spatial, strict=True)
    for axis, (k, s, pads, m) in enumerate(per_axis, start=1):
        y = _reduce_axis(xp, y, axis, k, s, pads, m, is_max)
    if not is_max:
        count = None
        for axis, (n, k, s, (lo, _), m) in enumerate(
                zip(g.in_spatial, g.pool_size, g.strides, g.pads, g.out_spatial, strict=True),
                start=1):
            shape = [1] * y.ndim
            shape[axis] = m
            values = xp.asarray(window_counts(n, k, s, lo, m), dtype=y.dtype, device=device(y))
            values = xp.reshape(values, tuple(shape))
            count = values if count is None else count * values
        y = y / count
        if y.dtype != dtype:
            y = xp.astype(y, dtype)
    return from_last(xp, y, g.data_format)


def global_pool(x, *, geometry):
    """Max or average over every spatial position (:class:`cthulhu.shapes.GlobalPoolGeometry`)."""
    g = geometry
    xp = namespace(x)
    axes = tuple(g.spatial_axes)
    if g.kind == "max":
        return xp.max(x, axis=axes, keepdims=g.keepdims)
    if _is_half(xp, x.dtype):
        return xp.astype(xp.mean(xp.astype(x, xp.float32), axis=axes, keepdims=g.keepdims),
                         xp.float16)
    return xp.mean(x, axis=axes, keepdims=g.keepdims)
