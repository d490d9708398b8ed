"""``upsample`` and the zero-padding/cropping helpers."""

from __future__ import annotations

from cthulhu import shapes
from cthulhu.ops import _args, _checks, _dispatch, generic

INTERPOLATIONS = ("nearest", "bilinear")


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
    op = "ops.upsample"
    x = _checks.native_order(x)
    if getattr(x, "ndim", 0) < 3:
        raise ValueError(f"{op}: x must have a batch, spatial and channel axes, got shape "
                         f"{tuple(getattr(x, 'shape', ()))}")
    _checks.float_input(x, op)
    rank = x.ndim - 2
    cfg = {
        "size": _args.int_tuple(size, rank, "size", op),
        "interpolation": interpolation,
        "data_format": _args.data_format(data_format, op),
    }
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{op}: interpolation must be one of {INTERPOLATIONS}, "
                         f"got {interpolation!r}")
    if _dispatch.is_empty(x):
        spatial = [shapes.upsample_length(n, f) for n, f in
                   zip(_args.spatial_shape(x, cfg["data_format"]), cfg["size"], strict=True)]
        batch, channels = x.shape[0], _args.channels(x, cfg["data_format"])
        shape = shapes.join_channels(batch, spatial, channels, cfg["data_format"])
        return _dispatch.empty_result(x, shape, None, None, -1)
    return _dispatch.run("upsample", x, (), cfg, None, None, -1, _generic_upsample)


def _generic_upsample(x, *, size, interpolation, data_format):
    return generic.upsample(x, size, interpolation=interpolation, data_format=data_format)


def pad(x, padding, *, data_format="channels_last"):
    """Zero-pad the spatial axes by ``(lo, hi)`` pairs; negative amounts crop.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu import ops
    >>> ops.pad(xp.ones((1, 2, 1)), ((1, 0),))[0, :, 0]
    Array([0., 1., 1.], dtype=array_api_strict.float64)
    """
    op = "ops.pad"
    x = _checks.native_order(x)
    rank = getattr(x, "ndim", 2) - 2
    pairs = _args.padding(padding, rank, op, allowed=())
    _args.data_format(data_format, op)
    if _dispatch.is_empty(x):
        # nothing to copy: zeros of the padded shape (lazy libraries cannot concat empties)
        shape = list(x.shape)
        for axis, (lo, hi) in zip(shapes.spatial_axes(x.ndim, data_format), pairs, strict=True):
            shape[axis] = max(shape[axis] + lo + hi, 0)
        return _dispatch.empty_result(x, shape, None, None, -1)
    return generic.pad(x, pairs, data_format=data_format)


def crop(x, cropping, *, data_format="channels_last"):
    """Remove ``(lo, hi)`` samples from each spatial axis (``pad`` with negated amounts)."""
    op = "ops.crop"
    rank = getattr(x, "ndim", 2) - 2
    pairs = _args.padding(cropping, rank, op, allowed=())
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"{op}: cropping amounts must be >= 0, got {cropping!r}")
    return pad(x, tuple((-lo, -hi) for lo, hi in pairs), data_format=data_format)
