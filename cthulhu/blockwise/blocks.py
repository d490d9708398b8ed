"""Choosing output blocks: big enough that the halo costs little, no bigger.

A task computes its output block from the block's input core plus the
model's halo (see docs/out-of-core.md, "Choosing blocks"). The share of
extra input, ``prod((core + lo + hi) / core) - 1`` over the spatial axes, bounds
the work spent on samples that neighbouring blocks compute again. The default
block is the smallest multiple of 16 (at least 64) that keeps it under
``MAX_HALO_SHARE``, and at most ``MAX_BLOCK`` on an axis (memory grows with the
block's volume).
"""

from __future__ import annotations

import math

__all__ = ["auto_block", "halo_share", "MAX_HALO_SHARE", "MIN_BLOCK", "MAX_BLOCK", "STEP"]

MAX_HALO_SHARE = 0.15
MIN_BLOCK, MAX_BLOCK, STEP = 64, 256, 16


def halo_share(block, halo, jump, out_spatial=None):
    """Extra input read for one interior block, as a fraction of its core.

    Parameters
    ----------
    block : tuple of int
        Output samples per spatial axis.
    halo : tuple of (int, int)
        The chain's halo per spatial axis, in input samples (negative parts count as 0).
    jump : tuple of Fraction
        Input samples per output sample, per spatial axis.
    out_spatial : tuple of int, optional
        The output's length per axis: a block as long as its axis reads no halo there.
    """
    share = 1.0
    whole = out_spatial or (None,) * len(block)
    for b, (lo, hi), j, n in zip(block, halo, jump, whole, strict=True):
        if n is not None and b >= n:
            continue
        core = max(float(b * j), 1.0)
        share *= (core + max(lo, 0) + max(hi, 0)) / core
    return share - 1.0


def auto_block(halo, jump, out_spatial):
    """The default output block for a chain with ``halo`` and ``jump`` over ``out_spatial``.

    The same size on every axis (cut to the axis' length), from ``MIN_BLOCK`` up in
    steps of ``STEP`` until the halo share is at most ``MAX_HALO_SHARE``, at most
    ``MAX_BLOCK``. An unknown halo (``None``) gives ``MIN_BLOCK``.

    >>> auto_block(((3, 3),) * 3, (1, 1, 1), (1000, 1000, 1000))
    (128, 128, 128)
    >>> auto_block(((1, 1),) * 3, (1, 1, 1), (1000, 1000, 40))
    (64, 64, 40)
    """
    size = MIN_BLOCK
    if halo is not None and all(h is not None for h in halo):
        while size < MAX_BLOCK:
            block = tuple(min(size, n) for n in out_spatial)
            if halo_share(block, halo, jump, out_spatial) <= MAX_HALO_SHARE:
                break
            size += STEP
    return tuple(min(size, n) for n in out_spatial)


def cache_bytes(source, layout, full_region, limit=384 * 2**20):
    """Decoded-chunk cache for ``source``: two regions' worth of chunks, at most ``limit``.

    Two: the next block along the fastest axis shares two thirds of its chunks
    with the last one, and two tasks run at once on two cores.

    ``full_region`` is the extent of one block's input region on every model-side
    axis (batch, spatial, channels); ``layout`` drops the axes the store lacks.
    """
    chunks = source.chunks
    if chunks is None:
        return 0
    extents = layout.stored_index(tuple(full_region))
    count = 1
    for extent, c, n in zip(extents, chunks, source.shape, strict=True):
        count *= min(math.ceil(extent / c) + 1, math.ceil(n / c))
    itemsize = getattr(source.dtype, "itemsize", 4)
    return int(min(2 * count * math.prod(chunks) * itemsize, limit))
