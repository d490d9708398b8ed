"""Kinds that need whole axes: ``flatten``, ``reshape``, ``permute``, ``repeat_vector``,
``embedding``, ``lstm``, and ``opaque`` (a layer the shape algebra knows only by its
own ``compute_output_shape`` or a given ``output_shape``).

Their shapes come from the functions of :mod:`cthulhu.shapes.nonspatial`; they
end the spatial analysis of a chain and cannot run block by block.
"""

from ..errors import ShapeError, owner_label
from ..layout import normalize_data_format
from ..nonspatial import embedding, flatten, lstm, permute, repeat_vector, reshape
from .base import Kind, register, required

__all__ = ["FlattenKind", "FunctionKind", "OpaqueKind"]


class FlattenKind(Kind):
    """``flatten``: ``(batch, product of the other sizes)``."""

    name = "flatten"
    keys = ("data_format",)

    def _normalize(self, out, owner):
        out["data_format"] = normalize_data_format(out.get("data_format"), owner)

    def output_shape(self, spec, shape, owner=None):
        return flatten(shape, spec.get("data_format"), owner)


class FunctionKind(Kind):
    """A kind whose shape is one function of :mod:`~cthulhu.shapes.nonspatial`.

    ``arguments`` are ``(key, default)`` pairs read from the spec, in the
    function's order (``REQUIRED`` defaults must be present).
    """

    REQUIRED = object()

    def __init__(self, name, function, arguments):
        self.name, self.function, self.arguments = name, function, arguments
        self.keys = tuple(key for key, _ in arguments)

    def output_shape(self, spec, shape, owner=None):
        args = [required(spec, key, owner) if default is self.REQUIRED else spec.get(key, default)
                for key, default in self.arguments]
        return self.function(shape, *args, owner)


_REQUIRED = FunctionKind.REQUIRED


class OpaqueKind(Kind):
    """``opaque``: ``output_shape`` (a tuple without the batch axis, or a function of the
    input shape), or the ``layer`` object's own ``compute_output_shape``."""

    name = "opaque"
    role = "opaque"
    keys = ("output_shape",)

    def output_shape(self, spec, shape, owner=None):
        layer = spec.get("layer")
        if layer is not None and hasattr(layer, "compute_output_shape"):
            return tuple(layer.compute_output_shape(shape))
        out = spec.get("output_shape")
        if callable(out):
            return tuple(out(shape))
        if out is None:
            raise ShapeError(f"{owner_label(owner or spec)}: the output shape is unknown "
                             "(give output_shape)")
        return (shape[0], *out)


FLATTEN = register(FlattenKind())
RESHAPE = register(FunctionKind("reshape", reshape, (("target_shape", _REQUIRED),)))
PERMUTE = register(FunctionKind("permute", permute, (("dims", _REQUIRED),)))
REPEAT_VECTOR = register(FunctionKind("repeat_vector", repeat_vector, (("n", _REQUIRED),)))
EMBEDDING = register(FunctionKind("embedding", embedding,
                                  (("output_dim", _REQUIRED), ("input_length", None))))
LSTM = register(FunctionKind("lstm", lstm, (("units", _REQUIRED), ("return_sequences", False),
                                            ("return_state", False))))
OPAQUE = register(OpaqueKind())
