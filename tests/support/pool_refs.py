"""Plain-loop references for pooling (channels_last), written independently of cthulhu.

Each output position's window is listed sample by sample; padding is *excluded*:
samples outside the input are skipped, so a maximum never sees them and an average
divides by the number of real samples (TensorFlow's pooling). ``'same'`` pads are
TensorFlow's: ``total = max((ceil(n/s) - 1) * s + k - n, 0)``, the odd one at the end.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def same_pads(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return (total // 2, total - total // 2)


def pads_of(spatial, pool_size, strides, padding):
    if padding == "valid":
        return tuple((0, 0) for _ in spatial)
    if padding == "same":
        return tuple(same_pads(n, k, s) for n, k, s in zip(spatial, pool_size, strides, strict=True))
    return tuple(tuple(p) for p in padding)


def pool(x, pool_size, strides=None, padding="valid", kind="max"):
    """``x``: ``(N, *S, C)``; float64 result."""
    strides = tuple(pool_size) if strides is None else tuple(strides)
    spatial = x.shape[1:-1]
    pads = pads_of(spatial, pool_size, strides, padding)
    out_sp = tuple((n + lo + hi - k) // s + 1
                   for n, k, s, (lo, hi) in zip(spatial, pool_size, strides, pads, strict=True))
    y = np.zeros((x.shape[0], *out_sp, x.shape[-1]))
    for b in range(x.shape[0]):
        for o in itertools.product(*(range(m) for m in out_sp)):
            for c in range(x.shape[-1]):
                values = []
                for t in itertools.product(*(range(k) for k in pool_size)):
                    i = tuple(oo * s - lo + tt for oo, s, (lo, _), tt in
                              zip(o, strides, pads, t, strict=True))
                    if all(0 <= ii < n for ii, n in zip(i, spatial, strict=True)):
                        values.append(float(x[(b, *i, c)]))
                if kind == "max":
                    v = values[0]
                    for w in values[1:]:
                        v = w if (w > v or math.isnan(w)) and not math.isnan(v) else v
                    y[(b, *o, c)] = v
                else:
                    y[(b, *o, c)] = sum(values) / len(values)
    return y


def global_pool(x, kind="max", keepdims=False):
    """``x``: ``(N, *S, C)``; float64 result ``(N, C)`` (``keepdims``: ``(N, 1.., C)``)."""
    n, c = x.shape[0], x.shape[-1]
    y = np.zeros((n, c))
    for b in range(n):
        for ch in range(c):
            values = [float(v) for v in np.asarray(x[b, ..., ch]).ravel()]
            y[b, ch] = max(values) if kind == "max" else sum(values) / len(values)
    if keepdims:
        y = y.reshape((n,) + (1,) * (x.ndim - 2) + (c,))
    return y


def to_first(a):
    return np.moveaxis(a, -1, 1)
