"""``Pile``: a linear stack of layers (Keras 2's ``Sequential``).

Examples
--------
>>> from cthulhu.engine.pile import Pile
>>> from cthulhu.engine.base_layer import Layer
>>> class Twice(Layer):
...     def call(self, x):
...         return 2 * x
>>> model = Pile([Twice(input_shape=(3,)), Twice()])
>>> model.output_shape
(None, 3)
>>> import numpy as np
>>> model.predict(np.ones((2, 3))).tolist()
[[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]]
"""

from __future__ import annotations

from cthulhu.engine import fusion
from cthulhu.engine.base_layer import Layer, _is_multi_shape, checked_input
from cthulhu.engine.input_layer import InputLayer
from cthulhu.engine.network import Model, check_declared_shape
from cthulhu.engine.node import SymbolicTensor
from cthulhu.engine.summary import shape_text
from cthulhu.names import deserialize_layer, register_layer, serialize_layer


def _declared_input_shape(layer):
    """The batch input shape a first layer declares (a model as first layer: its input shape)."""
    if layer.batch_input_shape is not None:
        return tuple(layer.batch_input_shape)
    if isinstance(layer, Model):
        try:
            shape = layer.input_shape
        except AttributeError:
            return None
        return tuple(shape) if not _is_multi_shape(shape) else None
    return None


def _check_layers_argument(layers, name):
    """Catch the Keras habits that do not fit a Pile before they fail somewhere odd."""
    tensors = [t for t in (layers, name) if isinstance(t, SymbolicTensor) or (
        isinstance(t, (list, tuple)) and t and all(isinstance(x, SymbolicTensor) for x in t))]
    if tensors:
        raise TypeError("Pile(layers, name) takes a list of layers; it got tensors made by "
                        "Input() or by calling layers. A model from input tensors to output "
                        "tensors is a Lump: Lump(inputs, outputs)")
    if isinstance(layers, Layer):
        raise TypeError(f"Pile(layers, name): layers must be a list of layers, got one "
                        f"{type(layers).__name__}; write Pile([{layers.name}])")


