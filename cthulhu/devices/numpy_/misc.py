"""Matmul and up-sampling on NumPy arrays."""

from __future__ import annotations

import numpy as np

from cthulhu.devices.base import fuses
from cthulhu.devices.numpy_._common import compute_dtype, finish, from_last, to_last


@fuses("bias", "activation")
def matmul(x, kernel, *, bias=None, activation=None):
    if x.dtype == np.float16:
        y = np.matmul(x.astype(np.float32), kernel.astype(np.float32))
        return finish(y, bias, activation, x.dtype)
    y = np.matmul(x, kernel)
    if bias is not None:
        y += bias
    if activation == "relu":
        np.maximum(y, 0, out=y)
    return y


def _bilinear_axis(x, axis, factor, ctype):
    from cthulhu.ops.generic import bilinear_taps

    lower, upper, weight = bilinear_taps(x.shape[axis], factor)
    lo = np.take(x, lower, axis=axis)
    hi = np.take(x, upper, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = len(weight)
    w = np.asarray(weight, dtype=ctype).reshape(shape)
    hi -= lo
    hi *= w
    hi += lo
    return hi


def upsample(x, *, size, interpolation, data_format):
    xl = to_last(x, data_format)
    if interpolation == "bilinear":
        ctype = compute_dtype(x.dtype)
        y = xl.astype(ctype, copy=False)
        for axis, factor in enumerate(size, start=1):
            if factor != 1:
                y = _bilinear_axis(y, axis, factor, ctype)
        return from_last(y.astype(x.dtype, copy=False), data_format)
    # nearest: one broadcast copy with a new length-`factor` axis after each spatial axis
    n, *spatial, c = xl.shape
    expanded = xl.reshape(n, *[v for s in spatial for v in (s, 1)], c)
    target = (n, *[v for s, f in zip(spatial, size, strict=False) for v in (s, f)], c)
    y = np.broadcast_to(expanded, target).reshape(n, *[s * f for s, f in zip(spatial, size, strict=False)], c)
    return from_last(y, data_format)
