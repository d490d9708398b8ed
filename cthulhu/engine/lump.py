"""``Lump``: a model defined by a graph of layer calls (Keras 2's functional ``Model``).

Examples
--------
>>> import numpy as np
>>> from cthulhu.engine.input_layer import Input
>>> from cthulhu.engine.lump import Lump
>>> from cthulhu.engine.base_layer import Layer
>>> class Add(Layer):
...     def compute_output_shape(self, input_shape):
...         return input_shape[0]
...     def call(self, x):
...         return x[0] + x[1]
>>> a, b = Input(shape=(2,)), Input(shape=(2,))
>>> model = Lump([a, b], Add()([a, b]))
>>> model.output_shape
(None, 2)
>>> model.predict([np.ones((1, 2)), np.ones((1, 2))]).tolist()
[[2.0, 2.0]]
"""

from __future__ import annotations

from cthulhu.engine import fusion
from cthulhu.engine.base_layer import checked_input
from cthulhu.engine.input_layer import InputLayer
from cthulhu.engine.network import Model, check_declared_shape
from cthulhu.engine.node import SymbolicTensor
from cthulhu.engine.summary import shape_text
from cthulhu.names import deserialize_layer, register_layer, serialize_layer


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _refuse_layers(model, inputs, outputs):
    """``Lump([layer, ...])`` is a Keras ``Sequential`` habit: say what a Lump takes."""
    from cthulhu.engine.base_layer import Layer

    given = [t for t in _as_list(inputs) + _as_list(outputs) if t is not None]
    if given and all(isinstance(t, Layer) and not isinstance(t, InputLayer) for t in given):
        raise TypeError(f"{model._owner()}: Lump(inputs, outputs) takes tensors: x = "
                        "Input(shape=...), y = SomeLayer(...)(x), then Lump(x, y). A list of "
                        "layers run one after the other is a Pile: Pile([layer, ...])")


def _is_input_tensor(t) -> bool:
    return isinstance(t, SymbolicTensor) and isinstance(t.layer, InputLayer)


def _describe(t) -> str:
    """A short account of a wrong argument: a layer's tensor by its layer, an array by its shape."""
    if isinstance(t, SymbolicTensor):
        return f"the output of layer {t.layer.name!r} ({type(t.layer).__name__})"
    shape = getattr(t, "shape", None)
    if shape is not None and not isinstance(t, type):
        return (f"an array ({type(t).__name__}) of shape {tuple(shape)} (a Lump is defined on Input() "
                "tensors; run it on arrays with model.predict(x) or model(x))")
    return f"{type(t).__name__}: {t!r}"


