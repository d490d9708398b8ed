"""Symbolic tensors and the nodes that connect layers into a graph.

``Input(...)`` returns a :class:`SymbolicTensor`; calling a layer on symbolic
tensors records a :class:`Node` (which layer, on which tensors) and returns new
symbolic tensors. ``Lump(inputs, outputs)`` walks these nodes backwards to find
the layers to run and their order. No array library is involved here: a
symbolic tensor only carries a shape (``None`` or a ``cthulhu.shapes`` symbol
for unknown sizes) and a dtype name.
"""

from __future__ import annotations


class SymbolicTensor:
    """A placeholder for an array flowing through a model being defined.

    Attributes
    ----------
    shape : tuple
        The full shape, batch axis first (``None`` where unknown).
    dtype : str
        The dtype name the producing layer expects (e.g. ``'float32'``).
    node : Node
        The node that produced this tensor.
    tensor_index : int
        Which output of that node this tensor is.
    """

    __slots__ = ("shape", "dtype", "node", "tensor_index", "name")

    def __init__(self, shape, dtype, node, tensor_index=0, name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.tensor_index = tensor_index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def layer(self):
        """The layer whose call produced this tensor."""
        return self.node.layer

    # The names the cthulhu docs use for these attributes (Keras 2's _keras_shape/_keras_history).
    @property
    def _cthulhu_shape(self):
        return self.shape

    @property
    def _cthulhu_history(self):
        """``(layer, node_index, tensor_index)``."""
        return (self.node.layer, self.node.index, self.tensor_index)

    def __repr__(self):
        return f"<cthulhu.SymbolicTensor {self.name!r} shape={self.shape} dtype={self.dtype}>"


class Node:
    """One call of a layer on symbolic tensors.

    Parameters
    ----------
    layer : Layer
        The layer that was called.
    inputs : list of SymbolicTensor
        The tensors it was called on (empty for an ``InputLayer``).
    input_is_list : bool
        Whether the layer received a list (``layer([a, b])``) or one tensor.
    call_kwargs : dict
        Extra keyword arguments given at the symbolic call (e.g. ``training``),
        replayed when the model runs.
    """

    def __init__(self, layer, inputs, input_is_list=False, call_kwargs=None):
        self.layer = layer
        self.inputs = list(inputs)
        self.input_is_list = bool(input_is_list)
        self.call_kwargs = dict(call_kwargs or {})
        self.outputs: list[SymbolicTensor] = []
        self.index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)

    def make_outputs(self, shapes, dtype, multiple):
        """Create the output tensors for ``shapes`` (one shape, or a list if ``multiple``)."""
        shape_list = list(shapes) if multiple else [shapes]
        for i, shape in enumerate(shape_list):
            name = f"{self.layer.name}/{self.index}:{i}"
            self.outputs.append(SymbolicTensor(shape, dtype, self, i, name))
        return list(self.outputs) if multiple else self.outputs[0]

    def __repr__(self):
        ins = [t.name for t in self.inputs]
        return f"<cthulhu.Node {self.layer.name}#{self.index} inputs={ins}>"


def is_symbolic(x) -> bool:
    """True for a symbolic tensor or a (non-empty) list/tuple holding only symbolic tensors."""
    if isinstance(x, SymbolicTensor):
        return True
    if isinstance(x, (list, tuple)) and x:
        flags = [isinstance(t, SymbolicTensor) for t in x]
        if all(flags):
            return True
        if any(flags):
            raise TypeError("cannot mix symbolic tensors (from Input) and arrays in one layer call")
    return False
