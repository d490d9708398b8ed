"""Brute-force NumPy references for the shape tests, written apart from cthulhu.shapes.

Nothing here imports cthulhu: each reference computes an actual result (or
counts windows one by one), and the tests compare the shape algebra with it.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def count_windows(padded_length, k, s, d):
    """Number of window starts t = 0, s, 2s, ... with the whole dilated window inside."""
    count, t = 0, 0
    while t + (k - 1) * d < padded_length:
        count += 1
        t += s
    return count


def ceil_div(a, b):
    return -(-a // b)


def tf_same_pads(n, k, s, d):
    """TensorFlow 'same': the smallest total padding giving ceil(n/s) windows, half before."""
    want = ceil_div(n, s)
    total = 0
    while count_windows(n + total, k, s, d) < want:
        total += 1
    return total // 2, total - total // 2


def conv1d(x, w, s, d, pads):
    """Direct 1D cross-correlation by loops: x (n,), w (k,), explicit (lo, hi) padding."""
    lo, hi = pads
    xp = np.pad(x, (max(lo, 0), max(hi, 0)))
    xp = xp[max(-lo, 0): len(xp) - max(-hi, 0)]
    out = []
    t = 0
    while t + (len(w) - 1) * d < len(xp):
        out.append(sum(xp[t + j * d] * w[j] for j in range(len(w))))
        t += s
    return np.array(out)


def conv1d_matrix(length, k, s, d, pads, w):
    """The forward convolution as a matrix A with conv1d(x) = A @ x (x of size ``length``)."""
    cols = [conv1d(np.eye(length)[i], w, s, d, pads) for i in range(length)]
    return np.stack(cols, axis=1)


def scatter_transpose1d(x, w, s, d, forward_lo, out_length):
    """Transposed convolution by scatter-add: y[i*s + j*d - lo] += x[i] * w[j], inside [0, L)."""
    y = np.zeros(out_length)
    for i in range(len(x)):
        for j in range(len(w)):
            o = i * s + j * d - forward_lo
            if 0 <= o < out_length:
                y[o] += x[i] * w[j]
    return y


def zero_insert1d(x, s):
    z = np.zeros((len(x) - 1) * s + 1)
    z[::s] = x
    return z


def conv_nd(x, kernel, strides, dilation, pads, channels_first=False):
    """N-D convolution computed by NumPy windows. x (B, *S, C) or (B, C, *S); kernel (*k, C, F)."""
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    rank = kernel.ndim - 2
    axes = tuple(range(1, rank + 1))
    x = np.pad(x, ((0, 0), *pads, (0, 0)))
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel.shape[:rank], dilation, strict=True))
    win = sliding_window_view(x, span, axis=axes)        # (B, *S', C, *span)
    win = win[(slice(None), *(slice(None, None, s) for s in strides))]
    win = win[(Ellipsis, *(slice(None, None, d) for d in dilation))]   # (B, *O, C, *k)
    c_and_k = [rank + 1, *range(rank + 2, 2 * rank + 2)]
    y = np.tensordot(win, kernel, axes=(c_and_k, [rank, *range(rank)]))   # (B, *O, F)
    return np.moveaxis(y, -1, 1) if channels_first else y


def depthwise_nd(x, kernel, strides, dilation, pads, channels_first=False):
    """Depthwise convolution: kernel (*k, C, M), output channel c*M + m."""
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    rank = kernel.ndim - 2
    axes = tuple(range(1, rank + 1))
    x = np.pad(x, ((0, 0), *pads, (0, 0)))
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel.shape[:rank], dilation, strict=True))
    win = sliding_window_view(x, span, axis=axes)
    win = win[(slice(None), *(slice(None, None, s) for s in strides))]
    win = win[(Ellipsis, *(slice(None, None, d) for d in dilation))]   # (B, *O, C, *k)
    win = np.moveaxis(win, rank + 1, -1)                             # (B, *O, *k, C)
    k_axes = tuple(range(rank + 1, 2 * rank + 1))
    y = (win[..., None] * kernel).sum(axis=k_axes)                   # (B, *O, C, M)
    y = y.reshape(*y.shape[:-2], -1)
    return np.moveaxis(y, -1, 1) if channels_first else y
