"""Kinds with several inputs: ``merge`` (element-wise), ``concatenate`` and ``dot``.

Their :meth:`output_shape` takes a *list* of input shapes (batch axis
included). The rules are Keras 2's (``keras.layers.Add`` ... ``Dot``):

* ``merge``: ``op`` one of :data:`MERGE_OPS` (a layer's class name gives it:
  ``Add`` is ``add``). One input or more (``subtract``: exactly two). The
  inputs' batch sizes must agree; the other axes broadcast as Keras 2 does:
  aligned at the end (an input of lower rank gains axes of size 1 after its
  batch axis), each pair of sizes equal or one of them 1. An unknown size
  (``None``) takes the other input's size unless that is 1 (then it stays
  unknown: it could be anything).
* ``concatenate``: along ``axis`` (default ``-1``), never the batch axis; the
  inputs have one rank and agree on every other axis.
* ``dot``: Keras' ``batch_dot`` of two inputs of rank >= 2 over ``axes`` (an
  int, or one axis per input; never the batch axis): the first input's other
  axes, then the second's; a result of rank 1 gets an axis of size 1.

Block by block, ``merge`` and ``concatenate`` along the channels read the same
positions of every input (role ``merge``), so they have no range map of their
own: in a graph (:func:`cthulhu.shapes.graph`) the needed range of each input
is the node's own block. A merge that broadcasts an input along a spatial axis
(or joins inputs of different ranks), a concatenation across a spatial axis
and ``dot`` need whole axes.
"""

from .._arith import is_int
from ..checks import check_shape
from ..errors import ShapeTypeError, shape_error
from ..layout import channel_index, channels_axis, spatial_axes
from .base import Kind, register

__all__ = ["MERGE_OPS", "MergeKind", "ConcatenateKind", "DotKind", "same_size",
           "broadcast_size"]

MERGE_OPS = ("add", "subtract", "multiply", "average", "maximum", "minimum")


def _differ(a, b, what, owner, shapes, extra=""):
    shown = f" (input shapes {[tuple(s) for s in shapes]!r})" if shapes else ""
    return shape_error(owner, f"{what}: the inputs' sizes differ ({a} and {b}){extra}{shown}")


def same_size(a, b, what, owner=None, shapes=None):
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
            raise _differ(a, b, what, owner, shapes)
        return b if is_int(b) else a
    return b if is_int(b) else a


def broadcast_size(a, b, what, owner=None, shapes=None):
    """One axis of an element-wise merge (Keras 2): equal sizes, or one of them 1.

    >>> broadcast_size(1, 4, "axis 1"), broadcast_size(None, 4, "axis 1"), broadcast_size(None, 1, "axis 1")
    (4, 4, None)
    """
    if a is None or b is None:
        known = b if a is None else a
        return None if is_int(known) and known == 1 else known
    if is_int(a) and a == 1:
        return b
    if is_int(b) and b == 1:
        return a
    if is_int(a) and is_int(b) and a != b:
        raise _differ(a, b, what, owner, shapes, " and neither is 1")
    return same_size(a, b, what, owner, shapes)


def _input_shapes(shapes, owner, count=None, same_rank=True, min_rank=1):
    if isinstance(shapes, (str, bytes)) or not isinstance(shapes, (list, tuple)) \
            or not shapes or not all(isinstance(s, (list, tuple)) for s in shapes):
        raise shape_error(owner, f"expects a list of input shapes (one per input), got "
                                 f"{shapes!r}", ShapeTypeError)
    if count is not None and len(shapes) != count:
        raise shape_error(owner, f"expects exactly {count} inputs, got {len(shapes)}")
    checked = [check_shape(s, owner=owner, min_rank=min_rank) for s in shapes]
    if same_rank and any(len(s) != len(checked[0]) for s in checked):
        raise shape_error(owner, f"inputs must have one rank, got shapes "
                                 f"{[tuple(x) for x in checked]!r}")
    return checked


def _batch_size(shapes, owner):
    batch = shapes[0][0]
    for shape in shapes[1:]:
        batch = same_size(batch, shape[0], "batch axis", owner, shapes)
    return batch


def merge_shape(shapes, owner=None):
    """The output shape of an element-wise merge of checked ``shapes`` (Keras 2's broadcasting)."""
    batch = _batch_size(shapes, owner)
    out = tuple(shapes[0][1:])
    for shape in shapes[1:]:
        rest = tuple(shape[1:])
        if len(rest) > len(out):
            lead, long_, short = rest[:len(rest) - len(out)], rest[len(rest) - len(out):], out
            pairs = zip(short, long_, strict=True)
        else:
            lead, short = out[:len(out) - len(rest)], rest
            pairs = zip(out[len(out) - len(rest):], short, strict=True)
        first = 1 + len(lead)
        out = lead + tuple(broadcast_size(a, b, f"axis {first + j}", owner, shapes)
                           for j, (a, b) in enumerate(pairs))
    return (batch, *out)


