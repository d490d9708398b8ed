"""Transposed convolution on NumPy arrays, without zero-stuffing.

With the native kernels, the engine of :mod:`._engine` runs it (its sub-pixel phases
in one C call); otherwise:

* Stride 1: the direct convolution with the spatially flipped kernel.
* Strides > 1 (dilation 1, what Keras allows): sub-pixel phases. The outputs
  ``r, r+s, r+2s, ...`` of each axis meet only every ``s``-th tap, so each
  of the ``prod(strides)`` phases is a stride-1 direct convolution of the
  input with a flipped subset of the taps, run by the fast path of
  :mod:`.conv` and written to its strided slice of the output.
* Strides and dilations both > 1 on some axes (only reachable with explicit
  padding pairs): col2im. For a chunk of input samples, ``(rows, C) @ (C,
  taps*F)`` gives every tap's contribution at once; each tap's slab is then
  added to the output samples it lands on (a strided slice). Chunks along the
  first spatial axis are far enough apart, in two alternating waves, that
  concurrent chunks never write the same output sample.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from cthulhu.devices.base import fuses
from cthulhu.devices.numpy_ import _engine, _threads
from cthulhu.devices.numpy_._common import (
    FUSED_ACTIVATIONS,
    FUSED_PARTS,
    apply_tail,
    chunk_rows,
    compute_dtype,
    finish,
    from_last,
    output,
    scratch,
    tail,
    to_last,
)
from cthulhu.devices.numpy_.conv import _taps, conv
from cthulhu.shapes import ConvGeometry


def _scatter_range(n, stride, offset, length, lo=0):
    """Input indices ``i`` in ``[lo, n)`` whose output ``i*stride + offset`` is in ``[0, length)``."""
    first = max(lo, -(offset // stride))          # ceil(-offset / stride)
    last = min(n - 1, (length - 1 - offset) // stride)
    return first, last


def _phase_axis(n, k, s, lo, length):
    """Sub-pixel phases of one axis of a transposed convolution (dilation 1).

    Input sample ``i`` and tap ``t`` land on output ``i*s + t - P`` with ``P =
    k - 1 - lo`` (the forward convolution's padding). Output ``q*s + r`` thus
    only meets the taps ``t = t0 + u*s`` with ``t0 = (r + P) mod s``, and reads
    input ``q + e - u`` with ``e = (r + P - t0) / s``: a stride-1 direct
    convolution of the input with the flipped taps ``t0, t0+s, ...``, offset
    by ``a = e - U + 1``. Yields ``(r, t0, U, a, Q)``, ``U`` the taps, ``Q``
    the outputs of phase ``r``.
    """
    forward = k - 1 - lo
    for r in range(s):
        count = (length - r + s - 1) // s if r < length else 0
        t0 = (r + forward) % s
        taps = (k - t0 + s - 1) // s if t0 < k else 0
        e = (r + forward - t0) // s
        yield r, t0, taps, e - taps + 1, count


def _phases(x, kernel, strides, pads, out_sizes, ctype, epi):
    """Transposed convolution (dilation 1) as ``prod(strides)`` stride-1 convolutions.

    Each phase writes a disjoint strided slice of the output, through the fast
    direct-convolution path, with bias and activation fused; no multiplication
    touches an inserted zero and nothing is scattered.
    """
    n, *spatial, _ = x.shape
    f = kernel.shape[-2]
    rank = len(spatial)
    y = output((n, *out_sizes, f), ctype)
    axes = [list(_phase_axis(spatial[ax], kernel.shape[ax], strides[ax], pads[ax][0],
                             out_sizes[ax])) for ax in range(rank)]
    combos = [combo for combo in itertools.product(*axes)
              if all(count > 0 for *_, count in combo)]

    def work(combo):
        _phase(x, kernel, y, combo, strides, spatial, epi)

    # With at least two phases per worker the phases themselves run on the pool (each
    # phase's convolution then runs its chunks in its worker): the padding copy and the
    # strided write of a phase are serial NumPy copies, which left the second thread
    # idle for much of a 3x3 s2 64->64 8x28x28 call when only the chunks inside each
    # phase were parallel. Most taps first, so the small phases fill in at the end.
    # Fewer phases (1D, or one strided axis) run one by one, each split in chunks:
    # their unequal tap counts would leave a worker idle.
    combos.sort(key=lambda combo: -math.prod(taps for _, _, taps, _, _ in combo))
    if len(combos) >= 2 * _threads.workers():
        with _threads.single_threaded_blas():
            _threads.run_chunks(work, combos)
    else:
        for combo in combos:
            work(combo)
    return y


def _phase(x, kernel, y, combo, strides, spatial, epi):
    """Write one sub-pixel phase ``combo`` of :func:`_phases` to its slice of ``y``
    (``epi``: the op's epilogue, an Epilogue)."""
    rank = len(spatial)
    dst = (slice(None), *(slice(r, r + (count - 1) * s + 1, s)
                          for (r, _, _, _, count), s in zip(combo, strides, strict=True)),
           slice(None))
    if any(taps == 0 for _, _, taps, _, _ in combo):
        # no tap reaches these outputs: only the bias (and activation) remain
        y[dst] = 0
        apply_tail(y[dst], tail(epi, y.dtype))
        return
    index = tuple(slice(t0, t0 + (taps - 1) * s + 1, s)
                  for (_, t0, taps, _, _), s in zip(combo, strides, strict=True))
    sub = np.flip(kernel[index], axis=tuple(range(rank)))
    sub = np.swapaxes(sub, -1, -2)                        # (*U, C, F)
    phase_pads = tuple((-a, count + taps - 1 - spatial[ax] + a)
                       for ax, (_, _, taps, a, count) in enumerate(combo))
    # the phase's own stride-1 convolution: its pads give exactly `count` outputs per axis
    ones = (1,) * rank
    phase = ConvGeometry(kind="conv", rank=rank, data_format="channels_last",
                         batch=x.shape[0], in_spatial=tuple(spatial), in_channels=x.shape[-1],
                         out_spatial=tuple(c for *_, c in combo), out_channels=sub.shape[-1],
                         kernel_size=sub.shape[:-2], strides=ones, dilation=ones,
                         pads=phase_pads)
    y[dst] = conv(x, sub, geometry=phase, epilogue=epi)


@fuses(*FUSED_PARTS, activations=FUSED_ACTIVATIONS)
def conv_transpose(x, kernel, *, geometry, epilogue):
    """Transposed convolution of ``geometry`` (the plugin contract of
    :mod:`cthulhu.devices.base`)."""
    ctype = compute_dtype(x.dtype)
    if ctype is None:
        return NotImplemented
    g = geometry
    rank = g.rank
    ep = tail(epilogue, ctype)
    y = _engine.conv_transpose(x, kernel, g, ep)
    if y is not None:
        return y
    xl = to_last(x, g)
    if all(s == 1 for s in g.strides):
        # a stride-1 transposed convolution is the direct one with the flipped kernel
        flipped = np.swapaxes(np.flip(kernel, axis=tuple(range(rank))), -1, -2)
        direct = g.stuffed().replace(data_format="channels_last")
        y = conv(xl, np.asarray(flipped, dtype=ctype), geometry=direct, epilogue=ep)
    elif all(d == 1 for d in g.dilation):
        y = _phases(np.asarray(xl, dtype=ctype), np.asarray(kernel, dtype=ctype), g.strides,
                    g.pads, g.out_spatial, ctype, ep)
    else:
        # stride and dilation both > 1 on some axes (explicit padding only)
        y = _col2im(xl, kernel, g.strides, g.dilation, g.pads, g.out_spatial, ctype)
        y = finish(y, ep, ctype)
    return from_last(y.astype(x.dtype, copy=False), g)


def _col2im(xl, kernel, strides, dilation, pads, out_sizes, ctype):
    """General transposed convolution: one GEMM per chunk, then a scatter-add per tap."""
    ksize = kernel.shape[:-2]
    rank = len(ksize)
    f, c = kernel.shape[-2:]
    xl = np.ascontiguousarray(xl, dtype=ctype)
    n, *spatial = xl.shape[:-1]
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
    return y
