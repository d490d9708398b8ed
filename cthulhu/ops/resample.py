"""``upsample`` and the zero-padding/cropping ops."""

from __future__ import annotations

from cthulhu import shapes
from cthulhu.ops import _args, _checks, generic
from cthulhu.ops._dispatch import NO_EPILOGUE
from cthulhu.ops._op import GeometryCache, Op

__all__ = ["UpsampleOp", "PadOp", "CropOp", "UPSAMPLE", "PAD", "CROP", "upsample", "pad",
           "crop"]

INTERPOLATIONS = ("nearest", "bilinear")


class UpsampleOp(Op):
    """``upsample``: integer factors per spatial axis, ``nearest`` or ``bilinear``."""

    name, label = "upsample", "ops.upsample"

    def __init__(self):
        self._cache = GeometryCache()

    def geometry(self, x, size, *, interpolation="nearest", data_format="channels_last"):
        label = self.label
        if getattr(x, "ndim", 0) < 3:
            raise ValueError(f"{label}: x must have a batch, spatial and channel axes, got "
                             f"shape {tuple(getattr(x, 'shape', ()))}")
        _checks.float_input(x, label)
        size = _args.int_tuple(size, x.ndim - 2, "size", label)
        data_format = _args.data_format(data_format, label)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{label}: interpolation must be one of {INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        shape = tuple(x.shape)
        return self._cache.get((shape, size, interpolation, data_format), _upsample_geometry,
                               shape, size, interpolation, data_format)

    def generic(self, x, *, geometry):
        return generic.upsample(x, geometry=geometry)

    def reference(self, x, size, **args):
        return self.generic(x, geometry=self.geometry(x, size, **args))

    def __call__(self, x, size, *, interpolation="nearest", data_format="channels_last"):
        x = _checks.native_order(x)
        geometry = self.geometry(x, size, interpolation=interpolation, data_format=data_format)
        return self.run(x, (), geometry, NO_EPILOGUE)


def _upsample_geometry(shape, size, interpolation, data_format):
    return shapes.upsample_geometry(shape, size, data_format=data_format,
                                    interpolation=interpolation)


class PadOp(Op):
    """``pad``: zeros added to (negative amounts: samples removed from) the spatial axes.
    Generic code only: no plugin provides it (the copies are the library's own)."""

    name, label = "pad", "ops.pad"

    def geometry(self, x, padding, *, data_format="channels_last"):
        pairs = _args.padding(padding, getattr(x, "ndim", 2) - 2, self.label, allowed=())
        data_format = _args.data_format(data_format, self.label)
        return shapes.pad_geometry(tuple(x.shape), pairs, data_format=data_format)

    def generic(self, x, *, geometry):
        return generic.pad(x, geometry=geometry)

    def reference(self, x, padding, **args):
        return self.generic(x, geometry=self.geometry(x, padding, **args))

    def __call__(self, x, padding, *, data_format="channels_last"):
        x = _checks.native_order(x)
        geometry = self.geometry(x, padding, data_format=data_format)
        if 0 in x.shape:
            # nothing to copy: zeros of the padded shape (lazy libraries cannot concat empties)
            return self.run(x, (), geometry)
        return self.generic(x, geometry=geometry)


class CropOp(PadOp):
    """``crop``: ``pad`` with negated amounts (which must be >= 0)."""

    name, label = "crop", "ops.crop"

    def geometry(self, x, cropping, *, data_format="channels_last"):
        pairs = _args.padding(cropping, getattr(x, "ndim", 2) - 2, self.label, allowed=())
        if any(v < 0 for pair in pairs for v in pair):
            raise ValueError(f"{self.label}: cropping amounts must be >= 0, got {cropping!r}")
        data_format = _args.data_format(data_format, self.label)
        return shapes.pad_geometry(tuple(x.shape), tuple((-lo, -hi) for lo, hi in pairs),
                                   data_format=data_format)


UPSAMPLE = UpsampleOp()
PAD = PadOp()
CROP = CropOp()


def upsample(x, size, *, interpolation="nearest", data_format="channels_last"):
    """Up-sample the spatial axes of ``x`` by integer factors.

    ``nearest`` repeats samples; ``bilinear`` (any rank, used by
    ``UbboSathla2D``) follows TensorFlow 2 ``tf.image.resize(..., "bilinear")``:
    half-pixel centres, ``align_corners=False``, edges clamped.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu import ops
    >>> x = xp.reshape(xp.asarray([0.0, 4.0]), (1, 1, 2, 1))
    >>> ops.upsample(x, (1, 2), interpolation="bilinear")[0, 0, :, 0]
    Array([0., 1., 3., 4.], dtype=array_api_strict.float64)
    """
    return UPSAMPLE(x, size, interpolation=interpolation, data_format=data_format)


def pad(x, padding, *, data_format="channels_last"):
    """Zero-pad the spatial axes by ``(lo, hi)`` pairs; negative amounts crop.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu import ops
    >>> ops.pad(xp.ones((1, 2, 1)), ((1, 0),))[0, :, 0]
    Array([0., 1., 1.], dtype=array_api_strict.float64)
    """
    return PAD(x, padding, data_format=data_format)


def crop(x, cropping, *, data_format="channels_last"):
    """Remove ``(lo, hi)`` samples from each spatial axis (``pad`` with negated amounts)."""
    return CROP(x, cropping, data_format=data_format)
