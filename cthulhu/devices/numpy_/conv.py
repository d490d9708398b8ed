"""Convolutions on NumPy arrays, through BLAS, in cache-sized chunks run on a thread pool.

* Stride 1 (``conv``, ``depthwise_conv``, ``separable_conv``): the input is
  padded once and flattened to a ``(rows, C)`` matrix. A kernel tap then
  reads a *contiguous* block of rows (a fixed row shift), so no window is ever
  gathered element by element. With 8 or more channels ``conv`` runs, per
  chunk of output rows, one BLAS GEMM per tap on those row-shifted views,
  accumulating in place (:mod:`._gemm`): no im2col copy at all. Otherwise it
  builds an im2col block from the taps of every axis but the last (contiguous
  row copies) and runs one GEMM per tap of the last axis on row-shifted views
  of that block. Bias and ReLU are applied while the chunk is in cache. Rows
  that fall in the padding are computed and dropped (a few per cent for
  common sizes).
* Strided ``conv``: im2col over ``sliding_window_view`` (only the outputs'
  windows), one GEMM per chunk.
* With the native kernels (:mod:`._native`): every case runs in the engine of
  :mod:`._engine` (one C call), few input channels in the direct kernel of
  :mod:`._native_ops` where it measured faster; the NumPy paths here are the
  fallback when native code is off or unavailable.
* ``conv_transpose``: see :mod:`.transpose`; depthwise and separable:
  :mod:`.depthwise`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from cthulhu.devices.base import fuses
from cthulhu.devices.numpy_ import _engine, _gemm, _native_ops, _threads
from cthulhu.devices.numpy_._common import (
    FUSED_ACTIVATIONS,
    FUSED_PARTS,
    apply_tail,
    balanced_rows,
    chunk_rows,
    compute_dtype,
    from_last,
    output,
    padded,
    scratch,
    tail,
    to_last,
)

# Below this many columns the im2col GEMM is too thin: gather the last axis too.
_MIN_GEMM_DEPTH = 64
# Use the flat (row-shift) path only if most computed rows are real outputs.
_MIN_USEFUL_FRACTION = 0.5
# With BLAS accumulation available, inputs with at least this many channels run one
# GEMM per tap on the padded rows themselves (no im2col copy at all).
_MIN_CHANNELS_PER_TAP = 8
# In 3D the gathered GEMMs win below 16 channels when there are few filters (27 GEMMs of
# depth 8-12 and width 8 run at a third of BLAS speed; 3x3x3 8->8 on 64^3: 65 ms per
# tap, 36 ms gathered), but not with 16 or more filters (one core: 8->16 28 ms per tap,
# 42 gathered; 12->16 38 and 55; 8->32 57 and 66).
_MIN_CHANNELS_PER_TAP_3D = 16
_MIN_FILTERS_PER_TAP_3D = 16
# The per-tap GEMM chunks hold 1/_TAP_CHUNK_SHARE of CHUNK_BYTES of input plus output rows.
_TAP_CHUNK_SHARE = 4


def _taps(kernel_size):
    return list(itertools.product(*(range(k) for k in kernel_size)))


def _row_steps(spatial):
    """Row offset of a unit step along each spatial axis of a flattened ``(N, *P)`` array."""
    return [math.prod(spatial[i + 1:]) for i in range(len(spatial))]


def _flat_useful(spatial, out_sizes):
    return math.prod(out_sizes) >= _MIN_USEFUL_FRACTION * math.prod(spatial)


def _crop_rows(y, n, spatial, out_sizes):
    """The valid outputs of a flat ``(rows, F)`` result, as ``(N, *O, F)`` (a view)."""
    y = y.reshape(n, *spatial, y.shape[-1])
    return y[(slice(None), *(slice(0, m) for m in out_sizes), slice(None))]


def _conv_flat_per_tap(xpad, kernel, dilation, out_sizes, ep, ctype):
    """Stride-1 convolution, one BLAS GEMM per tap accumulating in place (beta = 1).

    Each tap reads a row-shifted view of the padded rows: nothing is copied.
    """
    n, *spatial, c = xpad.shape
    ksize = kernel.shape[:-2]
    f = kernel.shape[-1]
    rows = xpad.reshape(-1, c)
    steps = _row_steps(spatial)
    shifts = [sum(t * d * s for t, d, s in zip(tap, dilation, steps, strict=True))
              for tap in _taps(ksize)]
    kmats = np.ascontiguousarray(kernel.reshape(len(shifts), c, f), dtype=ctype)
    total = rows.shape[0]
    needed = total - shifts[-1]
    # a quarter of CHUNK_BYTES of input and output rows: both stay in L2 across the
    # taps (3D 16->16 on 64^3: 2048-row chunks 26 ms on two threads, 8192-row 31 ms)
    m = balanced_rows(chunk_rows(_TAP_CHUNK_SHARE * (c + f), ctype.itemsize, lo=64, hi=8192),
                      needed)
    y = output((total, f), ctype)
    taps = _gemm.shifted_taps(rows, kmats, y, shifts)

    def work(r0):
        mm = min(m, needed - r0)
        taps(r0, mm)
        apply_tail(y[r0:r0 + mm], ep)

    with _threads.single_threaded_blas():
        _threads.run_chunks(work, range(0, needed, m))
    return _crop_rows(y, n, spatial, out_sizes)


def _conv_flat(xpad, kernel, dilation, out_sizes, ep, ctype):
    """Stride-1 convolution of a padded channels_last array by row-shifted GEMMs."""
    n, *spatial, c = xpad.shape
    least = _MIN_CHANNELS_PER_TAP
    if len(spatial) >= 3 and kernel.shape[-1] < _MIN_FILTERS_PER_TAP_3D:
        least = max(least, _MIN_CHANNELS_PER_TAP_3D)
    if c >= least and _gemm.available(ctype):
        return _conv_flat_per_tap(xpad, kernel, dilation, out_sizes, ep, ctype)
    ksize = kernel.shape[:-2]
    f = kernel.shape[-1]
    rows = xpad.reshape(-1, c)
    steps = _row_steps(spatial)
    outer = _taps(ksize[:-1])
    if len(outer) * c >= _MIN_GEMM_DEPTH or (len(outer) == 1 and c >= _MIN_GEMM_DEPTH // 2):
        # gather the taps of the leading axes; one GEMM per tap of the last axis
        gathered = [sum(t * d * s for t, d, s in zip(tap, dilation, steps, strict=False)) for tap in outer]
        shifts = [j * dilation[-1] for j in range(ksize[-1])]
        kmats = np.moveaxis(kernel, len(ksize) - 1, 0).reshape(ksize[-1], -1, f)
    else:
        # thin input: gather every tap, one GEMM
        gathered = [sum(t * d * s for t, d, s in zip(tap, dilation, steps, strict=False))
                    for tap in _taps(ksize)]
        shifts = [0]
        kmats = kernel.reshape(1, -1, f)
    kmats = np.ascontiguousarray(kmats, dtype=ctype)
    width = len(gathered) * c
    total = rows.shape[0]
    needed = total - gathered[-1] - shifts[-1]
    copy = len(gathered) > 1 or gathered[0] != 0
    m = balanced_rows(chunk_rows(width, ctype.itemsize, hi=4096 if copy else 16384), needed)
    y = output((total, f), ctype)

    def work(r0):
        mm = min(m, needed - r0)
        span = mm + shifts[-1]
        if copy:
            cols = scratch("cols", (span, width), ctype)
            for i, sh in enumerate(gathered):
                cols[:, i * c:(i + 1) * c] = rows[r0 + sh:r0 + sh + span]
        else:
            cols = rows[r0:r0 + span]
        block = y[r0:r0 + mm]
        np.matmul(cols[shifts[0]:shifts[0] + mm], kmats[0], out=block)
        if len(shifts) > 1:
            tmp = scratch("acc", (mm, f), ctype)
            for sh, kmat in zip(shifts[1:], kmats[1:], strict=False):
                np.matmul(cols[sh:sh + mm], kmat, out=tmp)
                block += tmp
        apply_tail(block, ep)

    with _threads.single_threaded_blas():
        _threads.run_chunks(work, range(0, needed, m))
    return _crop_rows(y, n, spatial, out_sizes)


def _windows(xpad, ksize, strides, dilation, out_sizes):
    """``(N, *O, *k, C)`` strided view of every output's window (no copy)."""
    rank = len(ksize)
    span = [d * (k - 1) + 1 for k, d in zip(ksize, dilation, strict=False)]
    win = np.lib.stride_tricks.sliding_window_view(xpad, span, axis=tuple(range(1, rank + 1)))
    index = (slice(None), *(slice(0, (m - 1) * s + 1, s) for m, s in zip(out_sizes, strides, strict=False)),
             slice(None), *(slice(None, None, d) for d in dilation))
    return np.moveaxis(win[index], rank + 1, -1)


