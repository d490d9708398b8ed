"""The pooling ops: ``pool`` (max or average over sliding windows) and ``global_pool``
(max or average over every spatial position), one :class:`~cthulhu.ops._op.Op` each.

See ``docs/internals.md`` (section ``cthulhu.ops``) for the contract. The padding of a
pooling window is *excluded* (TensorFlow's pooling): it is never a sample of the window,
so a maximum never sees it and an average divides by the number of real samples under
the window. The geometry (:class:`cthulhu.shapes.PoolGeometry`) holds it as explicit
``(lo, hi)`` pads.
"""

from __future__ import annotations

from cthulhu import shapes
from cthulhu.ops import _args, _checks, generic
from cthulhu.ops._dispatch import NO_EPILOGUE, zeros_for
from cthulhu.ops._op import GeometryCache, Op
from cthulhu.shapes.geometry import POOL_KINDS

__all__ = ["PoolOp", "GlobalPoolOp", "POOL", "GLOBAL_POOL", "pool", "global_pool"]


def _kind(value, label):
    if value not in POOL_KINDS:
        raise ValueError(f"{label}: kind must be one of {POOL_KINDS}, got {value!r}")
    return value


def _spatial_input(x, label):
    ndim = getattr(x, "ndim", None)
    if ndim is None:
        raise TypeError(f"{label}: x must be an array, got {type(x).__name__}")
    if ndim not in (3, 4, 5):
        raise ValueError(f"{label}: x must have 3 to 5 dimensions (batch, 1 to 3 spatial, "
                         f"channels), got shape {tuple(x.shape)}")
    _checks.float_input(x, label)
    return ndim - 2


class PoolOp(Op):
    """``pool``: max or average over windows of ``pool_size`` every ``strides``."""

    name, label = "pool", "ops.pool"

    def __init__(self):
        self._cache = GeometryCache()

    def geometry(self, x, pool_size, *, strides=None, padding="valid",
                 data_format="channels_last", kind="max"):
        label = self.label
        rank = _spatial_input(x, label)
        size = _args.int_tuple(pool_size, rank, "pool_size", label)
        # Keras 2: strides=None means pool_size
        strides = size if strides is None else _args.int_tuple(strides, rank, "strides", label)
        padding = _args.padding(padding, rank, label, kind="pooling")
        data_format = _args.data_format(data_format, label)
        kind = _kind(kind, label)
        shape = tuple(x.shape)
        key = (shape, size, strides, padding, data_format, kind)
        return self._cache.get(key, _pool_geometry, kind, shape, size, strides, padding,
                               data_format, label)

    def generic(self, x, *, geometry):
        return generic.pool(x, geometry=geometry)

    def reference(self, x, pool_size, **args):
        return self.generic(x, geometry=self.geometry(x, pool_size, **args))

    def __call__(self, x, pool_size, *, strides=None, padding="valid",
                 data_format="channels_last", kind="max"):
        x = _checks.native_order(x)
        geometry = self.geometry(x, pool_size, strides=strides, padding=padding,
                                 data_format=data_format, kind=kind)
        return self.run(x, (), geometry, NO_EPILOGUE)


def _pool_geometry(kind, shape, size, strides, padding, data_format, label):
    return shapes.pool_geometry(kind, shape, size, strides=strides, padding=padding,
                                data_format=data_format, owner=label)


