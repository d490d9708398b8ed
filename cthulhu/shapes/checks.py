"""Checks of input shapes: sizes, rank, and the spatial layout a layer expects.

Every whole-layer function and every kind calls these before a formula, so a
wrong input fails with the layer's name and the shape it got.
"""

from ._arith import check_dim
from .errors import ShapeTypeError, shape_error
from .layout import is_channels_first

__all__ = ["check_shape", "check_spatial_rank", "spatial_shape", "check_rank"]

_AXES = {1: "steps", 2: "rows, cols", 3: "dim1, dim2, dim3"}


def check_shape(input_shape, rank=None, owner=None, min_rank=None, what=None):
    """``input_shape`` as a tuple of sizes, with ``rank`` (or at least ``min_rank``) axes.

    >>> check_shape([None, 4.0, 3])
    Traceback (most recent call last):
    ...
    cthulhu.shapes.errors.ShapeTypeError: input shape (None, 4.0, 3): axis 1 must be an int, ...
    >>> check_shape((None, 4, 3), rank=3)
    (None, 4, 3)
    """
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise shape_error(owner, f"input shape must be a tuple of sizes, got {input_shape!r}",
                          ShapeTypeError)
    shape = tuple(input_shape)
    shape = tuple(check_dim(dim, f"input shape {shape!r}: axis {i}", owner)
                  for i, dim in enumerate(shape))
    wanted = f" {what}" if what else ""
    if rank is not None and len(shape) != rank:
        raise shape_error(owner, f"expected an input of rank {rank}{wanted} (batch axis "
                                 f"included), got shape {shape!r} of rank {len(shape)}")
    if min_rank is not None and len(shape) < min_rank:
        raise shape_error(owner, f"expected an input of rank >= {min_rank}{wanted} (batch axis "
                                 f"included), got shape {shape!r} of rank {len(shape)}")
    return shape


def check_spatial_rank(rank, input_shape, owner):
    """Raise unless ``rank`` is a spatial rank cthulhu's layers have (1, 2 or 3)."""
    if rank not in _AXES:
        raise shape_error(owner, "expected an input of rank 3, 4 or 5 (batch, 1 to 3 spatial "
                                 f"axes, channels) and arguments of that many axes, got "
                                 f"input shape {input_shape!r} and {rank!r} spatial axes")


def spatial_shape(input_shape, rank, data_format, owner):
    """The checked ``input_shape`` of a layer with ``rank`` spatial axes in ``data_format``."""
    check_spatial_rank(rank, input_shape, owner)
    what = (f"(batch, channels, {_AXES[rank]})" if is_channels_first(data_format)
            else f"(batch, {_AXES[rank]}, channels)")
    return check_shape(input_shape, rank + 2, owner, what=what)


def check_rank(shape, rank, first, owner):
    """The cheap rank test of a checked shape; the validating one builds the message."""
    if len(shape) != rank + 2:
        spatial_shape(shape, rank, "channels_first" if first else "channels_last", owner)