class MergeKind(Kind):
    """``merge``: element-wise ``op`` of one or more inputs (Keras ``Add``, ``Multiply`` ...)."""

    name = "merge"
    role = "merge"
    inputs = None
    keys = ("op",)

    def _normalize(self, out, owner):
        op = out.get("op")
        if op is None:
            # a layer's class name is its operation (Add -> add); a bare spec adds
            name = out.get("class_name")
            op = name.lower() if isinstance(name, str) and name.lower() in MERGE_OPS else "add"
        if not isinstance(op, str) or op.lower() not in MERGE_OPS:
            raise shape_error(owner, f"op must be one of {', '.join(map(repr, MERGE_OPS))}, "
                                     f"got {op!r}")
        out["op"] = op.lower()

    def output_shape(self, spec, shapes, owner=None):
        count = 2 if spec.get("op") == "subtract" else None
        return merge_shape(_input_shapes(shapes, owner, count, same_rank=False), owner)

    def blockwise(self, spec, data_format=None, ndim=None, input_shapes=None):
        """``"merge"``; ``"whole"`` when an input is broadcast along a spatial axis."""
        if input_shapes is None:
            return "merge"
        out = self.output_shape(spec, input_shapes, spec)
        axes = spatial_axes(len(out), data_format)
        for shape in input_shapes:
            if len(shape) != len(out) or any(shape[a] != out[a] for a in axes):
                return "whole"
        return "merge"


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
        if axis == 0:  # whatever the rank
            raise shape_error(owner, "axis cannot be the batch axis (0): predict splits it "
                                     "into batches")
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
                    out[i] = same_size(a, b, f"axis {i}", owner, shapes)
        return tuple(out)

    def blockwise(self, spec, data_format=None, ndim=None, input_shapes=None):
        """``"merge"`` along the channels axis of ``data_format``, else ``"whole"``."""
        axis = spec.get("axis", -1)
        if ndim is not None:
            along_channels = axis % ndim == channel_index(ndim, data_format)
        else:
            along_channels = axis == channels_axis(1, data_format)
        return "merge" if along_channels else "whole"


class DotKind(Kind):
    """``dot``: Keras' ``batch_dot`` of two inputs over ``axes`` (Keras ``Dot``)."""

    name = "dot"
    role = "whole"
    inputs = 2
    keys = ("axes", "normalize")

    def _normalize(self, out, owner):
        if "axes" not in out:
            raise shape_error(owner, "missing required argument 'axes'")
        axes = out["axes"]
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(is_int(a) for a in axes):
                raise shape_error(owner, f"axes must be an int or a pair of ints (one axis "
                                         f"per input), got {axes!r}", ShapeTypeError)
            axes = (int(axes[0]), int(axes[1]))
        elif not is_int(axes):
            raise shape_error(owner, f"axes must be an int or a pair of ints, got {axes!r}",
                              ShapeTypeError)
        out["axes"] = axes
        normalize = out.get("normalize", False)
        if not isinstance(normalize, bool):
            raise shape_error(owner, f"normalize must be True or False, got {normalize!r}",
                              ShapeTypeError)
        out["normalize"] = normalize

    def resolve(self, spec, ndims, owner=None):
        """The contracted axis of each input (non-negative), checked against their ranks."""
        axes = spec["axes"]
        pair = (axes, axes) if is_int(axes) else axes
        out = []
        for axis, ndim in zip(pair, ndims, strict=True):
            index = axis + ndim if axis < 0 else axis
            if not 0 <= index < ndim:
                raise shape_error(owner, f"axes {axes!r}: axis {axis} is out of range for an "
                                         f"input of rank {ndim}")
            if index == 0:
                raise shape_error(owner, f"axes {axes!r}: cannot take the dot product over "
                                         "the batch axis (0)")
            out.append(index)
        return tuple(out)

    def output_shape(self, spec, shapes, owner=None):
        first, second = _input_shapes(shapes, owner, count=2, same_rank=False, min_rank=2)
        a0, a1 = self.resolve(spec, (len(first), len(second)), owner)
        batch = _batch_size([first, second], owner)
        n0, n1 = first[a0], second[a1]
        if n0 is not None and n1 is not None and is_int(n0 - n1) and n0 != n1:
            raise shape_error(owner, f"incompatible input shapes: axis {a0} of the first input "
                                     f"has size {n0}, axis {a1} of the second has size {n1} "
                                     f"(input shapes {first!r} and {second!r})")
        out = (batch, *(n for i, n in enumerate(first) if i not in (0, a0)),
               *(n for i, n in enumerate(second) if i not in (0, a1)))
        return out if len(out) > 1 else (batch, 1)


MERGE = register(MergeKind())
CONCATENATE = register(ConcatenateKind())
DOT = register(DotKind())
