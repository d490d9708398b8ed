"""Helpers shared by the NumPy kernels: dtypes, layouts, padding, bias and activation."""

from __future__ import annotations

import numpy as np

# Rows of the im2col matrix built at once: big enough for BLAS to run at full
# speed, small enough that the matrix stays in the L2/L3 caches.
TARGET_CHUNK_BYTES = 2 << 20


def compute_dtype(dtype):
    """float16 has no BLAS: compute in float32 and cast back at the end."""
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype.kind != "f":
        return None
    return dtype


def to_last(x, fmt):
    if fmt == "channels_last":
        return x
    return np.moveaxis(x, 1, -1)


def from_last(y, fmt):
    if fmt == "channels_last":
        return y
    return np.moveaxis(y, -1, 1)


def padded(x, pads, dtype):
    """``x`` (channels_last) zero-padded by ``(lo, hi)`` pairs (negative crops), contiguous, ``dtype``."""
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(x.shape[1:-1], pads, strict=False))
    x = x[(slice(None), *crop, slice(None))]
    pads = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    if not any(lo or hi for lo, hi in pads):
        return np.ascontiguousarray(x, dtype=dtype)
    shape = (x.shape[0], *(n + lo + hi for n, (lo, hi) in zip(x.shape[1:-1], pads, strict=False)), x.shape[-1])
    out = np.zeros(shape, dtype=dtype)
    inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[1:-1], pads, strict=False))
    out[(slice(None), *inner, slice(None))] = x
    return out


def finish(y, bias, activation, out_dtype):
    """Bias and activation in place on the compute-dtype result, then the output dtype."""
    if bias is not None:
        y += bias.astype(y.dtype, copy=False)
    if activation == "relu":
        np.maximum(y, 0, out=y)
    if y.dtype != out_dtype:
        y = y.astype(out_dtype)
    return y