def _unit_chunks(n, out_sizes, per_row_bytes):
    """Chunks ``(batch index, first-axis start, stop)`` of about ``CHUNK_BYTES`` each."""
    inner = math.prod(out_sizes[1:]) * per_row_bytes
    step = max(1, chunk_rows(inner, 1, lo=1, hi=out_sizes[0]))
    return [(b, a, min(a + step, out_sizes[0])) for b in range(n)
            for a in range(0, out_sizes[0], step)]


def _conv_im2col(xpad, kernel, strides, dilation, out_sizes, ep, ctype):
    """Convolution by explicit im2col of the outputs' windows, chunk by chunk."""
    n = xpad.shape[0]
    ksize = kernel.shape[:-2]
    f = kernel.shape[-1]
    win = _windows(xpad, ksize, strides, dilation, out_sizes)
    kmat = np.ascontiguousarray(kernel.reshape(-1, f), dtype=ctype)
    y = output((n, *out_sizes, f), ctype)
    width = kmat.shape[0]

    def work(chunk):
        b, a0, a1 = chunk
        part = win[b, a0:a1]
        cols = scratch("cols", part.shape, ctype)
        np.copyto(cols, part)
        block = y[b, a0:a1].reshape(-1, f)
        np.matmul(cols.reshape(-1, width), kmat, out=block)
        apply_tail(block, ep)

    with _threads.single_threaded_blas():
        _threads.run_chunks(work, _unit_chunks(n, out_sizes, width * ctype.itemsize))
    return y


