"""Independent NumPy references for the layer tests.

Written from the Keras/TensorFlow definitions, not from cthulhu's code: plain
Python loops over output positions and kernel offsets on tiny sizes, the padding
worked out here from TensorFlow's rule (``same``: ``out = ceil(n / s)``, the odd
extra padding at the end; ``causal``: ``dilation * (k - 1)`` zeros in front), the
transposed convolution as a scatter-add (the gradient of a convolution), bilinear
resizing by TensorFlow 2's half-pixel formula, and the LSTM as a step loop.

Every function takes and returns NumPy arrays in the layer's ``data_format``
and computes in float64.
"""

import itertools
import math

import numpy as np

# ----------------------------------------------------------------------------- helpers


def to_last(x, data_format):
    """channels_first -> channels_last (a copy in float64)."""
    x = np.asarray(x, dtype=np.float64)
    return np.moveaxis(x, 1, -1) if data_format == "channels_first" else x


def from_last(y, data_format):
    return np.moveaxis(y, -1, 1) if data_format == "channels_first" else y


def tf_padding(n, k, s, d, padding):
    """(lo, hi) zero padding of TensorFlow's convolution along one axis."""
    k_eff = d * (k - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return k_eff - 1, 0
    out = -(-n // s)  # ceil(n / s)
    total = max((out - 1) * s + k_eff - n, 0)
    return total // 2, total - total // 2


def _pad(x, pads):
    """Zero-pad the spatial axes of a channels_last array."""
    return np.pad(x, [(0, 0), *pads, (0, 0)])


def _windows(xp_, out_sizes, kernel_size, strides, dilation):
    """Yield (out_index, kernel_index, in_index) over every output position and offset."""
    for o in itertools.product(*[range(n) for n in out_sizes]):
        for k in itertools.product(*[range(n) for n in kernel_size]):
            i = tuple(oo * s + kk * d for oo, kk, s, d in zip(o, k, strides, dilation, strict=True))
            yield o, k, i


def _out_sizes(padded, kernel_size, strides, dilation):
    return [
        (n - (d * (k - 1) + 1)) // s + 1
        for n, k, s, d in zip(padded, kernel_size, strides, dilation, strict=True)
    ]


# ----------------------------------------------------------------------------- convolutions


def conv(x, kernel, bias, strides, padding, dilation, data_format):
    """Keras ConvND: cross-correlation, kernel (*k, C, F)."""
    x = to_last(x, data_format)
    kernel = np.asarray(kernel, dtype=np.float64)
    ks = kernel.shape[:-2]
    pads = [tf_padding(n, k, s, d, padding)
            for n, k, s, d in zip(x.shape[1:-1], ks, strides, dilation, strict=True)]
    xpad = _pad(x, pads)
    outs = _out_sizes(xpad.shape[1:-1], ks, strides, dilation)
    y = np.zeros((x.shape[0], *outs, kernel.shape[-1]))
    for b in range(x.shape[0]):
        for o, k, i in _windows(None, outs, ks, strides, dilation):
            y[(b, *o)] += xpad[(b, *i)] @ kernel[k]
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float64)
    return from_last(y, data_format)


def depthwise_conv(x, kernel, bias, strides, padding, dilation, data_format):
    """Keras DepthwiseConv2D: kernel (*k, C, M); output channel c * M + m."""
    x = to_last(x, data_format)
    kernel = np.asarray(kernel, dtype=np.float64)
    ks = kernel.shape[:-2]
    channels, mult = kernel.shape[-2:]
    pads = [tf_padding(n, k, s, d, padding)
            for n, k, s, d in zip(x.shape[1:-1], ks, strides, dilation, strict=True)]
    xpad = _pad(x, pads)
    outs = _out_sizes(xpad.shape[1:-1], ks, strides, dilation)
    y = np.zeros((x.shape[0], *outs, channels * mult))
    for b in range(x.shape[0]):
        for o, k, i in _windows(None, outs, ks, strides, dilation):
            for c in range(channels):
                for m in range(mult):
                    y[(b, *o, c * mult + m)] += xpad[(b, *i, c)] * kernel[(*k, c, m)]
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float64)
    return from_last(y, data_format)


def separable_conv(x, dkernel, pkernel, bias, strides, padding, dilation, data_format):
    """Keras SeparableConvND: depthwise (strided, dilated), then a 1x1 pointwise conv."""
    mid = depthwise_conv(x, dkernel, None, strides, padding, dilation, data_format)
    ones = (1,) * (np.ndim(dkernel) - 2)
    return conv(mid, pkernel, bias, ones, "valid", ones, data_format)


