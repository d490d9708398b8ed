"""``blockwise``: run a function of one array block by block where the array is chunked.

Elementwise work (activations) and per-element lookups (``TheHydra``) written
with ``xp`` functions become one graph layer per ``xp`` call on a lazy, chunked
array (Dask): ``gelu`` alone made hundreds. Routed through this op, a device
with chunks (the Dask plugin's ``"blockwise"`` entry) runs the whole function
once per chunk, as one graph layer; every other library calls it directly.
"""

from __future__ import annotations

from cthulhu.devices.base import BlockwiseGeometry
from cthulhu.devices.registry import registry
from cthulhu.ops._dispatch import NO_EPILOGUE
from cthulhu.ops._op import Op

__all__ = ["BlockwiseOp", "BLOCKWISE", "blockwise", "chunked"]


class BlockwiseOp(Op):
    """``blockwise``: a function of one block, run per chunk where the array is chunked.

    A chunked library's callable receives ``impl(x, fn, geometry=BlockwiseGeometry(...),
    epilogue=Epilogue())``; everywhere else (no callable) the generic implementation is
    ``fn(x)`` itself.
    """

    name, label = "blockwise", "ops.blockwise"

    def geometry(self, x, fn, *, dtype=None, new_axis=None, whole_axis=None):
        return BlockwiseGeometry(x.dtype if dtype is None else dtype, new_axis, whole_axis)

    def generic(self, x, fn, *, geometry):
        return fn(x)

    def __call__(self, fn, x, *, dtype=None, new_axis=None, whole_axis=None):
        impl = registry.lookup(x, "blockwise")
        if impl is None:
            return fn(x)
        geometry = BlockwiseGeometry(x.dtype if dtype is None else dtype, new_axis, whole_axis)
        return impl(x, fn, geometry=geometry, epilogue=NO_EPILOGUE)


BLOCKWISE = BlockwiseOp()


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
    return BLOCKWISE(fn, x, dtype=dtype, new_axis=new_axis, whole_axis=whole_axis)
