"""Convolutions on NumPy arrays, through BLAS.

* ``conv``, stride 1: the input is padded once and flattened to a
  ``(rows, C)`` matrix. A kernel tap then reads a *contiguous* block of rows
  (a fixed row shift), so the im2col matrix of a chunk of rows is just those
  blocks side by side, and one GEMM with the ``(taps*C, F)`` kernel gives the
  chunk's outputs. Rows that fall in the padding are computed and thrown away
  (a few per cent for common sizes).
* ``conv``, strided: im2col over ``sliding_window_view`` (only the outputs'
  windows), one GEMM per chunk.
* ``conv_transpose``: one GEMM ``(rows, C) @ (C, taps*F)`` then a col2im
  scatter-add per tap (no zero-stuffing, so no wasted multiplications).
* ``depthwise_conv``: per-tap multiply-accumulate over strided views.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from cthulhu.devices.base import fuses
from cthulhu.devices.numpy_._common import (
    TARGET_CHUNK_BYTES,
    compute_dtype,
    finish,
    from_last,
    padded,
    to_last,
)
from cthulhu.ops import _args


def _taps(kernel_size):
    return list(itertools.product(*(range(k) for k in kernel_size)))


def _row_strides(shape):
    """Row offset of a unit step along each spatial axis of a flattened (N, *P) array."""
    return [math.prod(shape[i + 1:]) for i in range(len(shape))]


def _conv_flat(xpad, kmat, ksize, dilation, out_sizes, ctype):
    """Stride-1 convolution of a padded channels_last array by row-shifted GEMMs."""
    n, *spatial, c = xpad.shape
    f = kmat.shape[1]
    rows = xpad.reshape(-1, c)
    steps = _row_strides(spatial)
    shifts = [sum(t * d * st for t, d, st in zip(tap, dilation, steps, strict=False)) for tap in _taps(ksize)]
    total = rows.shape[0]
    needed = total - shifts[-1]
    y = np.empty((total, f), dtype=ctype)
    width = len(shifts) * c
    chunk = max(256, TARGET_CHUNK_BYTES // (width * ctype.itemsize))
    if len(shifts) == 1:
        np.matmul(rows[:needed], kmat, out=y[:needed])
    else:
        cols = np.empty((min(chunk, needed), width), dtype=ctype)
        for r0 in range(0, needed, chunk):
            r1 = min(r0 + chunk, needed)
            block = cols[: r1 - r0]
            for i, sh in enumerate(shifts):
                block[:, i * c:(i + 1) * c] = rows[r0 + sh:r1 + sh]
            np.matmul(block, kmat, out=y[r0:r1])
    y = y.reshape(n, *spatial, f)
    return y[(slice(None), *(slice(0, m) for m in out_sizes), slice(None))]


def _conv_im2col(xpad, kmat, ksize, strides, dilation, out_sizes, ctype):
    """Strided convolution: im2col of the outputs' windows, chunked over the batch."""
    n, *spatial, c = xpad.shape
    rank = len(ksize)
    span = [d * (k - 1) + 1 for k, d in zip(ksize, dilation, strict=False)]
    win = np.lib.stride_tricks.sliding_window_view(xpad, span, axis=tuple(range(1, rank + 1)))
    index = (slice(None), *(slice(0, (m - 1) * s + 1, s) for m, s in zip(out_sizes, strides, strict=False)),
             slice(None), *(slice(None, None, d) for d in dilation))
    win = win[index]                                   # (N, *O, C, *k)
    win = np.moveaxis(win, rank + 1, -1)               # (N, *O, *k, C)
    f = kmat.shape[1]
    per_item = math.prod(out_sizes) * kmat.shape[0] * ctype.itemsize
    batch = max(1, TARGET_CHUNK_BYTES * 4 // max(per_item, 1))
    y = np.empty((n, *out_sizes, f), dtype=ctype)
    for b0 in range(0, n, batch):
        part = win[b0:b0 + batch]
        cols = np.ascontiguousarray(part).reshape(-1, kmat.shape[0])
        np.matmul(cols, kmat, out=y[b0:b0 + batch].reshape(-1, f))
    return y


@fuses("bias", "activation")
def conv(x, kernel, *, strides, padding, dilation, data_format, bias=None, activation=None):
    ctype = compute_dtype(x.dtype)
    if ctype is None:
        return NotImplemented
    ksize = kernel.shape[:-2]
    xl = to_last(x, data_format)
    spatial = xl.shape[1:-1]
    pads = _args.conv_pads(spatial, ksize, strides, dilation, padding, "ops.conv")
    out_sizes = _args.conv_out_sizes(spatial, ksize, strides, dilation, pads, "ops.conv")
    xpad = padded(xl, pads, ctype)
    kmat = np.ascontiguousarray(kernel.reshape(-1, kernel.shape[-1]), dtype=ctype)
    if all(s == 1 for s in strides):
        y = _conv_flat(xpad, kmat, ksize, dilation, out_sizes, ctype)
    else:
        y = _conv_im2col(xpad, kmat, ksize, strides, dilation, out_sizes, ctype)
    return from_last(finish(y, bias, activation, x.dtype), data_format)


def _scatter_range(n, stride, offset, length):
    """Input indices ``i`` whose output ``i*stride + offset`` falls in ``[0, length)``."""
    first = max(0, -(offset // stride) if offset < 0 else 0)
    if offset < 0:
        first = (-offset + stride - 1) // stride
    last = min(n - 1, (length - 1 - offset) // stride)
    return first, last


@fuses("bias", "activation")
def conv_transpose(x, kernel, *, strides, padding, output_padding, dilation, data_format,
                   bias=None, activation=None):
    ctype = compute_dtype(x.dtype)
    if ctype is None:
        return NotImplemented
    ksize = kernel.shape[:-2]
    rank = len(ksize)
    f, c = kernel.shape[-2:]
    xl = to_last(x, data_format)
    n, *spatial = xl.shape[:-1]
    op = "ops.conv_transpose"
    pads = _args.transpose_pads(spatial, ksize, strides, dilation, padding, output_padding, op)
    out_sizes = _args.transpose_out_sizes(spatial, ksize, strides, dilation, pads, op)
    # (C, *k, F): one GEMM gives every tap's contribution of every input sample.
    kmat = np.ascontiguousarray(np.moveaxis(kernel, -1, 0), dtype=ctype).reshape(c, -1)
    rows = np.ascontiguousarray(xl, dtype=ctype).reshape(-1, c)
    contrib = np.matmul(rows, kmat).reshape(n, *spatial, *ksize, f)
    y = np.zeros((n, *out_sizes, f), dtype=ctype)
    # Input sample i, tap t lands on output i*s + t*d - P, P the forward conv's padding.
    forward_pad = [d * (k - 1) - lo for k, d, (lo, _) in zip(ksize, dilation, pads, strict=False)]
    for tap in _taps(ksize):
        src, dst = [slice(None)], [slice(None)]
        for ax in range(rank):
            offset = tap[ax] * dilation[ax] - forward_pad[ax]
            first, last = _scatter_range(spatial[ax], strides[ax], offset, out_sizes[ax])
            if first > last:
                break
            src.append(slice(first, last + 1))
            start = first * strides[ax] + offset
            dst.append(slice(start, last * strides[ax] + offset + 1, strides[ax]))
        else:
            view = y[tuple(dst)]
            view += contrib[(*src, *tap, slice(None))]
    return from_last(finish(y, bias, activation, x.dtype), data_format)


def _depthwise(xl, kernel, strides, padding, dilation, ctype, op):
    """Depthwise convolution of a channels_last array: ``(N, *O, C, M)`` in ``ctype``."""
    ksize = kernel.shape[:-2]
    c, m = kernel.shape[-2:]
    spatial = xl.shape[1:-1]
    pads = _args.conv_pads(spatial, ksize, strides, dilation, padding, op)
    out_sizes = _args.conv_out_sizes(spatial, ksize, strides, dilation, pads, op)
    xpad = padded(xl, pads, ctype)
    w = np.asarray(kernel, dtype=ctype)
    n = xl.shape[0]
    y = np.zeros((n, *out_sizes, c, m), dtype=ctype)
    tmp = np.empty_like(y)
    for tap in _taps(ksize):
        index = (slice(None), *(slice(t * d, t * d + (o - 1) * s + 1, s)
                                for t, d, s, o in zip(tap, dilation, strides, out_sizes, strict=False)),
                 slice(None), None)
        np.multiply(xpad[index], w[tap], out=tmp)
        y += tmp
    return y


@fuses("bias", "activation")
def depthwise_conv(x, kernel, *, strides, padding, dilation, data_format, bias=None,
                   activation=None):
    ctype = compute_dtype(x.dtype)
    if ctype is None:
        return NotImplemented
    y = _depthwise(to_last(x, data_format), kernel, strides, padding, dilation, ctype,
                   "ops.depthwise_conv")
    y = y.reshape(*y.shape[:-2], -1)
    return from_last(finish(y, bias, activation, x.dtype), data_format)


@fuses("bias", "activation")
def separable_conv(x, depthwise_kernel, pointwise_kernel, *, strides, padding, dilation,
                   data_format, bias=None, activation=None):
    ctype = compute_dtype(x.dtype)
    if ctype is None:
        return NotImplemented
    mid = _depthwise(to_last(x, data_format), depthwise_kernel, strides, padding, dilation,
                     ctype, "ops.separable_conv")
    mid = mid.reshape(*mid.shape[:-2], -1)
    pw = np.asarray(pointwise_kernel, dtype=ctype).reshape(mid.shape[-1], -1)
    y = np.matmul(mid.reshape(-1, mid.shape[-1]), pw).reshape(*mid.shape[:-1], -1)
    return from_last(finish(y, bias, activation, x.dtype), data_format)
