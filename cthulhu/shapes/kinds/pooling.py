"""Pooling kinds: ``pooling`` (max/average over windows) and ``global_pooling``.

The layers are ``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D`` and
``GlobalMaxPooling1D/2D/3D``, ``GlobalAveragePooling1D/2D/3D``
(:mod:`cthulhu.layers.pooling`); the ops ``cthulhu.ops.pool`` and
``cthulhu.ops.global_pool``. One :class:`~.base.Kind` each, and the chains,
block plans, graphs and inverse questions handle them.

* ``pooling`` is a window kind like a convolution with ``k = pool_size``,
  ``d = 1`` and ``s = strides or pool_size`` (Keras 2), but its padding is
  *excluded* from each window (TensorFlow's ``'same'`` pooling): a block
  plan's border samples must not count as zeros (pad with ``-inf`` for a
  maximum; leave them out of an average's count).
* ``global_pooling`` reduces every spatial axis: ``(batch, channels)``, or with
  ``keepdims`` (tf.keras 2.6+) every spatial axis kept with size 1; it needs
  whole spatial axes.
"""

from ..axis_maps import _pad_lo, _Step
from ..checks import check_rank
from ..errors import ShapeTypeError, shape_error
from ..layout import is_channels_first
from ..lengths import _conv_pad, pool_length
from ..normalize import normalize_size
from .base import SpatialKind, register, required
from .window import conv_shape

__all__ = ["global_pooling_shape", "PoolingKind", "GlobalPoolingKind"]


class PoolingKind(SpatialKind):
    """``pooling``: keys ``pool_size``, ``strides`` (``None``: ``pool_size``), ``padding``."""

    name = "pooling"
    role = "window"
    border = "excluded"
    keys = ("pool_size", "strides", "padding", "data_format")
    rank_keys = ("pool_size", "strides")

    def paddings(self, rank):
        return ("valid", "same")

    def _normalize_args(self, out, rank, owner):
        pool = normalize_size(required(out, "pool_size", owner), rank, owner, "pool_size")
        strides = out.get("strides")
        strides = pool if strides is None else normalize_size(strides, rank, owner, "strides")
        padding = self.normalize_padding(out.get("padding", "valid"), rank, owner)
        out.update(pool_size=pool, strides=strides, padding=padding)

    def fast(self, spec):
        # the convolution formula with K = pool_size; the channels are kept
        return (conv_shape, (spec["rank"], is_channels_first(spec["data_format"]),
                             spec["pool_size"], spec["strides"], spec["padding"], None, 1))

    def steps(self, spec, axis, n_in, n_out):
        s, k = spec["strides"][axis], spec["pool_size"][axis]
        return _Step(False, s, k, _pad_lo(_conv_pad(n_in, k, s, spec["padding"])), n_in, n_out)

    def length_fn(self, spec, axis):
        k, s, padding = spec["pool_size"][axis], spec["strides"][axis], spec["padding"]
        return lambda n: pool_length(n, k, s, padding)


def global_pooling_shape(shape, owner, rank, first, keepdims=False):
    """Global pooling's output shape from checked arguments: ``(batch, channels)``, or
    with ``keepdims`` the input's shape with every spatial size 1."""
    check_rank(shape, rank, first, owner)
    channels = shape[1] if first else shape[-1]
    if not keepdims:
        return (shape[0], channels)
    ones = (1,) * rank
    return (shape[0], channels, *ones) if first else (shape[0], *ones, channels)


class GlobalPoolingKind(SpatialKind):
    """``global_pooling``: ``(batch, *spatial, channels)`` to ``(batch, channels)``
    (``keepdims``: to ``(batch, 1, ..., 1, channels)``)."""

    name = "global_pooling"
    role = "whole"
    keys = ("data_format", "keepdims")

    def _normalize_args(self, out, rank, owner):
        keepdims = out.get("keepdims", False)
        if not isinstance(keepdims, bool):
            raise shape_error(owner, f"keepdims must be True or False, got {keepdims!r}",
                              ShapeTypeError)
        out["keepdims"] = keepdims

    def fast(self, spec):
        return (global_pooling_shape, (spec["rank"], is_channels_first(spec["data_format"]),
                                       spec["keepdims"]))


POOLING = register(PoolingKind())
GLOBAL_POOLING = register(GlobalPoolingKind())
