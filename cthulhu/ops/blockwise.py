"""``blockwise``: run a function of one array block by block where the array is chunked.

Elementwise work (activations) and per-element lookups (``TheHydra``) written
with ``xp`` functions become one graph layer per ``xp`` call on a lazy, chunked
array (Dask): ``gelu`` alone made hundreds. Routed through this op, a device
with chunks (the Dask plugin's ``"blockwise"`` entry) runs the whole function
once per chunk, as one graph layer; every other library calls it directly.
"""

from __future__ import annotations

from cthulhu.devices.registry import registry


def chunked(x) -> bool:
    """Whether ``x``'s library runs :func:`blockwise` chunk by chunk (a dict lookup)."""
    return registry.lookup(x, "blockwise") is not None


def blockwise(fn, x, *, dtype=None, new_axis=None, whole_axis=None):
    """``fn(x)``, computed chunk by chunk on a chunked array.

    Parameters
    ----------
    fn : callable
        Takes one block (an array of the chunks' library) and returns the result
        for that block. It must be picklable to run on a distributed cluster.
    x : array
    dtype : dtype, optional
        The result's dtype (default ``x.dtype``).
    new_axis : int, optional
        ``fn`` appends one axis of this size (e.g. an embedding's vectors).
    whole_axis : int, optional
        ``fn`` reduces along this axis (e.g. ``softmax``): each block holds it whole.

    Examples
    --------
    >>> import numpy as np
    >>> from cthulhu.ops.blockwise import blockwise
    >>> blockwise(np.negative, np.ones(2)).tolist()
    [-1.0, -1.0]
    """
    impl = registry.lookup(x, "blockwise")
    if impl is None:
        return fn(x)
    return impl(fn, x, dtype=dtype, new_axis=new_axis, whole_axis=whole_axis)
