"""Independent plain-loop references for the ops tests (tiny sizes only).

Written from the definitions (Keras 2 / TensorFlow semantics), not from
cthulhu's code: padding amounts and output lengths are recomputed here from
TensorFlow's rules, and every output sample is a loop over kernel taps.
All arrays are NumPy, channels_last, computed in float64.
"""

import itertools
import math

import numpy as np


def tf_same_pads(n, k, s, d):
    """TensorFlow 'SAME': output ceil(n/s); the odd extra zero goes at the end."""
    K = d * (k - 1) + 1
    out = -(-n // s)
    total = max((out - 1) * s + K - n, 0)
    return total // 2, total - total // 2


def pads_for(padding, spatial, ksize, strides, dilation):
    if not isinstance(padding, str):
        return [tuple(p) for p in padding]
    pads = []
    for n, k, s, d in zip(spatial, ksize, strides, dilation, strict=False):
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "causal":
            pads.append((d * (k - 1), 0))
        else:
            pads.append(tf_same_pads(n, k, s, d))
    return pads


def _sample(x, b, pos, pads):
    """x[b, pos - lo, :] or zeros outside (the zero padding)."""
    idx = []
    for p, n, (lo, _) in zip(pos, x.shape[1:-1], pads, strict=False):
        q = p - lo
        if q < 0 or q >= n:
            return np.zeros(x.shape[-1])
        idx.append(q)
    return x[(b, *idx)]


def _out_len(n, k, s, d, lo, hi):
    K = d * (k - 1) + 1
    return (n + lo + hi - K) // s + 1


def conv(x, kernel, strides, padding, dilation):
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    ksize = kernel.shape[:-2]
    pads = pads_for(padding, x.shape[1:-1], ksize, strides, dilation)
    outs = [_out_len(n, k, s, d, lo, hi) for n, k, s, d, (lo, hi)
            in zip(x.shape[1:-1], ksize, strides, dilation, pads, strict=False)]
    y = np.zeros((x.shape[0], *outs, kernel.shape[-1]))
    for b in range(x.shape[0]):
        for o in itertools.product(*map(range, outs)):
            acc = np.zeros(kernel.shape[-1])
            for t in itertools.product(*map(range, ksize)):
                pos = [oi * s + ti * d for oi, ti, s, d in zip(o, t, strides, dilation, strict=False)]
                acc += _sample(x, b, pos, pads) @ kernel[t]
            y[(b, *o)] = acc
    return y


def depthwise(x, kernel, strides, padding, dilation):
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    ksize = kernel.shape[:-2]
    c, m = kernel.shape[-2:]
    pads = pads_for(padding, x.shape[1:-1], ksize, strides, dilation)
    outs = [_out_len(n, k, s, d, lo, hi) for n, k, s, d, (lo, hi)
            in zip(x.shape[1:-1], ksize, strides, dilation, pads, strict=False)]
    y = np.zeros((x.shape[0], *outs, c * m))
    for b in range(x.shape[0]):
        for o in itertools.product(*map(range, outs)):
            for t in itertools.product(*map(range, ksize)):
                pos = [oi * s + ti * d for oi, ti, s, d in zip(o, t, strides, dilation, strict=False)]
                v = _sample(x, b, pos, pads)
                for ci in range(c):
                    for mi in range(m):
                        y[(b, *o, ci * m + mi)] += v[ci] * kernel[(*t, ci, mi)]
    return y


def separable(x, dk, pk, strides, padding, dilation):
    mid = depthwise(x, dk, strides, padding, dilation)
    pk = np.asarray(pk, np.float64)
    return mid @ pk.reshape(pk.shape[-2], pk.shape[-1])


def keras_deconv_length(n, k, s, padding, output_padding, d):
    """Keras 2 ``deconv_length`` (conv_utils), dilation included."""
    K = d * (k - 1) + 1
    if output_padding is None:
        if padding == "valid":
            return n * s + max(K - s, 0)
        return n * s
    pad = K // 2 if padding == "same" else 0
    return (n - 1) * s + K - 2 * pad + output_padding


def conv_transpose(x, kernel, strides, padding, output_padding, dilation):
    """The gradient of a TF convolution whose input has Keras' deconv length.

    Forward conv: y[o] = sum_t in[o*s + t*d - P] @ k[t], with P TensorFlow's
    before-padding for an input of length L. Its transpose scatters
    x[i] @ k[t].T onto out[i*s + t*d - P]; kernel is (*k, F, C).
    """
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    ksize = kernel.shape[:-2]
    rank = len(ksize)
    outp = output_padding or (None,) * rank
    L = [keras_deconv_length(n, k, s, padding, p, d)
         for n, k, s, p, d in zip(x.shape[1:-1], ksize, strides, outp, dilation, strict=False)]
    P = []
    for n_out, k, s, d in zip(L, ksize, strides, dilation, strict=False):
        P.append(0 if padding == "valid" else tf_same_pads(n_out, k, s, d)[0])
    y = np.zeros((x.shape[0], *L, kernel.shape[-2]))
    for b in range(x.shape[0]):
        for i in itertools.product(*map(range, x.shape[1:-1])):
            for t in itertools.product(*map(range, ksize)):
                o = [ii * s + ti * d - p for ii, ti, s, d, p in zip(i, t, strides, dilation, P, strict=False)]
                if all(0 <= oi < n for oi, n in zip(o, L, strict=False)):
                    y[(b, *o)] += kernel[t] @ x[(b, *i)]
    return y


def upsample_nearest(x, size):
    x = np.asarray(x, np.float64)
    outs = [n * f for n, f in zip(x.shape[1:-1], size, strict=False)]
    y = np.zeros((x.shape[0], *outs, x.shape[-1]))
    for o in itertools.product(*map(range, outs)):
        src = tuple(oi // f for oi, f in zip(o, size, strict=False))
        y[(slice(None), *o)] = x[(slice(None), *src)]
    return y


def _tf_coord(i, n, f):
    """TF2 half-pixel source coordinate: lower index, upper index, fraction."""
    src = (i + 0.5) / f - 0.5
    lo = math.floor(src)
    frac = src - lo
    return min(max(lo, 0), n - 1), min(max(lo + 1, 0), n - 1), frac


def upsample_bilinear_2d(x, size):
    """tf.image.resize(x, (h*a, w*b), 'bilinear'): four neighbours per output pixel."""
    x = np.asarray(x, np.float64)
    nb, h, w, c = x.shape
    a, bb = size
    y = np.zeros((nb, h * a, w * bb, c))
    for i in range(h * a):
        y0, y1, fy = _tf_coord(i, h, a)
        for j in range(w * bb):
            x0, x1, fx = _tf_coord(j, w, bb)
            top = x[:, y0, x0] * (1 - fx) + x[:, y0, x1] * fx
            bottom = x[:, y1, x0] * (1 - fx) + x[:, y1, x1] * fx
            y[:, i, j] = top * (1 - fy) + bottom * fy
    return y


def to_first(y):
    """channels_last -> channels_first, for comparing with channels_first results."""
    return np.moveaxis(y, -1, 1)
