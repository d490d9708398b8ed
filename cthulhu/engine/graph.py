"""``model.graph()``: a model as the graph of its layer calls, for whole-model consumers.

A :class:`ModelGraph` lists the model's nodes in topological order (every node
after the nodes it reads). A node is one call of a layer: the layer, the ids
of the nodes whose outputs it reads (and which output of each), whether the
layer received a list, and its output shape, computed from the model's input
shapes with each layer's ``compute_output_shape``. The model's inputs are
nodes without inputs; its outputs are node ids. Node ids are the positions in
``graph.nodes``.

A nested model (a ``Pile`` or ``Lump`` used as a layer) is one node whose
``layer`` is that model (its own ``graph()`` addresses its inside), or, with
``expand=True``, its own nodes, wired to what the outer model feeds it; their
``scope`` names the models they came from. Whole-model consumers (out-of-core
execution, plots) read models through this API only: it is the same for a
``Pile`` and a ``Lump``.

Examples
--------
>>> from cthulhu.engine.base_layer import Layer
>>> from cthulhu.engine.input_layer import Input
>>> from cthulhu.engine.lump import Lump
>>> class Add(Layer):
...     def compute_output_shape(self, input_shape):
...         return input_shape[0]
...     def call(self, x):
...         return x[0] + x[1]
>>> x = Input(shape=(4,), name="x")
>>> y = Layer(name="twin")(x)
>>> model = Lump(x, Add(name="sum")([x, y]))
>>> g = model.graph()
>>> [(n.id, n.layer.name, n.inputs, n.output_shape) for n in g.nodes]
[(0, 'x', (), (None, 4)), (1, 'twin', (0,), (None, 4)), (2, 'sum', (0, 1), (None, 4))]
>>> g.inputs, g.outputs, g.consumers(0)
((0,), (2,), (1, 2))
"""

from __future__ import annotations

from dataclasses import dataclass

from cthulhu.engine.utils import _is_multi_shape


@dataclass(frozen=True)
class GraphNode:
    """One call of a layer in a model (or one input of the model).

    Attributes
    ----------
    id : int
        The node's position in ``ModelGraph.nodes``.
    layer : Layer or None
        The layer called; for an input node the model's ``InputLayer``, or
        ``None`` for a ``Pile`` whose first layer declares the input shape.
    inputs : tuple of int
        Ids of the nodes whose outputs the layer reads, in call order (empty
        for an input node).
    input_indices : tuple of int
        Which output of each of those nodes (0 unless a node has several).
    input_is_list : bool
        Whether the layer is called on a list (``layer([a, b])``).
    output_shape : tuple or list of tuple
        Batch axis included; a list of shapes for a layer with several outputs.
    training : bool
        The call was recorded with ``training=True``.
    scope : tuple of str
        Names of the nested models the node comes from (``expand=True``), outermost first.
    """

    id: int
    layer: object
    inputs: tuple
    input_indices: tuple
    input_is_list: bool
    output_shape: object
    training: bool = False
    scope: tuple = ()

    @property
    def is_input(self) -> bool:
        """A model input (it reads nothing)."""
        return not self.inputs

    @property
    def multiple_outputs(self) -> bool:
        return isinstance(self.output_shape, list)


@dataclass(frozen=True)
class ModelGraph:
    """The nodes of a model in topological order, its input and output node ids.

    ``outputs[i]`` is read at output ``output_indices[i]`` of its node (0 unless
    that node has several outputs).
    """

    nodes: tuple
    inputs: tuple
    outputs: tuple
    output_indices: tuple

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self):
        return len(self.nodes)

    def __getitem__(self, node_id) -> GraphNode:
        return self.nodes[node_id]

    def consumers(self, node_id) -> tuple:
        """Ids of the nodes that read node ``node_id``, in order."""
        return tuple(n.id for n in self.nodes if node_id in n.inputs)

    def shape_graph(self):
        """This graph for the shape algebra: :func:`cthulhu.shapes.graph` of its nodes.

        Every node must have one output (``ValueError`` otherwise).
        """
        from cthulhu import shapes

        for node in self.nodes:
            if node.multiple_outputs:
                raise ValueError(f"layer {node.layer.name!r} has several outputs; the shape "
                                 "algebra's graphs take one output per node")
        nodes = [(n.id, n.layer, list(n.inputs) if n.input_is_list else n.inputs[0])
                 for n in self.nodes if not n.is_input]
        inputs = {n.id: n.output_shape for n in self.nodes if n.is_input}
        return shapes.graph(nodes, inputs, list(self.outputs))


def _is_model(layer) -> bool:
    # A model describes its own calls (Model._graph_parts); a plain layer is one call.
    return callable(getattr(layer, "_graph_parts", None))


class _Builder:
    def __init__(self, expand):
        self.expand = expand
        self.nodes: list[GraphNode] = []

    def add(self, layer, refs, input_is_list, training, scope, shape=None):
        """Append a node reading ``refs`` [(node id, output index)]; returns its id."""
        node_id = len(self.nodes)
        if refs:
            shapes = [self.shape_of(ref) for ref in refs]
            shape = layer.compute_output_shape(shapes if input_is_list else shapes[0])
            shape = [tuple(s) for s in shape] if _is_multi_shape(shape) else tuple(shape)
        self.nodes.append(GraphNode(node_id, layer, tuple(r[0] for r in refs),
                                    tuple(r[1] for r in refs), bool(input_is_list), shape,
                                    bool(training), tuple(scope)))
        return node_id

    def shape_of(self, ref):
        node_id, index = ref
        shape = self.nodes[node_id].output_shape
        return shape[index] if isinstance(shape, list) else shape

    def model(self, model, feeds, scope, training=False):
        """Add ``model``'s calls; ``feeds`` are the refs its inputs read (None: new input nodes).

        ``training``: the model itself was called with ``training=True`` (its calls inherit it).

        Returns the refs of the model's outputs.
        """
        inputs, calls, outputs = model._graph_parts()
        where: dict = {}
        for i, (key, layer, shape) in enumerate(inputs):
            if feeds is None:
                where[key] = [(self.add(layer, (), False, False, scope, tuple(shape)), 0)]
            else:
                where[key] = [feeds[i]]
        for key, layer, sources, input_is_list, call_training in calls:
            refs = [self.ref(where, source) for source in sources]
            call_training = bool(training or call_training)
            if self.expand and _is_model(layer):
                where[key] = self.model(layer, refs, (*scope, layer.name), call_training)
            else:
                where[key] = self.add(layer, refs, input_is_list, call_training, scope)
        return [self.ref(where, source) for source in outputs]

    @staticmethod
    def ref(where, source):
        key, index = source
        found = where[key]
        return (found, index) if isinstance(found, int) else found[index]


def model_graph(model, expand=False) -> ModelGraph:
    """The :class:`ModelGraph` of a ``Pile`` or ``Lump`` (what ``model.graph()`` returns)."""
    builder = _Builder(expand)
    outputs = builder.model(model, None, ())
    inputs = tuple(n.id for n in builder.nodes if n.is_input)
    return ModelGraph(tuple(builder.nodes), inputs, tuple(r[0] for r in outputs),
                      tuple(r[1] for r in outputs))