@fuses(*FUSED_PARTS, activations=FUSED_ACTIVATIONS)
def conv(x, kernel, *, geometry, epilogue):
    """Direct convolution of ``geometry`` (the plugin contract of :mod:`cthulhu.devices.base`)."""
    ctype = compute_dtype(x.dtype)
    if ctype is None:
        return NotImplemented
    g = geometry
    ep = tail(epilogue, ctype)
    xl = to_last(x, g)
    if ep.bias_relu_only:
        y = _native_ops.conv_thin(xl, kernel, g.strides, g.dilation, g.pads, g.out_spatial,
                                  ctype, ep.bias, ep.activation == "relu")
        if y is not None:
            return from_last(y.astype(x.dtype, copy=False), g)
    y = _engine.conv(x, kernel, g, ep)
    if y is not None:
        return y
    xpad = padded(xl, g.pads, ctype)
    kernel = np.asarray(kernel, dtype=ctype)
    if all(s == 1 for s in g.strides) and _flat_useful(xpad.shape[1:-1], g.out_spatial):
        y = _conv_flat(xpad, kernel, g.dilation, g.out_spatial, ep, ctype)
    else:
        y = _conv_im2col(xpad, kernel, g.strides, g.dilation, g.out_spatial, ep, ctype)
    return from_last(y.astype(x.dtype, copy=False), g)
