"""Transposed convolution on NumPy arrays: one GEMM per chunk, then a col2im scatter-add.

For a chunk of input samples, ``(rows, C) @ (C, taps*F)`` gives every tap's
contribution at once; each tap's slab is then added to the output samples it
lands on (a strided slice). Nothing is zero-stuffed, so no multiplication is
wasted on inserted zeros. Chunks along the first spatial axis are far enough
apart, in two alternating waves, that concurrent chunks never write the same
output sample.
"""

from __future__ import annotations

import math

import numpy as np

from cthulhu.devices.base import fuses
from cthulhu.devices.numpy_ import _threads
from cthulhu.devices.numpy_._common import (
    cast_bias,
    chunk_rows,
    compute_dtype,
    finish,
    from_last,
    scratch,
    to_last,
)
from cthulhu.devices.numpy_.conv import _taps
from cthulhu.ops import _args


def _scatter_range(n, stride, offset, length, lo=0):
    """Input indices ``i`` in ``[lo, n)`` whose output ``i*stride + offset`` is in ``[0, length)``."""
    first = max(lo, -(offset // stride))          # ceil(-offset / stride)
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
    op = "ops.conv_transpose"
    xl = np.ascontiguousarray(to_last(x, data_format), dtype=ctype)
    n, *spatial = xl.shape[:-1]
    pads = _args.transpose_pads(spatial, ksize, strides, dilation, padding, output_padding, op)
    out_sizes = _args.transpose_out_sizes(spatial, ksize, strides, dilation, pads, op)
    # (C, *k, F): one GEMM gives every tap's contribution of every input sample
    kmat = np.ascontiguousarray(np.moveaxis(kernel, -1, 0), dtype=ctype).reshape(c, -1)
    # input sample i, tap t lands on output i*s + t*d - P (P: the forward conv's padding)
    offsets = [[t * d - (d * (k - 1) - lo) for t in range(k)]
               for k, d, (lo, _) in zip(ksize, dilation, pads, strict=False)]
    taps = _taps(ksize)
    y = np.zeros((n, *out_sizes, f), dtype=ctype)
    inner = math.prod(spatial[1:])
    # chunk i and chunk i+2 must not touch the same output rows
    reach = -(-(dilation[0] * (ksize[0] - 1)) // strides[0]) + 1
    step = max(reach, chunk_rows(inner * kmat.shape[1], ctype.itemsize, lo=1,
                                 hi=spatial[0]))
    chunks = [(b, a, min(a + step, spatial[0])) for b in range(n)
              for a in range(0, spatial[0], step)]

    def work(chunk):
        b, a0, a1 = chunk
        rows = xl[b, a0:a1].reshape(-1, c)
        contrib = scratch("contrib", (rows.shape[0], kmat.shape[1]), ctype)
        np.matmul(rows, kmat, out=contrib)
        contrib = contrib.reshape(a1 - a0, *spatial[1:], *ksize, f)
        for tap in taps:
            src, dst = [], []
            for ax in range(rank):
                lo_i = a0 if ax == 0 else 0
                hi_n = a1 if ax == 0 else spatial[ax]
                off = offsets[ax][tap[ax]]
                first, last = _scatter_range(hi_n, strides[ax], off, out_sizes[ax], lo_i)
                if first > last:
                    break
                base = a0 if ax == 0 else 0
                src.append(slice(first - base, last - base + 1))
                dst.append(slice(first * strides[ax] + off, last * strides[ax] + off + 1,
                                 strides[ax]))
            else:
                view = y[(b, *dst)]
                view += contrib[(*src, *tap, slice(None))]

    with _threads.single_threaded_blas():
        even = [ch for i, ch in enumerate(chunks) if (ch[1] // step) % 2 == 0]
        odd = [ch for i, ch in enumerate(chunks) if (ch[1] // step) % 2 == 1]
        _threads.run_chunks(work, even)
        _threads.run_chunks(work, odd)
    y = finish(y, cast_bias(bias, ctype), activation, x.dtype)
    return from_last(y, data_format)