@register_layer
class Pile(Model):
    """A model that runs its layers one after the other.

    Parameters
    ----------
    layers : list of Layer, optional
        Added in order with :meth:`add`.
    name : str, optional
        Defaults to ``pile_1``, ``pile_2``, ...

    Notes
    -----
    The output shape is known as soon as the first layer has an input shape
    (``input_shape=``/``input_dim=``/``batch_input_shape=``, or an ``Input``
    added first); then each added layer is built at once, so a layer that does
    not fit fails in ``add``. Without an input shape the model is built from
    the shape of the first array it is called on.
    """

    def __init__(self, layers=None, name=None):
        _check_layers_argument(layers, name)
        super().__init__(name=name)
        self._stack: list[Layer] = []
        self._input_batch_shape = None
        self._output_batch_shape = None
        self._declared_input = False  # an input shape the user gave (not one inferred from data)
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list:
        """The layers, without an explicit ``InputLayer`` (as in Keras 2)."""
        return [layer for layer in self._stack if not isinstance(layer, InputLayer)]

    def add(self, layer) -> None:
        """Append ``layer`` (or the tensor of an ``Input()``, which fixes the input shape)."""
        if isinstance(layer, SymbolicTensor):
            if not isinstance(layer.layer, InputLayer):
                raise TypeError(f"{self._owner()}: add() accepts layers or the tensor of an Input(); "
                                f"got a tensor produced by layer {layer.layer.name!r}")
            layer = layer.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"{self._owner()}: add() expects a Layer, got {type(layer).__name__}: "
                            f"{layer!r}")
        if layer is self:
            raise ValueError(f"{self._owner()}: a model cannot be added to itself")
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(f"{self._owner()}: all layers must have unique names; "
                             f"{layer.name!r} is already in the model")
        if isinstance(layer, InputLayer):
            if self._stack:
                raise ValueError(f"{self._owner()}: an Input can only be the first layer")
            self._stack.append(layer)
            self._input_batch_shape = self._output_batch_shape = tuple(layer.batch_input_shape)
            self._declared_input = True
            self.built = True
            return
        shape = self._output_batch_shape
        if not self._stack:
            shape = _declared_input_shape(layer)
        if shape is not None:
            out = self._build_one(layer, shape)
            if not self._stack:
                self._input_batch_shape = shape
                self._declared_input = True
            self._output_batch_shape = out
            self.built = True
        elif self.built:
            raise ValueError(f"{self._owner()}: cannot add {layer.name!r}: unknown input shape")
        self._stack.append(layer)

    def _build_one(self, layer, shape):
        layer._maybe_build(shape)
        out = layer.compute_output_shape(shape)
        if _is_multi_shape(out):
            raise ValueError(f"{self._owner()}: every layer of a Pile must have one output; "
                             f"{layer.name!r} ({type(layer).__name__}) has {len(out)}")
        return tuple(out)

    def pop(self) -> None:
        """Remove the last layer."""
        if not self.layers:
            raise TypeError(f"{self._owner()}: there are no layers to pop")
        self._stack.pop()
        if not self.layers:
            self._output_batch_shape = self._input_batch_shape
            return
        if self._input_batch_shape is not None:
            self._output_batch_shape = self.compute_output_shape(self._input_batch_shape)

    # ------------------------------------------------------------ shapes
    def build(self, input_shape=None):
        if input_shape is None:
            input_shape = self._input_batch_shape
        if input_shape is None:
            raise ValueError(f"{self._owner()}: build() needs an input shape")
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = self._build_one(layer, shape)
        if self._input_batch_shape is None:
            self._input_batch_shape = (None,) + tuple(input_shape)[1:]
            self._output_batch_shape = self.compute_output_shape(self._input_batch_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    def check_input_shape(self, shape) -> None:
        """The model's declared input shape first (naming the model), then its first layer's."""
        if self._declared_input and not _is_multi_shape(shape):
            check_declared_shape(self._owner(), "the model's input", self._input_batch_shape,
                                 shape)
        if self.layers:
            self.layers[0].check_input_shape(shape)

    @property
    def input_shape(self):
        if self._input_batch_shape is None:
            raise AttributeError(f"{self._owner()} has no input shape yet: give the first layer an "
                                 "input_shape or call the model on data")
        return self._input_batch_shape

    @property
    def output_shape(self):
        if self._input_batch_shape is None:
            raise AttributeError(f"{self._owner()} has no output shape yet: give the first layer an "
                                 "input_shape or call the model on data")
        return self.compute_output_shape(self._input_batch_shape)

    # ------------------------------------------------------------ running
    def call_and_mask(self, x, training=False, mask=None):
        if not self.layers:
            raise ValueError(f"{self._owner()}: the model has no layers")
        x, shape = checked_input(x, self)
        self._maybe_build(shape)
        plan = self._inference_plan(training)
        skipped = set()   # the layers a producer's op ran (fusion.Fold.absorbed)
        # graph node ids (what the plan holds): the input is node 0, layer i is node i + 1
        for node_id, layer in enumerate(self.layers, start=1):
            if node_id in skipped:
                continue
            extra = fusion.epilogue_at(plan, node_id, x, skipped)
            if extra is None:
                x, mask = layer.call_and_mask(x, training=training, mask=mask)
            else:
                x, mask = layer.call_and_mask(x, training=training, mask=mask, epilogue=extra)
        return x, mask

    def call(self, x, training=False, mask=None):
        y, _ = self.call_and_mask(x, training=training, mask=mask)
        return y

    def compute_mask(self, x, mask=None):
        # A Pile's output mask is known only by running it; call_and_mask returns it.
        return None

    # ------------------------------------------------------------ graph & summary
    def _graph_parts(self):
        if self._input_batch_shape is None:
            raise ValueError(f"{self._owner()}: this model has not yet been built. Give the first "
                             "layer an input_shape (or add an Input) or call the model on data "
                             "first.")
        first = self._stack[0] if self._stack else None
        input_layer = first if isinstance(first, InputLayer) else None
        calls = [(i, layer, [(i - 1, 0)], False, False) for i, layer in enumerate(self.layers)]
        return [(-1, input_layer, self._input_batch_shape)], calls, [(len(calls) - 1, 0)]

    def summary_rows(self) -> list:
        """``[name (type), output shape, parameter count]`` per layer."""
        if self._input_batch_shape is None:
            raise ValueError(f"{self._owner()}: this model has not yet been built. Give the first "
                             "layer an input_shape (or add an Input) or call the model on data "
                             "first.")
        rows, shape = [], self._input_batch_shape
        for layer in self.layers:
            shape = tuple(layer.compute_output_shape(shape))
            rows.append([f"{layer.name} ({type(layer).__name__})", shape_text(shape),
                         f"{layer.count_params():,}"])
        return rows

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        config = {"name": self.name, "layers": [serialize_layer(layer) for layer in self._stack]}
        first = self._stack[0] if self._stack else None
        if (self._input_batch_shape is not None and first is not None
                and not isinstance(first, InputLayer) and first.batch_input_shape is None):
            config["build_input_shape"] = tuple(self._input_batch_shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if isinstance(config, list):  # Keras 2.0-2.1 stored only the list of layers
            config = {"layers": config}
        model = cls(name=config.get("name"))
        for layer_config in config.get("layers", []):
            model.add(deserialize_layer(layer_config, custom_objects))
        if config.get("build_input_shape") is not None and not model.built:
            model.build(tuple(config["build_input_shape"]))
        return model