class GlobalPoolOp(Op):
    """``global_pool``: max or average over every spatial position."""

    name, label = "global_pool", "ops.global_pool"

    def __init__(self):
        self._cache = GeometryCache()

    def geometry(self, x, *, data_format="channels_last", kind="max", keepdims=False):
        label = self.label
        _spatial_input(x, label)
        data_format = _args.data_format(data_format, label)
        kind = _kind(kind, label)
        if not isinstance(keepdims, bool):
            raise TypeError(f"{label}: keepdims must be True or False, got {keepdims!r}")
        shape = tuple(x.shape)
        return self._cache.get((shape, data_format, kind, keepdims), _global_geometry, kind,
                               shape, data_format, keepdims)

    def generic(self, x, *, geometry):
        return generic.global_pool(x, geometry=geometry)

    def reference(self, x, **args):
        return self.generic(x, geometry=self.geometry(x, **args))

    def __call__(self, x, *, data_format="channels_last", kind="max", keepdims=False):
        x = _checks.native_order(x)
        g = self.geometry(x, data_format=data_format, kind=kind, keepdims=keepdims)
        if 0 in g.in_spatial and 0 not in g.out_shape:
            # nothing to reduce: TensorFlow's reduce_max gives -inf, reduce_mean NaN
            fill = float("-inf") if g.kind == "max" else float("nan")
            return zeros_for(x, g.out_shape) + fill
        return self.run(x, (), g, NO_EPILOGUE)


def _global_geometry(kind, shape, data_format, keepdims):
    return shapes.global_pool_geometry(kind, shape, data_format=data_format, keepdims=keepdims)


POOL = PoolOp()
GLOBAL_POOL = GlobalPoolOp()


def pool(x, pool_size, *, strides=None, padding="valid", data_format="channels_last",
         kind="max"):
    """Max or average pooling of the spatial axes of ``x``, rank 1 to 3 (TensorFlow's).

    Parameters
    ----------
    x : array
        ``(N, *S, C)`` (``channels_last``) or ``(N, C, *S)`` (``channels_first``), a real
        floating dtype, of any Array API library.
    pool_size : int or tuple of int
        The window.
    strides : int, tuple of int or None
        ``None`` (Keras 2's default) means ``pool_size``.
    padding : {"valid", "same"} or tuple of (int, int)
        ``"same"`` is TensorFlow's (``ceil(n / s)`` outputs, the odd extra pad at the
        end). Explicit ``(lo, hi)`` pairs per spatial axis, each in ``[0, pool_size)``,
        are padding too: *excluded* samples, never part of a window.
    data_format : {"channels_last", "channels_first"}
    kind : {"max", "average"}
        An average divides by the number of real samples under each window.

    Returns
    -------
    array
        ``x``'s library, device and dtype; float16 averages accumulate in float32.
        A window holding a NaN gives NaN on every device.

    Notes
    -----
    **Blocks** (the contract the block-wise runners rely on): pooling a block of a
    larger array, with the explicit pads of that block -- the part of the whole
    array's padding that lies before and after the block, zero on a side that is not
    at the array's true border -- gives exactly the corresponding block of the
    whole array's result. ``cthulhu.shapes`` block plans give those pads (a
    ``LayerBlock``'s ``pads`` for the ``pooling`` kind), and the Dask device runs
    each task as ``pool(block, pool_size, strides=..., padding=pads, kind=...)``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu import ops
    >>> x = xp.reshape(xp.asarray([1.0, 5.0, 2.0, 4.0, 3.0]), (1, 5, 1))
    >>> ops.pool(x, 2, padding="same")[0, :, 0]
    Array([5., 4., 3.], dtype=array_api_strict.float64)
    >>> ops.pool(x, 2, padding="same", kind="average")[0, :, 0]
    Array([3., 3., 3.], dtype=array_api_strict.float64)
    """
    return POOL(x, pool_size, strides=strides, padding=padding, data_format=data_format,
                kind=kind)


def global_pool(x, *, data_format="channels_last", kind="max", keepdims=False):
    """Max or average over every spatial position of ``x`` (rank 1 to 3).

    The result is ``(N, C)``; with ``keepdims`` the spatial axes stay, of size 1. An
    input without spatial positions gives ``-inf`` (max) or NaN (average), as
    TensorFlow's reductions do.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu import ops
    >>> x = xp.reshape(xp.asarray([1.0, 2.0, 3.0, 6.0]), (1, 2, 2))
    >>> ops.global_pool(x, kind="average")
    Array([[2., 4.]], dtype=array_api_strict.float64)
    >>> ops.global_pool(x, keepdims=True).shape
    (1, 1, 2)
    """
    return GLOBAL_POOL(x, data_format=data_format, kind=kind, keepdims=keepdims)
