"""Kinds that keep every shape but work along some axes: ``along_axis`` and ``per_position``.

* ``along_axis`` (``BatchNormalization``, ``LayerNormalization``, ``Softmax``):
  the layer mixes the positions of ``axis`` (a softmax, a layer normalisation's
  statistics) or holds one weight per position of it (a batch normalisation's
  gamma, beta and moving statistics); every other position is on its own.
* ``per_position`` (``PReLU``): one weight per position of every non-batch axis
  except ``shared_axes`` (1-based, the batch axis not counted).

Both keep the input shape. Block by block they are position-wise only when
the axes they work along are the channels alone, which blocks never split:
``along_axis`` with ``axis`` the channels axis, ``per_position`` with every
spatial axis shared. Otherwise a block would see a slice of an axis the layer
needs whole (a softmax over a spatial axis) or whose weights it cannot place
(an alpha per pixel), so they need whole axes. The batch axis is never one of
them: ``predict`` splits it into batches, which would change such a result.
"""

from .._arith import is_int
from ..checks import check_shape
from ..errors import ShapeTypeError, shape_error
from ..layout import channel_index, channels_axis, spatial_axes
from .base import Kind, register

__all__ = ["AlongAxisKind", "PerPositionKind", "resolve_axes"]


def _int_tuple(value, name, owner):
    values = value if isinstance(value, (list, tuple)) else (value,)
    if not values or not all(is_int(v) for v in values):
        raise shape_error(owner, f"{name} must be an int or a non-empty list of ints, "
                                 f"got {value!r}", ShapeTypeError)
    return tuple(int(v) for v in values)


def resolve_axes(axes, ndim, owner=None, name="axis"):
    """``axes`` (ints, negative from the end) as indices into ``ndim`` axes, checked.

    Each must be a non-batch axis (``1 <= index < ndim``) and appear once.

    >>> resolve_axes((-1, 1), 4)
    (3, 1)
    """
    out = []
    for axis in axes:
        index = axis + ndim if axis < 0 else axis
        if not 0 <= index < ndim:
            raise shape_error(owner, f"{name} {axis} is out of range for an input of rank "
                                     f"{ndim} (batch axis included), got {name}={axes!r}")
        if index == 0:
            raise shape_error(owner, f"{name} cannot be the batch axis (0): predict splits it "
                                     f"into batches, got {name}={axes!r}")
        if index in out:
            raise shape_error(owner, f"{name} names axis {index} twice, got {name}={axes!r}")
        out.append(index)
    return tuple(out)


def _along_axis_shape(shape, owner, axes):
    resolve_axes(axes, len(shape), owner)
    return shape


def _per_position_shape(shape, owner, shared):
    if shared:
        _check_shared(shared, len(shape), owner)
    return shape


def _check_shared(shared, ndim, owner):
    for axis in shared:
        if not 1 <= axis < ndim:
            raise shape_error(owner, f"shared_axes {axis} is not a non-batch axis (1 to "
                                     f"{ndim - 1}) of an input of rank {ndim}, got "
                                     f"shared_axes={shared!r}")


class AlongAxisKind(Kind):
    """``along_axis``: the same shape; works along ``axis`` (an int or a tuple of ints)."""

    name = "along_axis"
    role = "pointwise"
    keys = ("axis",)

    def _normalize(self, out, owner):
        axes = _int_tuple(out.get("axis", -1), "axis", owner)
        if 0 in axes:  # whatever the rank
            raise shape_error(owner, f"axis cannot be the batch axis (0): predict splits it "
                                     f"into batches, got axis={out.get('axis')!r}")
        out["axis"] = axes

    def output_shape(self, spec, shape, owner=None):
        shape = check_shape(shape, owner=owner, min_rank=2)
        return _along_axis_shape(shape, owner, spec["axis"])

    def fast(self, spec):
        return (_along_axis_shape, (spec["axis"],))

    def blockwise(self, spec, data_format=None, ndim=None, input_shapes=None):
        """``"pointwise"`` when ``axis`` is the channels axis of ``data_format``, else ``"whole"``."""
        axes = spec["axis"]
        if ndim is None:
            # without the rank only the channels axis written as Keras' default (-1 or 1) is known
            return "pointwise" if axes == (channels_axis(1, data_format),) else "whole"
        resolved = {a + ndim if a < 0 else a for a in axes}
        return "pointwise" if resolved == {channel_index(ndim, data_format)} else "whole"


class PerPositionKind(Kind):
    """``per_position``: the same shape; a weight per position of the axes not in ``shared_axes``."""

    name = "per_position"
    role = "pointwise"
    keys = ("shared_axes",)

    def _normalize(self, out, owner):
        shared = out.get("shared_axes")
        if shared is not None:
            shared = _int_tuple(shared, "shared_axes", owner)
            if any(a < 1 for a in shared):
                raise shape_error(owner, "shared_axes must be axes counted from 1 (the batch "
                                         f"axis is not one), got {shared!r}")
        out["shared_axes"] = shared

    def output_shape(self, spec, shape, owner=None):
        shape = check_shape(shape, owner=owner, min_rank=2)
        return _per_position_shape(shape, owner, spec["shared_axes"])

    def fast(self, spec):
        return (_per_position_shape, (spec["shared_axes"],))

    def blockwise(self, spec, data_format=None, ndim=None, input_shapes=None):
        """``"pointwise"`` when every spatial axis is shared (a weight per channel), else ``"whole"``."""
        if ndim is None:
            return "whole"
        shared = set(spec["shared_axes"] or ())
        return "pointwise" if set(spatial_axes(ndim, data_format)) <= shared else "whole"


ALONG_AXIS = register(AlongAxisKind())
PER_POSITION = register(PerPositionKind())
