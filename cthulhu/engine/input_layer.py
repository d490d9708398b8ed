"""``Input()``: the entry point of a functional model, and the ``InputLayer`` behind it.

Examples
--------
>>> from cthulhu.engine.input_layer import Input
>>> x = Input(shape=(32,))
>>> x.shape
(None, 32)
>>> x.layer.name.startswith("input_")
True
"""

from __future__ import annotations

import numpy as np

from cthulhu.engine.base_layer import Layer, check_shape
from cthulhu.engine.node import Node, SymbolicTensor
from cthulhu.names import register_layer


@register_layer
class InputLayer(Layer):
    """The layer that produces a model's input tensor; it has no weights and computes nothing.

    Parameters
    ----------
    input_shape : tuple, optional
        Shape of one sample, without the batch axis.
    batch_size : int, optional
        Fixed batch size.
    batch_input_shape : tuple, optional
        Full shape including the batch axis.
    dtype : str, optional
        Dtype the model expects (default ``'float32'``).
    input_tensor : optional
        An array (or symbolic tensor) whose shape fixes the batch shape.
    sparse : bool
        Must be False: cthulhu runs on dense Array API arrays.
    name : str, optional
        Defaults to ``input_1``, ``input_2``, ...
    """

    def __init__(self, input_shape=None, batch_size=None, batch_input_shape=None, dtype=None,
                 input_tensor=None, sparse=False, name=None, **kwargs):
        if name is None:
            from cthulhu.engine.base_layer import unique_name
            name = unique_name("input")
        kwargs.pop("trainable", None)
        super().__init__(name=name, dtype=dtype, **kwargs)
        owner = self._owner()
        if sparse:
            raise ValueError(f"{owner}: sparse=True is not supported (cthulhu layers run on dense "
                             "Array API arrays)")
        if input_tensor is not None and batch_input_shape is None and input_shape is None:
            batch_input_shape = tuple(input_tensor.shape)
        if batch_input_shape is not None:
            shape = check_shape(batch_input_shape, owner, "batch_input_shape")
        elif input_shape is not None:
            if batch_size is not None and not (isinstance(batch_size, int) and batch_size > 0):
                raise ValueError(f"{owner}: batch_size must be a positive integer, got {batch_size!r}")
            shape = (batch_size,) + check_shape(input_shape, owner, "input_shape")
        else:
            raise ValueError(f"{owner}: give Input either a `shape` or a `batch_shape` argument")
        if input_tensor is not None and len(tuple(input_tensor.shape)) != len(shape):
            raise ValueError(f"{owner}: input_tensor has shape {tuple(input_tensor.shape)}, "
                             f"which does not match {shape}")
        self.batch_input_shape = shape
        self.sparse = False
        self.built = True
        self._build_input_shape = shape
        node = Node(self, [], input_is_list=False)
        self.output = node.make_outputs(shape, self.dtype, multiple=False)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {"batch_input_shape": tuple(self.batch_input_shape), "dtype": self.dtype,
                "sparse": self.sparse, "name": self.name}

    @property
    def input_shape(self):
        return self.batch_input_shape


def Input(shape=None, batch_shape=None, name=None, dtype=None, sparse=False, tensor=None):  # noqa: N802
    """A symbolic tensor to start a functional model (``Lump``) from.

    Parameters
    ----------
    shape : tuple of int or None
        Shape of one sample, without the batch axis, e.g. ``(32,)``.
    batch_shape : tuple, optional
        Full shape including the batch axis, e.g. ``(10, 32)`` or ``(None, 32)``.
    name : str, optional
        Name of the input layer (unique in a model); ``input_N`` by default.
    dtype : str, optional
        Expected dtype (``'float32'`` by default).
    sparse : bool
        Sparse placeholders are not supported; must be False.
    tensor : array, optional
        An existing array whose shape becomes the batch shape.

    Returns
    -------
    SymbolicTensor
        Carries ``shape`` (batch axis ``None`` unless fixed) and the layer that made it.
    """
    if shape is None and batch_shape is None and tensor is None:
        raise ValueError("Input: give either a `shape` or a `batch_shape` argument, got neither")
    if isinstance(tensor, SymbolicTensor):
        return tensor
    dtype = None if dtype is None else str(np.dtype(dtype))
    layer = InputLayer(input_shape=shape, batch_input_shape=batch_shape, name=name, dtype=dtype,
                       sparse=sparse, input_tensor=tensor)
    return layer.output
