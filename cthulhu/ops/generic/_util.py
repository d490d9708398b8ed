"""Array API building blocks shared by the generic ops (no library-specific calls)."""

from __future__ import annotations

from array_api_compat import array_namespace, device

from cthulhu.shapes.layout import from_channels_last, is_channels_first, to_channels_last


def namespace(*arrays):
    return array_namespace(*arrays)


def to_last(xp, x, fmt: str):
    """``x`` in channels_last order (a no-op when it already is)."""
    if not is_channels_first(fmt):
        return x
    return xp.permute_dims(x, to_channels_last(x.ndim, fmt))


def from_last(xp, y, fmt: str):
    """Undo :func:`to_last` on a result."""
    if not is_channels_first(fmt):
        return y
    return xp.permute_dims(y, from_channels_last(y.ndim, fmt))


def zeros_like_shape(xp, x, shape):
    return xp.zeros(tuple(shape), dtype=x.dtype, device=device(x))


def pad_axis(xp, x, axis: int, lo: int, hi: int):
    """Zero-pad (positive) or crop (negative) ``x`` along one axis.

    Written with ``concat`` and slicing only, so immutable arrays (JAX) and
    strict namespaces without ``pad`` work.
    """
    if lo < 0 or hi < 0:
        n = x.shape[axis]
        start, stop = max(-lo, 0), n - max(-hi, 0)
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, stop)
        x = x[tuple(index)]
        lo, hi = max(lo, 0), max(hi, 0)
    parts = []
    for amount in (lo, None, hi):
        if amount is None:
            parts.append(x)
        elif amount > 0:
            shape = list(x.shape)
            shape[axis] = amount
            parts.append(zeros_like_shape(xp, x, shape))
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=axis)


def pad_spatial(xp, x, pads):
    """Pad the spatial axes ``1..rank`` of a channels_last array by ``(lo, hi)`` pairs."""
    for axis, (lo, hi) in enumerate(pads, start=1):
        if lo or hi:
            x = pad_axis(xp, x, axis, lo, hi)
    return x


def stuff_axis(xp, x, axis: int, stride: int):
    """Insert ``stride - 1`` zeros between consecutive samples along ``axis``."""
    if stride == 1:
        return x
    n = x.shape[axis]
    expanded = xp.expand_dims(x, axis=axis + 1)
    shape = list(expanded.shape)
    shape[axis + 1] = stride - 1
    both = xp.concat([expanded, zeros_like_shape(xp, x, shape)], axis=axis + 1)
    merged = list(x.shape)
    merged[axis] = n * stride
    y = xp.reshape(both, tuple(merged))
    index = [slice(None)] * x.ndim
    index[axis] = slice(0, (n - 1) * stride + 1)
    return y[tuple(index)]


def window(offset, dilation, strides, out_sizes):
    """The index of the input samples that kernel tap ``offset`` meets, for every output."""
    spatial = tuple(slice(o * d, o * d + (m - 1) * s + 1, s)
                    for o, d, s, m in zip(offset, dilation, strides, out_sizes, strict=True))
    return (slice(None), *spatial, slice(None))
