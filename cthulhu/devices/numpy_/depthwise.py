"""Depthwise and separable convolutions on NumPy arrays.

Depthwise is a per-tap multiply-accumulate (no reduction over channels, so
no GEMM). When the native C kernels are available the engine of
:mod:`._engine` runs every case in one C call; otherwise NumPy, chunk by chunk in
cache on the thread pool:

* multiplier 1, 2D and 3D: per chunk of output rows, a zero-padded input
  block and one fused einsum over all taps (:mod:`._blocked`);
* multiplier 1, 1D: one einsum per chunk over the flattened padded rows
  (:func:`_tap_sum`), or per-image window views when strided;
* multiplier above 1: ``multiply`` then ``add`` per tap, on the flattened
  padded rows (stride 1) or strided views.

Separable runs the pointwise GEMM on each depthwise chunk while it is still
in cache.
"""

from __future__ import annotations

import math

import numpy as np

from cthulhu.devices.base import fuses
from cthulhu.devices.numpy_ import _blocked, _engine, _threads
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
from cthulhu.devices.numpy_.conv import (
    _crop_rows,
    _flat_useful,
    _row_steps,
    _taps,
    _unit_chunks,
)

# Bytes of output rows per chunk of the blocked path (its padded input block is about
# as big): both stay in L2.
BLOCK_BYTES = 1 << 20

# Values per NumPy inner loop in the M == 1 multiply-accumulate (see _depthwise_flat).
_TILE_VALUES = 2048


def _weights(kernel, ctype):
    """``(taps, C, M)`` depthwise weights, with ``M == 1`` squeezed to ``(taps, C)``."""
    c, m = kernel.shape[-2:]
    w = np.asarray(kernel, dtype=ctype).reshape(-1, c, m)
    return w[:, :, 0].copy() if m == 1 else w


def _mac(out, src, w, tmp):
    """``out = src * w`` (first tap, ``tmp is None``) or ``out += src * w``."""
    if w.ndim == 2:                 # (C, M): broadcast the channel values over M
        src = src[..., None]
    if tmp is None:
        np.multiply(src, w, out=out)
    else:
        np.multiply(src, w, out=tmp)
        out += tmp


