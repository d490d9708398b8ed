"""Kinds that keep every position: ``pointwise``, ``spatial_dropout`` and ``dense``.

``dense`` (``Daoloth``) acts on the last axis only: on a channels_last volume
that is the channels, so it runs block by block like an activation; on a
channels_first one the last axis is spatial and it needs the whole axis.
"""

from ..layout import is_channels_last
from ..nonspatial import _dense_fast, _same_fast, dense, same_shape
from ..normalize import positive_int
from .base import Kind, SpatialKind, register, required

__all__ = ["PointwiseKind", "SpatialDropoutKind", "DenseKind"]


class PointwiseKind(Kind):
    """``pointwise``: same shape, each position on its own (activation, dropout, masking ...)."""

    name = "pointwise"
    role = "pointwise"

    def output_shape(self, spec, shape, owner=None):
        return same_shape(shape, owner)

    def fast(self, spec):
        return (_same_fast, ())


class SpatialDropoutKind(SpatialKind):
    """``spatial_dropout``: ``SpatialDarkness1D/2D/3D``; same shape (identity at inference)."""

    name = "spatial_dropout"
    role = "pointwise"
    keys = ("data_format",)
    one_d_channels_last = True

    def output_shape(self, spec, shape, owner=None):
        return same_shape(shape, owner)

    def fast(self, spec):
        return (_same_fast, ())


class DenseKind(Kind):
    """``dense``: ``Daoloth``; the last axis becomes ``units``."""

    name = "dense"
    keys = ("units",)

    def _normalize(self, out, owner):
        out["units"] = positive_int(required(out, "units", owner), "units", owner)

    def output_shape(self, spec, shape, owner=None):
        return dense(shape, spec["units"], owner)

    def fast(self, spec):
        return (_dense_fast, (spec["units"],))

    def blockwise(self, spec, data_format=None, ndim=None, input_shapes=None):
        return "pointwise" if is_channels_last(data_format) else "whole"


POINTWISE = register(PointwiseKind())
SPATIAL_DROPOUT = register(SpatialDropoutKind())
DENSE = register(DenseKind())
