"""Plain-loop NumPy references for the kernel tests, written apart from the kernels and
from every cthulhu module (tiny sizes only). All work on channels_last arrays in float64.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def pad_explicit(x, pads):
    """Zero-pad (negative = crop) the spatial axes of a channels_last array."""
    for axis, (lo, hi) in enumerate(pads, start=1):
        if lo < 0:
            x = np.take(x, range(-lo, x.shape[axis]), axis=axis)
            lo = 0
        if hi < 0:
            x = np.take(x, range(0, x.shape[axis] + hi), axis=axis)
            hi = 0
        widths = [(0, 0)] * x.ndim
        widths[axis] = (lo, hi)
        x = np.pad(x, widths)
    return x


def conv(x, w, strides, dilation, pads, bias=None, relu=False):
    """y[n, o, f] = sum over window taps t and channels c of xpad[n, o*s + t*d, c] * w[t, c, f]."""
    xp = pad_explicit(np.asarray(x, np.float64), pads)
    ksize = w.shape[:-2]
    span = [d * (k - 1) + 1 for k, d in zip(ksize, dilation, strict=True)]
    out = [(n - sp) // s + 1 for n, sp, s in zip(xp.shape[1:-1], span, strides, strict=True)]
    y = np.zeros((x.shape[0], *out, w.shape[-1]))
    for o in itertools.product(*map(range, out)):
        for t in itertools.product(*map(range, ksize)):
            idx = tuple(oi * s + ti * d for oi, ti, s, d in zip(o, t, strides, dilation, strict=True))
            y[(slice(None), *o)] += xp[(slice(None), *idx)] @ w[t]
    return _finish(y, bias, relu)


def conv_transpose(x, w, strides, dilation, pads, bias=None, relu=False):
    """Scatter-add form (the gradient of a convolution): input sample i and tap t add
    x[i] @ w[t].T to output i*s + t*d - (d*(k-1) - lo); the output length is that of the
    stride-1 convolution of the zero-stuffed input padded by ``pads``."""
    ksize = w.shape[:-2]
    spatial = x.shape[1:-1]
    out = [(n - 1) * s + 1 + lo + hi - d * (k - 1)
           for n, s, (lo, hi), k, d in zip(spatial, strides, pads, ksize, dilation, strict=True)]
    shift = [d * (k - 1) - lo for k, d, (lo, _) in zip(ksize, dilation, pads, strict=True)]
    y = np.zeros((x.shape[0], *out, w.shape[-2]))
    for i in itertools.product(*map(range, spatial)):
        for t in itertools.product(*map(range, ksize)):
            o = tuple(ii * s + ti * d - sh
                      for ii, ti, s, d, sh in zip(i, t, strides, dilation, shift, strict=True))
            if all(0 <= oo < n for oo, n in zip(o, out, strict=True)):
                y[(slice(None), *o)] += np.asarray(x, np.float64)[(slice(None), *i)] @ w[t].T
    return _finish(y, bias, relu)


def depthwise(x, w, strides, dilation, pads, bias=None, relu=False):
    """Output channel c*M + m of input channel c and multiplier m."""
    c, m = w.shape[-2:]
    outs = [conv(x[..., ci:ci + 1], w[..., ci:ci + 1, :], strides, dilation, pads)
            for ci in range(c)]
    y = np.concatenate(outs, axis=-1)  # channel order c*M + m
    return _finish(y, bias, relu)


def upsample_nearest(x, size):
    for axis, f in enumerate(size, start=1):
        x = np.repeat(x, f, axis=axis)
    return x


def upsample_bilinear(x, size):
    """TensorFlow 2 resize, half-pixel centres, per output pixel."""
    n, h, w, c = x.shape
    fh, fw = size
    y = np.zeros((n, h * fh, w * fw, c))

    def taps(o, size_in, size_out):
        src = (o + 0.5) * size_in / size_out - 0.5
        lo = max(math.floor(src), 0)
        hi = min(math.ceil(src), size_in - 1)
        return lo, max(hi, 0), src - math.floor(src)

    for oy in range(h * fh):
        y0, y1, ty = taps(oy, h, h * fh)
        for ox in range(w * fw):
            x0, x1, tx = taps(ox, w, w * fw)
            top = x[:, y0, x0] * (1 - tx) + x[:, y0, x1] * tx
            bottom = x[:, y1, x0] * (1 - tx) + x[:, y1, x1] * tx
            y[:, oy, ox] = top * (1 - ty) + bottom * ty
    return y


def _finish(y, bias, relu):
    if bias is not None:
        y = y + bias
    if relu:
        y = np.maximum(y, 0)
    return y


def to_first(x):
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def to_last(x):
    return np.moveaxis(x, 1, -1)


# -- operand rounding of the tensor-core paths (PTX ISA cvt semantics) ----------------

def round_tf32(a):
    """cvt.rna.tf32.f32: 10 mantissa bits, ties away from zero (finite values)."""
    a = np.asarray(a, np.float32)
    bits = a.view(np.uint32)
    rounded = ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)
    return np.where(np.isfinite(a), rounded, a)


def bf16_bits(a):
    """cvt.rn.bf16.f32: the upper 16 bits after rounding to nearest, ties to even."""
    bits = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)


def epilogue(y, bias=None, scale=None, shift=None, activation=None, alpha=0.0):
    """GEOMETRY.md's epilogue on a channels_last float64 array."""
    if bias is not None:
        y = y + bias
    if scale is not None:
        y = y * scale
    if shift is not None:
        y = y + shift
    if activation == "relu":
        y = np.maximum(y, 0)
    elif activation == "relu6":
        y = np.minimum(np.maximum(y, 0), 6)
    elif activation == "leaky_relu":
        y = np.where(y < 0, alpha * y, y)
    elif activation == "sigmoid":
        y = 1 / (1 + np.exp(-y))
    elif activation == "tanh":
        y = np.tanh(y)
    return y


def upsample_linear(x, size):
    """TF2 half-pixel linear interpolation along each spatial axis in turn (any rank)."""
    x = np.asarray(x, np.float64)
    for axis, f in enumerate(size, start=1):
        n = x.shape[axis]
        out = []
        for o in range(n * f):
            src = (o + 0.5) * n / (n * f) - 0.5
            lo = max(math.floor(src), 0)
            hi = max(min(math.ceil(src), n - 1), 0)
            t = src - math.floor(src)
            a, b = np.take(x, lo, axis=axis), np.take(x, hi, axis=axis)
            out.append(a + (b - a) * t)
        x = np.stack(out, axis=axis)
    return x