def conv_transpose(x, kernel, bias, strides, padding, output_padding, dilation, data_format):
    """Keras ConvNDTranspose by scatter-add; kernel (*k, F, C).

    Each input sample spreads ``x[i] * w[j]`` to the full-length position
    ``i * s + j * d``; the result is then cut to Keras's output length starting at
    the ``lo`` padding TensorFlow's forward convolution of that length would use.
    """
    x = to_last(x, data_format)
    kernel = np.asarray(kernel, dtype=np.float64)
    ks = kernel.shape[:-2]
    filters = kernel.shape[-2]
    rank = len(ks)
    if output_padding is None:
        output_padding = (None,) * rank
    lengths, starts = [], []
    for n, k, s, d, p in zip(x.shape[1:-1], ks, strides, dilation, output_padding, strict=True):
        k_eff = d * (k - 1) + 1
        if p is None:
            length = n * s + max(k_eff - s, 0) if padding == "valid" else n * s
        else:
            pad = k_eff // 2 if padding == "same" else 0
            length = (n - 1) * s + k_eff - 2 * pad + p
        lengths.append(length)
        starts.append(tf_padding(length, k, s, d, padding)[0])
    full = [(n - 1) * s + d * (k - 1) + 1
            for n, k, s, d in zip(x.shape[1:-1], ks, strides, dilation, strict=True)]
    big = [max(f, st + ln) for f, st, ln in zip(full, starts, lengths, strict=True)]
    y = np.zeros((x.shape[0], *big, filters))
    for b in range(x.shape[0]):
        for i in itertools.product(*[range(n) for n in x.shape[1:-1]]):
            for k in itertools.product(*[range(n) for n in ks]):
                pos = tuple(ii * s + kk * d for ii, kk, s, d in zip(i, k, strides, dilation, strict=True))
                y[(b, *pos)] += kernel[k] @ x[(b, *i)]
    cut = tuple(slice(st, st + ln) for st, ln in zip(starts, lengths, strict=True))
    y = y[(slice(None), *cut, slice(None))]
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float64)
    return from_last(y, data_format)


# ----------------------------------------------------------------------------- resampling


def upsample_nearest(x, size, data_format):
    x = to_last(x, data_format)
    for axis, s in enumerate(size, start=1):
        x = np.repeat(x, s, axis=axis)
    return from_last(x, data_format)


def resize_bilinear(x, size, data_format):
    """TF2 ``tf.image.resize(..., 'bilinear')``: half-pixel centres, no corner alignment."""
    x = to_last(x, data_format)
    n, h, w, c = x.shape
    oh, ow = h * size[0], w * size[1]

    def taps(o, n_in, n_out):
        src = (o + 0.5) * n_in / n_out - 0.5
        lo = math.floor(src)
        frac = src - lo
        return min(max(lo, 0), n_in - 1), min(max(lo + 1, 0), n_in - 1), frac

    y = np.zeros((n, oh, ow, c))
    for i in range(oh):
        r0, r1, fr = taps(i, h, oh)
        for j in range(ow):
            c0, c1, fc = taps(j, w, ow)
            top = (1 - fc) * x[:, r0, c0] + fc * x[:, r0, c1]
            bottom = (1 - fc) * x[:, r1, c0] + fc * x[:, r1, c1]
            y[:, i, j] = (1 - fr) * top + fr * bottom
    return from_last(y, data_format)


def resize_trilinear(x, size, data_format):
    """``UbboSathla3D(interpolation='trilinear')``: TF2's half-pixel rule on each of the
    three axes, written as the weighted sum of the 8 corners around each output sample
    (not axis by axis, as the implementations interpolate)."""
    x = to_last(x, data_format)
    n, d, h, w, c = x.shape
    out = (d * size[0], h * size[1], w * size[2])

    def taps(o, n_in, n_out):
        src = (o + 0.5) * n_in / n_out - 0.5
        lo = math.floor(src)
        frac = src - lo
        return ((min(max(lo, 0), n_in - 1), 1 - frac), (min(max(lo + 1, 0), n_in - 1), frac))

    y = np.zeros((n, *out, c))
    for o in itertools.product(*[range(m) for m in out]):
        corners = [taps(oo, m_in, m_out) for oo, m_in, m_out in zip(o, (d, h, w), out,
                                                                     strict=True)]
        for (z, wz), (r, wr), (q, wq) in itertools.product(*corners):
            y[(slice(None), *o)] += wz * wr * wq * x[:, z, r, q]
    return from_last(y, data_format)


def crop(x, pairs, data_format):
    x = to_last(x, data_format)
    cut = tuple(slice(lo, n - hi) for (lo, hi), n in zip(pairs, x.shape[1:-1], strict=True))
    return from_last(x[(slice(None), *cut, slice(None))], data_format)


def zero_pad(x, pairs, data_format):
    return from_last(_pad(to_last(x, data_format), list(pairs)), data_format)


# ----------------------------------------------------------------------------- recurrent


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def hard_sigmoid(z):
    """Keras 2: clip(0.2 * z + 0.5, 0, 1)."""
    return np.clip(0.2 * z + 0.5, 0.0, 1.0)


def lstm(x, kernel, recurrent_kernel, bias, mask=None, *, activation=np.tanh,
         recurrent_activation=hard_sigmoid, return_sequences=False, go_backwards=False):
    """Keras 2 LSTM, gates in the order i, f, c, o; a masked step keeps the state.

    Returns ``(output, h, c)``; ``output`` is the sequence (in processing order,
    as Keras returns it with ``go_backwards``) or the last output.
    """
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    if mask is None:
        mask = np.ones((batch, steps), dtype=bool)
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    outputs = []
    for t in order:
        for b in range(batch):
            if not mask[b, t]:
                continue  # a masked step: state carried over, output repeats the previous one
            z = x[b, t] @ kernel + h[b] @ recurrent_kernel
            if bias is not None:
                z = z + bias
            i = recurrent_activation(z[:units])
            f = recurrent_activation(z[units:2 * units])
            g = activation(z[2 * units:3 * units])
            o = recurrent_activation(z[3 * units:])
            c[b] = f * c[b] + i * g
            h[b] = o * activation(c[b])
        outputs.append(h.copy())
    out = np.stack(outputs, axis=1) if return_sequences else h.copy()
    return out, h, c
