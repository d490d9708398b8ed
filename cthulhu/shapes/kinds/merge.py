"""Kinds with several inputs: ``merge`` (element-wise) and ``concatenate``.

Their :meth:`output_shape` takes a *list* of input shapes. They have no range
map of their own: every input is read over the same positions as the output,
so in a graph (:func:`cthulhu.shapes.graph`) the needed range of each input is
the node's own block. No layer uses them yet (issue 10 adds ``Add``,
``Concatenate`` ...); the graph analysis is proven on them.

* ``merge``: ``op`` one of :data:`MERGE_OPS` over inputs of one shape (Keras 2
  also broadcasts axes of size 1; these kinds do not). ``subtract`` takes
  exactly two inputs, the others two or more.
* ``concatenate``: along ``axis`` (default ``-1``, Keras' default); the other
  axes must agree. Block by block it is a merge when ``axis`` is the channels
  axis, and needs whole axes otherwise.
"""

from .._arith import is_int
from ..checks import check_shape
from ..errors import ShapeTypeError, shape_error
from ..layout import channel_index, channels_axis
from .base import Kind, register

__all__ = ["MERGE_OPS", "MergeKind", "ConcatenateKind", "same_size"]

MERGE_OPS = ("add", "subtract", "multiply", "average", "maximum", "minimum")


def same_size(a, b, what, owner=None):
    """The size two inputs share along one axis, or an error if they provably differ.

    ``None`` (unknown) takes the other's size. Two symbolic sizes whose
    difference is a non-zero constant differ; otherwise (``h`` and
    ``2*floor(h/2)``) they cannot be told apart before binding and the first
    is kept: bind the symbols to check.
    """
    if a is None:
        return b
    if b is None:
        return a
    difference = a - b
    if is_int(difference):
        if difference:
            raise shape_error(owner, f"{what}: the inputs' sizes differ ({a} and {b})")
        return b if is_int(b) else a
    return b if is_int(b) else a


def _input_shapes(shapes, owner, count=None):
    if isinstance(shapes, (str, bytes)) or not isinstance(shapes, (list, tuple)) \
            or not all(isinstance(s, (list, tuple)) for s in shapes):
        raise shape_error(owner, f"expects a list of input shapes, got {shapes!r}",
                          ShapeTypeError)
    if len(shapes) < 2 or (count is not None and len(shapes) != count):
        wanted = f"exactly {count}" if count is not None else "at least 2"
        raise shape_error(owner, f"expects {wanted} inputs, got {len(shapes)}")
    checked = [check_shape(s, owner=owner, min_rank=1) for s in shapes]
    rank = len(checked[0])
    for s in checked[1:]:
        if len(s) != rank:
            raise shape_error(owner, f"inputs must have one rank, got shapes "
                                     f"{[tuple(x) for x in checked]!r}")
    return checked


class MergeKind(Kind):
    """``merge``: element-wise ``op`` of inputs with one shape (Keras ``Add``, ``Multiply`` ...)."""

    name = "merge"
    role = "merge"
    inputs = None
    keys = ("op",)

    def _normalize(self, out, owner):
        op = out.get("op", "add")
        if not isinstance(op, str) or op.lower() not in MERGE_OPS:
            raise shape_error(owner, f"op must be one of {', '.join(map(repr, MERGE_OPS))}, "
                                     f"got {op!r}")
        out["op"] = op.lower()

    def output_shape(self, spec, shapes, owner=None):
        count = 2 if spec.get("op") == "subtract" else None
        shapes = _input_shapes(shapes, owner, count)
        out = shapes[0]
        for shape in shapes[1:]:
            out = tuple(same_size(a, b, f"axis {i}", owner)
                        for i, (a, b) in enumerate(zip(out, shape, strict=True)))
        return out


class ConcatenateKind(Kind):
    """``concatenate``: inputs joined along ``axis`` (Keras ``Concatenate``)."""

    name = "concatenate"
    role = "merge"
    inputs = None
    keys = ("axis",)

    def _normalize(self, out, owner):
        axis = out.get("axis", -1)
        if not is_int(axis):
            raise shape_error(owner, f"axis must be an int, got {axis!r}", ShapeTypeError)
        out["axis"] = axis

    def _axis(self, spec, ndim, owner):
        axis = spec.get("axis", -1)
        index = axis + ndim if axis < 0 else axis
        if not 1 <= index < ndim:
            raise shape_error(owner, f"axis {axis} is not a non-batch axis of inputs of rank "
                                     f"{ndim}")
        return index

    def output_shape(self, spec, shapes, owner=None):
        shapes = _input_shapes(shapes, owner)
        axis = self._axis(spec, len(shapes[0]), owner)
        out = list(shapes[0])
        for shape in shapes[1:]:
            for i, (a, b) in enumerate(zip(out, shape, strict=True)):
                if i == axis:
                    out[i] = None if a is None or b is None else a + b
                else:
                    out[i] = same_size(a, b, f"axis {i}", owner)
        return tuple(out)

    def blockwise(self, spec, data_format=None, ndim=None):
        """``"merge"`` along the channels axis of ``data_format``, else ``"whole"``."""
        axis = spec.get("axis", -1)
        if ndim is not None:
            along_channels = axis % ndim == channel_index(ndim, data_format)
        else:
            along_channels = axis == channels_axis(1, data_format)
        return "merge" if along_channels else "whole"


MERGE = register(MergeKind())
CONCATENATE = register(ConcatenateKind())