def _tap_sum(rows, r0, mm, tap_rows, ksize, w_taps, out):
    """``out[p] = sum_t rows[r0 + p + shift_t] * w_t`` for ``M == 1``, fused in one einsum.

    ``rows`` is the flat, C-contiguous ``(R, C)`` padded input. The taps of kernel axis ``a`` sit
    ``tap_rows[a]`` rows apart, so every tap is one axis of a single strided view
    ``(*ksize, P, C)`` and ``numpy.einsum`` contracts it with ``w_taps (*ksize, C)``:
    its contiguous two-operand loop is a SIMD multiply-add into ``out``, one pass per
    tap, where ``multiply`` then ``add`` would take two (and a temporary).

    When ``mm`` is a multiple of the tile ``k = w_taps.shape[-1] // C``, ``k``
    consecutive rows are read as one row of ``k*C`` values (``w_taps`` is then
    tiled ``k`` times), so the inner loops run over hundreds of values, not ``C``.
    """
    c = rows.shape[1]
    k = w_taps.shape[-1] // c
    item = rows.itemsize
    base = rows[r0:]
    shape = (*ksize, mm // k, k * c)
    strides = (*(t * c * item for t in tap_rows), k * c * item, item)
    view = np.lib.stride_tricks.as_strided(base, shape=shape, strides=strides, writeable=False)
    np.einsum(_SUBSCRIPTS[len(ksize)], view, w_taps, out=out.reshape(mm // k, k * c))


# einsum subscripts of _tap_sum per kernel rank: taps (a, b, c), rows p, values q
_SUBSCRIPTS = {1: "apq,aq->pq", 2: "abpq,abq->pq", 3: "abcpq,abcq->pq"}


def _depthwise_flat(xpad, kernel, dilation, ctype, target, each_chunk=None):
    """Stride-1 depthwise over flattened rows, chunk by chunk.

    ``target(r0, mm)`` returns the ``(mm, C*M)`` array a chunk accumulates
    into; ``each_chunk(r0, block)`` then consumes it (in cache).
    """
    n, *spatial, c = xpad.shape
    ksize = kernel.shape[:-2]
    m_mult = kernel.shape[-1]
    rows = xpad.reshape(-1, c)
    steps = _row_steps(spatial)
    tap_rows = [d * s for d, s in zip(dilation, steps, strict=True)]
    shifts = [sum(t * r for t, r in zip(tap, tap_rows, strict=True)) for tap in _taps(ksize)]
    w = _weights(kernel, ctype)
    needed = rows.shape[0] - shifts[-1]
    width = c * m_mult
    # With M == 1, `tile` consecutive rows are seen as one row of tile*C values (and the
    # weights tiled to match), so NumPy's inner loops run over ~1000 values, not C.
    tile = max(1, min(64, _TILE_VALUES // c)) if m_mult == 1 else 1
    m = balanced_rows(chunk_rows(width * 3, ctype.itemsize, hi=8192), needed, lo=tile)
    m = m // tile * tile or tile
    if m_mult == 1:
        w_taps = w.reshape(*ksize, c)
        wide = np.ascontiguousarray(np.tile(w_taps, tile)) if tile > 1 else w_taps

    def work(r0):
        mm = min(m, needed - r0)
        block = target(r0, mm)
        if m_mult == 1:
            body = mm - mm % tile
            if body:
                _tap_sum(rows, r0, body, tap_rows, ksize, wide, block[:body])
            if body < mm:        # the last chunk's tail: one row at a time
                _tap_sum(rows, r0 + body, mm - body, tap_rows, ksize, w_taps, block[body:])
        else:
            acc = block.reshape(mm, c, m_mult)
            tmp = scratch("dw_tmp", acc.shape, ctype)
            for i, sh in enumerate(shifts):
                _mac(acc, rows[r0 + sh:r0 + sh + mm], w[i], tmp if i else None)
        if each_chunk is not None:
            each_chunk(r0, block)

    _threads.run_chunks(work, range(0, needed, m))
    return needed


def _window_sum(image, a0, a1, ksize, strides, dilation, out_sizes, w_taps, out):
    """``M == 1`` depthwise of one image's outputs ``a0:a1`` (first axis), one einsum.

    ``image`` is ``(*P, C)`` padded; every tap is an axis of one strided view
    ``(*ksize, a1 - a0, *O[1:], C)``, contracted with ``w_taps (*ksize, C)`` into
    ``out`` (a fused multiply-add per tap, as in :func:`_tap_sum`).
    """
    rank = len(ksize)
    steps = image.strides[:-1]
    shape = (*ksize, a1 - a0, *out_sizes[1:], image.shape[-1])
    strides_ = (*(d * st for d, st in zip(dilation, steps, strict=True)),
                *(s * st for s, st in zip(strides, steps, strict=True)), image.strides[-1])
    view = np.lib.stride_tricks.as_strided(image[a0 * strides[0]:], shape=shape,
                                           strides=strides_, writeable=False)
    np.einsum(_WINDOW_SUBSCRIPTS[rank], view, w_taps, out=out)


# taps (a, b, c), outputs (x, y, z), channels q
_WINDOW_SUBSCRIPTS = {1: "axq,aq->xq", 2: "abxyq,abq->xyq", 3: "abcxyzq,abcq->xyzq"}


def _depthwise_strided(xpad, kernel, strides, dilation, out_sizes, ctype):
    """General depthwise: ``(N, *O, C*M)``, per-tap strided views, chunked over outputs."""
    n, c = xpad.shape[0], xpad.shape[-1]
    ksize = kernel.shape[:-2]
    m_mult = kernel.shape[-1]
    w = _weights(kernel, ctype)
    y = output((n, *out_sizes, c * m_mult), ctype)
    taps = _taps(ksize)

    def work(chunk):
        b, a0, a1 = chunk
        out = y[b, a0:a1].reshape(a1 - a0, *out_sizes[1:], c, m_mult)
        if m_mult == 1:
            _window_sum(xpad[b], a0, a1, ksize, strides, dilation, out_sizes,
                        w.reshape(*ksize, c), out[..., 0])
            return
        tmp = scratch("dw_tmp", out.shape, ctype)
        for i, tap in enumerate(taps):
            first = slice(tap[0] * dilation[0] + a0 * strides[0],
                          tap[0] * dilation[0] + (a1 - 1) * strides[0] + 1, strides[0])
            rest = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, s, o in
                         zip(tap[1:], dilation[1:], strides[1:], out_sizes[1:], strict=False))
            _mac(out, xpad[(b, first, *rest, slice(None))], w[i], tmp if i else None)

    _threads.run_chunks(work, _unit_chunks(n, out_sizes, c * m_mult * ctype.itemsize * 2))
    return y


def _prepare(x, kernel, g):
    """``(ctype, xl, path)``; ``path`` is ``"blocked"`` (multiplier 1, 2D/3D), ``"flat"``
    (stride 1 over the whole padded input) or ``"strided"``."""
    ctype = compute_dtype(x.dtype)
    xl = to_last(x, g)
    if kernel.shape[-1] == 1 and g.rank >= 2:
        return ctype, xl, "blocked"
    flat = all(s == 1 for s in g.strides) and _flat_useful(g.padded_spatial, g.out_spatial)
    return ctype, xl, "flat" if flat else "strided"


def _blocked_chunks(n, out_sizes, c, ctype):
    # about BLOCK_BYTES of output (and as much padded input) per chunk: in L2
    per_row = max(1, math.prod(out_sizes[1:]) * c * ctype.itemsize)
    step = max(1, min(out_sizes[0], BLOCK_BYTES // per_row))
    step = balanced_rows(step, out_sizes[0] * n, lo=1)
    return [(b, a, min(a + step, out_sizes[0])) for b in range(n)
            for a in range(0, out_sizes[0], step)]


@fuses(*FUSED_PARTS, activations=FUSED_ACTIVATIONS)
def depthwise_conv(x, kernel, *, geometry, epilogue):
    """Depthwise convolution of ``geometry`` (the plugin contract of
    :mod:`cthulhu.devices.base`)."""
    if compute_dtype(x.dtype) is None:
        return NotImplemented
    g = geometry
    y = _engine.depthwise_conv(x, kernel, g, epilogue)
    if y is not None:
        return y
    ctype, xl, path = _prepare(x, kernel, g)
    ep = tail(epilogue, ctype)
    n, width, out_sizes = g.batch, g.mid_channels, g.out_spatial
    if path == "blocked":
        y = output((n, *out_sizes, width), ctype)
        work = _blocked.depthwise_blocks(
            xl, kernel, g.strides, g.dilation, g.pads, out_sizes, ctype,
            lambda chunk: y[chunk[0], chunk[1]:chunk[2]],
            lambda chunk, rows: apply_tail(rows, ep))
        _threads.run_chunks(work, _blocked_chunks(n, out_sizes, width, ctype))
    elif path == "flat":
        xpad = padded(xl, g.pads, ctype)
        y = output((xpad[..., 0].size, width), ctype)
        _depthwise_flat(xpad, kernel, g.dilation, ctype, lambda r0, mm: y[r0:r0 + mm],
                        lambda r0, block: apply_tail(block, ep))
        y = _crop_rows(y, xpad.shape[0], xpad.shape[1:-1], out_sizes)
    else:
        y = _depthwise_strided(padded(xl, g.pads, ctype), kernel, g.strides, g.dilation,
                               out_sizes, ctype)
        apply_tail(y, ep)
    return from_last(y.astype(x.dtype, copy=False), g)


@fuses(*FUSED_PARTS, activations=FUSED_ACTIVATIONS)
def separable_conv(x, depthwise_kernel, pointwise_kernel, *, geometry, epilogue):
    """Separable convolution of ``geometry`` (the plugin contract of
    :mod:`cthulhu.devices.base`)."""
    if compute_dtype(x.dtype) is None:
        return NotImplemented
    g = geometry
    ctype, xl, path = _prepare(x, depthwise_kernel, g)
    ep = tail(epilogue, ctype)
    width, f, out_sizes = g.mid_channels, g.out_channels, g.out_spatial
    pw = np.ascontiguousarray(pointwise_kernel, dtype=ctype).reshape(width, f)
    n = g.batch
    y = _engine.separable_conv(x, depthwise_kernel, pw, g, ep)
    if y is not None:
        return y
    with _threads.single_threaded_blas():
        if path == "blocked":
            y = output((n, *out_sizes, f), ctype)

            def pointwise_rows(chunk, rows):
                out = y[chunk[0], chunk[1]:chunk[2]].reshape(-1, f)
                np.matmul(rows.reshape(-1, width), pw, out=out)
                apply_tail(out, ep)

            work = _blocked.depthwise_blocks(
                xl, depthwise_kernel, g.strides, g.dilation, g.pads, out_sizes, ctype,
                lambda chunk: scratch("dw_out", (chunk[2] - chunk[1], *out_sizes[1:], width),
                                      ctype),
                pointwise_rows)
            _threads.run_chunks(work, _blocked_chunks(n, out_sizes, max(width, f), ctype))
        elif path == "flat":
            xpad = padded(xl, g.pads, ctype)
            y = output((xpad[..., 0].size, f), ctype)

            def pointwise(r0, block):
                out = y[r0:r0 + block.shape[0]]
                np.matmul(block, pw, out=out)
                apply_tail(out, ep)

            _depthwise_flat(xpad, depthwise_kernel, g.dilation, ctype,
                            lambda r0, mm: scratch("dw_out", (mm, width), ctype), pointwise)
            y = _crop_rows(y, xpad.shape[0], xpad.shape[1:-1], out_sizes)
        else:
            mid = _depthwise_strided(padded(xl, g.pads, ctype), depthwise_kernel, g.strides,
                                     g.dilation, out_sizes, ctype)
            y = np.matmul(mid.reshape(-1, mid.shape[-1]), pw).reshape(*mid.shape[:-1], f)
            apply_tail(y, ep)
    return from_last(y.astype(x.dtype, copy=False), g)