@register_layer
class Lump(Model):
    """A model from input tensors (made by ``Input``) to output tensors (made by layer calls).

    Parameters
    ----------
    inputs : SymbolicTensor or list of SymbolicTensor
        The model's inputs; each must come from ``Input()``.
    outputs : SymbolicTensor or list of SymbolicTensor
        The model's outputs.
    name : str, optional
        Defaults to ``lump_1``, ``lump_2``, ...

    Notes
    -----
    ``input=``/``output=`` are accepted as in the docs' ``Lump(input=[a, b], output=c)``.
    A layer called twice appears once in ``layers`` and shares its weights.
    """

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        if inputs is None:
            inputs = kwargs.pop("input", None)
        if outputs is None:
            outputs = kwargs.pop("output", None)
        super().__init__(name=name, **kwargs)
        _refuse_layers(self, inputs, outputs)
        if inputs is None or outputs is None:
            raise ValueError(f"{self._owner()}: both inputs and outputs are required")
        self._single_input = not isinstance(inputs, (list, tuple))
        self._single_output = not isinstance(outputs, (list, tuple))
        self._inputs = _as_list(inputs)
        self._outputs = _as_list(outputs)
        self._check_tensors()
        self._nodes = self._topological_nodes()
        self._calls = [node for node in self._nodes if node.inputs]
        self._node_ids = {id(node) for node in self._nodes}
        self._layers = self._collect_layers()
        self.built = True

    def _check_tensors(self):
        swapped = (any(_is_input_tensor(t) for t in self._outputs)
                   and any(isinstance(t, SymbolicTensor) and not _is_input_tensor(t)
                           for t in self._inputs))
        if swapped:
            raise ValueError(f"{self._owner()}: the arguments look swapped: Lump(inputs, outputs) "
                             "takes the Input() tensors first, then the tensors the model "
                             "returns")
        for t in self._inputs:
            if isinstance(t, InputLayer):
                raise TypeError(f"{self._owner()}: inputs must be tensors made by Input(), got the "
                                f"InputLayer {t.name!r} itself; pass its tensor (what Input() "
                                "returns, or layer.output)")
            if not _is_input_tensor(t):
                raise ValueError(f"{self._owner()}: inputs must be tensors made by Input(), got "
                                 f"{_describe(t)}")
        if len({id(t) for t in self._inputs}) != len(self._inputs):
            raise ValueError(f"{self._owner()}: the same input tensor is given twice")
        for t in self._outputs:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"{self._owner()}: outputs must be tensors made by calling layers "
                                f"on Input() tensors, got {_describe(t)}")

    def _topological_nodes(self):
        """Nodes from the inputs to the outputs, each after the nodes it depends on."""
        input_ids = {id(t) for t in self._inputs}
        order, done, on_path = [], set(), set()
        reached_inputs = set()
        stack = [(t.node, False) for t in reversed(self._outputs)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                on_path.discard(id(node))
                done.add(id(node))
                order.append(node)
                continue
            if not node.inputs:  # an InputLayer's node
                tensor = node.outputs[0]
                if id(tensor) not in input_ids:
                    raise ValueError(f"{self._owner()}: graph disconnected: cannot obtain a value "
                                     f"for tensor {tensor.name!r} (layer {node.layer.name!r}), which "
                                     "is not among the model's inputs")
                reached_inputs.add(id(tensor))
                done.add(id(node))
                order.append(node)
                continue
            if id(node) in on_path:
                raise ValueError(f"{self._owner()}: the layer graph has a cycle at {node.layer.name!r}")
            on_path.add(id(node))
            stack.append((node, True))
            for t in reversed(node.inputs):
                if id(t.node) not in done:
                    stack.append((t.node, False))
        missing = [t.name for t in self._inputs if id(t) not in reached_inputs]
        if missing:
            raise ValueError(f"{self._owner()}: inputs {missing} are not connected to the outputs")
        return order

    def _collect_layers(self):
        layers, seen = [t.layer for t in self._inputs], {id(t.layer) for t in self._inputs}
        for node in self._nodes:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                layers.append(node.layer)
        names = [layer.name for layer in layers]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"{self._owner()}: all layer names should be unique; repeated: {duplicated}")
        return layers

    @property
    def layers(self) -> list:
        """Every layer, the ``InputLayer``s first, each once (Keras 2 includes the input layers)."""
        return list(self._layers)

    @property
    def inputs(self) -> list:
        return list(self._inputs)

    @property
    def outputs(self) -> list:
        return list(self._outputs)

    def _model_nodes(self, layer):
        return [n for n in layer._inbound_nodes if id(n) in self._node_ids]

    # ------------------------------------------------------------ shapes
    @property
    def input_shape(self):
        shapes = [t.shape for t in self._inputs]
        return shapes[0] if self._single_input else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._outputs]
        return shapes[0] if self._single_output else shapes

    def compute_output_shape(self, input_shape):
        given = [input_shape] if self._single_input else _as_list(input_shape)
        if len(given) != len(self._inputs):
            raise ValueError(f"{self._owner()}: expects {len(self._inputs)} input shapes, "
                             f"got {len(given)}")
        shapes = {id(t): tuple(s) for t, s in zip(self._inputs, given, strict=True)}
        for node in self._nodes:
            if not node.inputs:
                continue
            ins = [shapes[id(t)] for t in node.inputs]
            out = node.layer.compute_output_shape(ins if node.input_is_list else ins[0])
            outs = out if len(node.outputs) > 1 else [out]
            for t, s in zip(node.outputs, outs, strict=True):
                shapes[id(t)] = tuple(s)
        result = [shapes[id(t)] for t in self._outputs]
        return result[0] if self._single_output else result

    def build(self, input_shape):
        self.built = True

    def check_input_shape(self, shape) -> None:
        shapes = [shape] if self._single_input else list(shape)
        if len(shapes) != len(self._inputs):
            raise ValueError(f"{self._owner()}: expects {len(self._inputs)} inputs, got {len(shapes)}")
        for t, got in zip(self._inputs, shapes, strict=True):
            check_declared_shape(self._owner(), f"input {t.layer.name!r}", t.shape, got)

    # ------------------------------------------------------------ running
    def call_and_mask(self, x, training=False, mask=None):
        x, shapes = checked_input(x, self)
        if self._single_input and isinstance(shapes, list):
            raise ValueError(f"{self._owner()}: expects one input array, got a list of "
                             f"{len(shapes)} arrays")
        xs = [x] if self._single_input else _as_list(x)
        masks = [mask] if self._single_input else (_as_list(mask) if mask is not None
                                                   else [None] * len(xs))
        self.check_input_shape(shapes)
        values = {id(t): (a, m) for t, a, m in zip(self._inputs, xs, masks, strict=True)}
        plan = self._inference_plan(training)
        calls = self._calls
        skipped = set()   # the calls a producer's op ran (fusion.Fold.absorbed)
        # graph node ids (what the plan holds): the inputs first, then the calls in order
        for node_id, node in enumerate(calls, start=len(self._inputs)):
            if node_id in skipped:
                continue
            args = [values[id(t)] for t in node.inputs]
            arrays = [a for a, _ in args] if node.input_is_list else args[0][0]
            in_mask = [m for _, m in args] if node.input_is_list else args[0][1]
            node_training = bool(training or node.call_kwargs.get("training", False))
            extra = fusion.epilogue_at(plan, node_id, arrays, skipped)
            if extra is None:
                y, y_mask = node.layer.call_and_mask(arrays, training=node_training,
                                                     mask=in_mask)
            else:
                y, y_mask = node.layer.call_and_mask(arrays, training=node_training,
                                                     mask=in_mask, epilogue=extra)
                # the chain's last call: the producer's output stands for its output
                node = calls[plan.fold_at(node_id).last - len(self._inputs)]
            many = len(node.outputs) > 1
            ys = list(y) if many else [y]
            if many and not isinstance(y_mask, (list, tuple)):
                y_mask = [y_mask] * len(ys)
            y_masks = list(y_mask) if many else [y_mask]
            for t, value, m in zip(node.outputs, ys, y_masks, strict=True):
                values[id(t)] = (value, m)
        outs = [values[id(t)] for t in self._outputs]
        if self._single_output:
            return outs[0]
        return [a for a, _ in outs], [m for _, m in outs]

    def call(self, x, training=False, mask=None):
        y, _ = self.call_and_mask(x, training=training, mask=mask)
        return y

    def compute_mask(self, x, mask=None):
        return None

    # ------------------------------------------------------------ graph & summary
    def _graph_parts(self):
        inputs = [(id(t.node), t.layer, t.shape) for t in self._inputs]
        calls = [(id(node), node.layer, [(id(t.node), t.tensor_index) for t in node.inputs],
                  node.input_is_list, bool(node.call_kwargs.get("training", False)))
                 for node in self._calls]
        return inputs, calls, [(id(t.node), t.tensor_index) for t in self._outputs]

    summary_columns = (("Layer (type)", "Output Shape", "Param #", "Connected to"), 98,
                       (0.33, 0.55, 0.67, 1.0))

    def summary_rows(self) -> list:
        """Per layer ``[name (type), output shape, parameter count, first input]``, then one
        ``["", "", "", input]`` row per further input (Keras 2's "Connected to")."""
        rows = []
        for layer in self.layers:
            nodes = self._model_nodes(layer)
            shapes = {shape_text([t.shape for t in n.outputs] if len(n.outputs) > 1
                                 else n.outputs[0].shape) for n in nodes}
            shape = shapes.pop() if len(shapes) == 1 else "multiple"
            sources = [f"{t.layer.name}[{self._ref(t)[1]}][{t.tensor_index}]"
                       for n in nodes for t in n.inputs]
            rows.append([f"{layer.name} ({type(layer).__name__})", shape,
                         f"{layer.count_params():,}", sources[0] if sources else ""])
            rows.extend(["", "", "", extra] for extra in sources[1:])
        return rows

    # ------------------------------------------------------------ config
    def _ref(self, tensor):
        index = self._model_nodes(tensor.layer).index(tensor.node)
        return [tensor.layer.name, index, tensor.tensor_index]

    def get_config(self) -> dict:
        layers = []
        for layer in self._layers:
            inbound = []
            for node in self._model_nodes(layer):
                if node.inputs:
                    inbound.append([self._ref(t) + [dict(node.call_kwargs)] for t in node.inputs])
            entry = serialize_layer(layer)
            layers.append({"name": layer.name, "class_name": entry["class_name"],
                           "config": entry["config"], "inbound_nodes": inbound})
        return {"name": self.name, "layers": layers,
                "input_layers": [self._ref(t) for t in self._inputs],
                "output_layers": [self._ref(t) for t in self._outputs]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        created, pending, tensors, counts = {}, {}, {}, {}
        for entry in config["layers"]:
            layer = deserialize_layer(entry, custom_objects)
            created[entry["name"]] = layer
            pending[entry["name"]] = list(entry.get("inbound_nodes") or [])
            counts[entry["name"]] = 0
            if isinstance(layer, InputLayer):
                tensors[(entry["name"], 0, 0)] = layer.output
                counts[entry["name"]] = 1
        while any(pending.values()):
            progress = False
            for name, queue in pending.items():
                while queue and all((r[0], r[1], r[2]) in tensors for r in queue[0]):
                    node_data = queue.pop(0)
                    ins = [tensors[(r[0], r[1], r[2])] for r in node_data]
                    kwargs = node_data[0][3] if len(node_data[0]) > 3 else {}
                    out = created[name](ins if len(ins) > 1 else ins[0],
                                        training=bool(kwargs.get("training", False)))
                    for i, t in enumerate(_as_list(out)):
                        tensors[(name, counts[name], i)] = t
                    counts[name] += 1
                    progress = True
            if not progress:
                stuck = sorted(name for name, queue in pending.items() if queue)
                raise ValueError(f"cannot rebuild the model graph: the inputs of layers {stuck} "
                                 "are never produced")

        def pick(refs):
            return [tensors[(r[0], r[1], r[2])] for r in refs]

        inputs, outputs = pick(config["input_layers"]), pick(config["output_layers"])
        return cls(inputs[0] if len(inputs) == 1 else inputs,
                   outputs[0] if len(outputs) == 1 else outputs, name=config.get("name"))
