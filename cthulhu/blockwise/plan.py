"""The grid of output blocks a volume is cut into.

What each block reads and computes, layer by layer, is planned by
:mod:`cthulhu.shapes` (:meth:`cthulhu.shapes.Chain.layer_steps` and
:func:`cthulhu.shapes.axis_maps.plan_block`); this module only enumerates the
blocks.
"""

from __future__ import annotations

import itertools

from cthulhu import shapes

__all__ = ["output_grid"]


def output_grid(shape, block):
    """Every output block of a volume ``shape`` cut in ``block`` sizes (edges smaller).

    Yields ``(index, ranges)`` with ``index`` the block's grid position and ``ranges``
    its ``(start, stop)`` per axis, in C order.
    """
    counts = [shapes.ceildiv(n, b) for n, b in zip(shape, block, strict=True)]
    for index in itertools.product(*(range(c) for c in counts)):
        ranges = tuple((i * b, min((i + 1) * b, n))
                       for i, b, n in zip(index, block, shape, strict=True))
        yield index, ranges
