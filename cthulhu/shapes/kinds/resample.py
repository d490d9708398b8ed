"""Kinds that move samples without weights: ``upsampling``, ``zero_padding``, ``cropping``.

Keras' 1D versions of these layers have no ``data_format`` (always channels_last).
"""

from ..axis_maps import LINEAR_INTERPOLATIONS, _Step, upsampling_step
from ..checks import check_rank
from ..errors import shape_error
from ..layout import is_channels_first
from ..lengths import _crop_out, _pad_out, _upsample_out, crop_length, pad_length, upsample_length
from ..normalize import normalize_cropping, normalize_size, normalize_zero_padding
from .base import SpatialKind, register

__all__ = ["cropping_shape", "zero_padding_shape", "upsampling_shape", "UpSamplingKind",
           "ZeroPaddingKind", "CroppingKind"]


def cropping_shape(shape, owner, rank, first, pairs):
    """Cropping's output shape from checked arguments (``pairs``: ``((lo, hi),) * rank``)."""
    check_rank(shape, rank, first, owner)
    spatial = shape[2:] if first else shape[1:-1]
    out = [_crop_out(n, lo, hi, owner) for n, (lo, hi) in zip(spatial, pairs, strict=True)]
    return (shape[0], shape[1], *out) if first else (shape[0], *out, shape[-1])


def zero_padding_shape(shape, owner, rank, first, pairs):
    """Zero padding's output shape from checked arguments."""
    check_rank(shape, rank, first, owner)
    spatial = shape[2:] if first else shape[1:-1]
    out = [_pad_out(n, lo, hi) for n, (lo, hi) in zip(spatial, pairs, strict=True)]
    return (shape[0], shape[1], *out) if first else (shape[0], *out, shape[-1])


def upsampling_shape(shape, owner, rank, first, size):
    """Up-sampling's output shape from checked arguments (``size`` normalised)."""
    check_rank(shape, rank, first, owner)
    spatial = shape[2:] if first else shape[1:-1]
    out = [_upsample_out(n, f) for n, f in zip(spatial, size, strict=True)]
    return (shape[0], shape[1], *out) if first else (shape[0], *out, shape[-1])


INTERPOLATIONS = ("nearest", *LINEAR_INTERPOLATIONS)


class UpSamplingKind(SpatialKind):
    """``upsampling``: ``UbboSathla1D/2D/3D``. ``interpolation`` (``nearest``, ``bilinear``,
    ``trilinear``) leaves the shape alone but not the range maps: a linear one clamps at
    the ends (:data:`~cthulhu.shapes.axis_maps.LINEAR_INTERPOLATIONS`)."""

    name = "upsampling"
    role = "resample"
    keys = ("size", "data_format", "interpolation")
    one_d_channels_last = True

    def _normalize_args(self, out, rank, owner):
        out["size"] = normalize_size(out.get("size", 2), rank, owner)
        interpolation = out.get("interpolation", "nearest")
        if not isinstance(interpolation, str) or interpolation not in INTERPOLATIONS:
            raise shape_error(owner, f"interpolation must be one of {INTERPOLATIONS}, "
                                     f"got {interpolation!r}")

    def fast(self, spec):
        return (upsampling_shape, (spec["rank"], is_channels_first(spec["data_format"]),
                                   spec["size"]))

    def steps(self, spec, axis, n_in, n_out):
        return upsampling_step(n_in, spec["size"][axis], spec.get("interpolation", "nearest"))

    def length_fn(self, spec, axis):
        u = spec["size"][axis]
        return lambda n: upsample_length(n, u)


class ZeroPaddingKind(SpatialKind):
    """``zero_padding``: ``Xexanoth1D/2D/3D``; ``padding`` as ``((lo, hi),) * rank``."""

    name = "zero_padding"
    role = "pad"
    keys = ("padding", "data_format")
    one_d_channels_last = True

    def _normalize_args(self, out, rank, owner):
        out["padding"] = normalize_zero_padding(out.get("padding", 1), rank, owner)

    def fast(self, spec):
        return (zero_padding_shape, (spec["rank"], is_channels_first(spec["data_format"]),
                                     spec["padding"]))

    def steps(self, spec, axis, n_in, n_out):
        # a down map with s = K = 1 reaching lo samples before the output
        return _Step(False, 1, 1, spec["padding"][axis][0], n_in, n_out)

    def length_fn(self, spec, axis):
        lo, hi = spec["padding"][axis]
        return lambda n: pad_length(n, lo, hi)


class CroppingKind(SpatialKind):
    """``cropping``: ``Cropping1D/2D/3D``; ``cropping`` as ``((lo, hi),) * rank``."""

    name = "cropping"
    role = "crop"
    keys = ("cropping", "data_format")
    one_d_channels_last = True

    def _normalize_args(self, out, rank, owner):
        out["cropping"] = normalize_cropping(out.get("cropping", 0), rank, owner)

    def fast(self, spec):
        return (cropping_shape, (spec["rank"], is_channels_first(spec["data_format"]),
                                 spec["cropping"]))

    def steps(self, spec, axis, n_in, n_out):
        return _Step(False, 1, 1, -spec["cropping"][axis][0], n_in, n_out)

    def length_fn(self, spec, axis):
        lo, hi = spec["cropping"][axis]
        return lambda n: crop_length(n, lo, hi)


UPSAMPLING = register(UpSamplingKind())
ZERO_PADDING = register(ZeroPaddingKind())
CROPPING = register(CroppingKind())
