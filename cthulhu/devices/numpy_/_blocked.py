"""Depthwise convolution (multiplier 1, 2D and 3D) padded block by block, in cache.

The whole-input padded copy of the other paths is written once and read back
from memory; here each chunk of output rows (first spatial axis) gets its own
zero-padded input block, a few hundred KiB in a per-thread scratch buffer, and
the taps read it while it is still in cache. Every tap is one axis of a single
strided view of the block, contracted with the weights by one ``numpy.einsum``
(a fused multiply-add per tap; see :func:`.depthwise._tap_sum`). With stride 1
on the last axis, that axis and the channels form one contiguous axis of
``O_last * C`` values (the weights tiled to match), so NumPy's inner loops are
long. The result is written straight into the ``(N, *O, C)`` output: no padding
rows are computed and nothing is cropped.
"""

from __future__ import annotations

import numpy as np

from cthulhu.devices.numpy_._common import scratch

_TAPS = "abc"
_OUTS = "xyz"


def crop_negative(xl, pads):
    """``xl`` cropped where explicit pads are negative, and the pads made non-negative."""
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0))
                 for n, (lo, hi) in zip(xl.shape[1:-1], pads, strict=True))
    pads = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
    return xl[(slice(None), *crop, slice(None))], pads


def fill_block(block, image, start, pads):
    """``block`` = rows ``start, start+1, ...`` (first axis) of ``image`` (``(*S, C)``)
    zero-padded by ``pads`` (non-negative ``(lo, hi)`` pairs)."""
    length = block.shape[0]
    src = start - pads[0][0]                     # image row of block row 0
    first = min(max(0, -src), length)
    last = max(first, min(length, image.shape[0] - src))
    block[:first] = 0
    block[last:] = 0
    if last == first:
        return
    rows = block[first:last]
    for axis, ((lo, hi), n) in enumerate(zip(pads[1:], image.shape[1:-1], strict=True), 1):
        index = [slice(None)] * rows.ndim
        if lo:
            index[axis] = slice(0, lo)
            rows[tuple(index)] = 0
        if hi:
            index[axis] = slice(lo + n, None)
            rows[tuple(index)] = 0
    inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(pads[1:], image.shape[1:-1],
                                                         strict=True))
    rows[(slice(None), *inner, slice(None))] = image[src + first:src + last]


def plan(ksize, strides, out_sizes, w_taps):
    """``(subscripts, weights)`` for :func:`block_sum`; merges the last axis with the
    channels when its stride is 1 (the weights tiled ``O_last`` times)."""
    rank = len(ksize)
    merge = strides[-1] == 1
    outs = rank - 1 if merge else rank
    taps, out = _TAPS[:rank], _OUTS[:outs]
    weights = np.tile(w_taps, out_sizes[-1]) if merge else w_taps
    return f"{taps}{out}q,{taps}q->{out}q", np.ascontiguousarray(weights)


def block_sum(block, a0, a1, ksize, strides, dilation, out_sizes, plan_, out):
    """``out`` (the contiguous ``(a1 - a0, *O[1:], C)`` rows) = the taps of ``block``
    (padded input rows from ``a0 * s0`` on) times the weights of ``plan_``."""
    subscripts, weights = plan_
    item = block.itemsize
    steps = block.strides[:-1]
    c = block.shape[-1]
    tap_strides = tuple(d * st for d, st in zip(dilation, steps, strict=True))
    out_strides = tuple(s * st for s, st in zip(strides, steps, strict=True))
    count = (a1 - a0, *out_sizes[1:])
    if strides[-1] == 1:                          # last axis and channels as one
        shape = (*ksize, *count[:-1], count[-1] * c)
        view_strides = (*tap_strides, *out_strides[:-1], item)
        target = out.reshape(*count[:-1], count[-1] * c)
    else:
        shape = (*ksize, *count, c)
        view_strides = (*tap_strides, *out_strides, item)
        target = out
    view = np.lib.stride_tricks.as_strided(block, shape=shape, strides=view_strides,
                                           writeable=False)
    np.einsum(subscripts, view, weights, out=target)


def depthwise_blocks(xl, kernel, strides, dilation, pads, out_sizes, ctype, target,
                     consume=None):
    """The per-chunk work of the blocked depthwise, for ``_threads.run_chunks``.

    A chunk ``(b, a0, a1)`` writes its ``(a1 - a0, *O[1:], C)`` result into the
    contiguous array ``target(chunk)`` returns, then calls ``consume(chunk, rows)``.
    """
    ksize = kernel.shape[:-2]
    c = kernel.shape[-2]
    xl, pads = crop_negative(xl, pads)
    padded_inner = tuple(n + lo + hi for n, (lo, hi) in zip(xl.shape[2:-1], pads[1:],
                                                             strict=True))
    plan_ = plan(ksize, strides, out_sizes,
                 np.asarray(kernel, dtype=ctype).reshape(*ksize, c))

    def work(chunk):
        b, a0, a1 = chunk
        length = (a1 - a0 - 1) * strides[0] + dilation[0] * (ksize[0] - 1) + 1
        block = scratch("dw_block", (length, *padded_inner, c), ctype)
        fill_block(block, xl[b], a0 * strides[0], pads)
        rows = target(chunk)
        block_sum(block, a0, a1, ksize, strides, dilation, out_sizes, plan_, rows)
        if consume is not None:
            consume(chunk, rows)

    return work
