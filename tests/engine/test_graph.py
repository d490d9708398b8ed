"""model.graph(): the public view of a model for whole-model consumers.

A plain interpreter written here runs a graph node by node (each layer called on
the arrays of the nodes it reads); it must give what the model gives, for chains,
branches, shared layers, several inputs and outputs and nested models, expanded or
not. Each node's output shape must be the shape of the array it makes.
"""

import numpy as np
import pytest

from cthulhu.engine.graph import GraphNode, ModelGraph
from cthulhu.engine.input_layer import Input, InputLayer
from cthulhu.models import Lump, Pile
from tests.support.engine_toy_layers import ToyAdd, ToyDense, ToyScale, ToySplit


def _run(graph, inputs):
    """Run ``graph`` on ``inputs`` (one array per input node), node by node."""
    values = {}
    for node_id, x in zip(graph.inputs, inputs, strict=True):
        values[node_id] = x
    for node in graph.nodes:
        if node.is_input:
            continue
        args = [values[i] if not graph[i].multiple_outputs else values[i][k]
                for i, k in zip(node.inputs, node.input_indices, strict=True)]
        values[node.id] = node.layer(args if node.input_is_list else args[0],
                                     training=node.training)
    outs = [values[i] if not graph[i].multiple_outputs else values[i][k]
            for i, k in zip(graph.outputs, graph.output_indices, strict=True)]
    return values, outs


def _check(model, inputs, expand):
    graph = model.graph(expand=expand)
    assert isinstance(graph, ModelGraph) and all(isinstance(n, GraphNode) for n in graph)
    assert [n.id for n in graph.nodes] == list(range(len(graph)))
    for node in graph.nodes:  # topological: a node reads only nodes before it
        assert all(i < node.id for i in node.inputs)
    values, outs = _run(graph, inputs)
    for node in graph.nodes:
        made = values[node.id]
        shapes = node.output_shape if node.multiple_outputs else [node.output_shape]
        arrays = made if node.multiple_outputs else [made]
        for shape, array in zip(shapes, arrays, strict=True):
            assert len(shape) == array.ndim and all(
                d is None or d == n for d, n in zip(shape, array.shape, strict=True)), node
    expected = model.predict(inputs if len(inputs) > 1 else inputs[0])
    expected = expected if isinstance(expected, list) else [expected]
    assert len(outs) == len(expected)
    for got, want in zip(outs, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    return graph


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _branchy():
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    shared = ToyDense(4, name="shared")
    left, right = shared(a), shared(b)            # one layer, two nodes
    halves = ToySplit(name="split")(ToyAdd(name="join")([left, right]))
    return Lump([a, b], [halves[1], ToyScale(3.0, name="scale")(halves[0])], name="branchy")


def _nested():
    inner = Pile([ToyDense(5, input_shape=(4,), name="in1"), ToyScale(name="in2")], name="inner")
    x = Input(shape=(4,), name="x")
    y = inner(x)
    z = ToyAdd(name="sum")([y, ToyDense(5, name="side")(x)])
    lump = Lump(x, z, name="middle")
    return Pile([lump, ToyDense(2, name="head")], name="outer")


@pytest.mark.parametrize("expand", [False, True])
def test_graph_of_a_pile_is_its_chain(expand):
    model = Pile([ToyDense(3, input_shape=(2,), name="d1"), ToyScale(name="s")], name="p")
    graph = _check(model, [_x(5, 2)], expand)
    assert [(n.layer and n.layer.name, n.inputs, n.output_shape) for n in graph] == [
        (None, (), (None, 2)), ("d1", (0,), (None, 3)), ("s", (1,), (None, 3))]
    assert graph.inputs == (0,) and graph.outputs == (2,) and graph.output_indices == (0,)


def test_graph_of_a_pile_with_an_input_layer_starts_with_it():
    model = Pile([Input(shape=(2,), name="in"), ToyDense(3, name="d")])
    graph = _check(model, [_x(3, 2)], False)
    assert isinstance(graph[0].layer, InputLayer) and graph[0].layer.name == "in"


@pytest.mark.parametrize("expand", [False, True])
def test_graph_of_a_lump_with_shared_layers_and_several_outputs(expand):
    model = _branchy()
    graph = _check(model, [_x(3, 4), _x(3, 4, seed=1)], expand)
    named = [(n.layer.name, n.inputs, n.input_indices) for n in graph]
    assert named == [("a", (), ()), ("b", (), ()), ("shared", (0,), (0,)),
                     ("shared", (1,), (0,)), ("join", (2, 3), (0, 0)), ("split", (4,), (0,)),
                     ("scale", (5,), (0,))]
    assert graph[4].input_is_list and graph[5].multiple_outputs
    assert graph[5].output_shape == [(None, 2), (None, 2)]
    assert graph.outputs == (5, 6) and graph.output_indices == (1, 0)
    assert graph.consumers(2) == (4,) and graph.consumers(5) == (6,)


def test_nested_models_are_one_node_unless_expanded():
    model = _nested()
    x = _x(3, 4)
    plain = _check(model, [x], False)
    assert [n.layer and n.layer.name for n in plain] == [None, "middle", "head"]
    assert plain[1].layer.graph()[1].layer.name == "inner"  # addressable inside
    flat = _check(model, [x], True)
    assert [(n.layer and n.layer.name, n.scope) for n in flat] == [
        (None, ()), ("in1", ("middle", "inner")), ("in2", ("middle", "inner")),
        ("side", ("middle",)), ("sum", ("middle",)), ("head", ())]
    assert flat[3].inputs == (0,) and flat[4].inputs == (2, 3)


def test_training_flags_of_calls_are_recorded_and_inherited():
    inner_in = Input(shape=(2,))
    inner = Lump(inner_in, ToyScale(name="t_scale")(inner_in), name="t_inner")
    x = Input(shape=(2,), name="t_x")
    model = Lump(x, inner(x, training=True), name="t_outer")
    assert [n.training for n in model.graph()] == [False, True]
    assert [n.training for n in model.graph(expand=True)] == [False, True]
    _check(model, [_x(2, 2)], True)


def test_graph_of_an_unbuilt_pile_names_the_model():
    with pytest.raises(ValueError, match="Pile 'unbuilt'.*not yet been built"):
        Pile([ToyDense(2)], name="unbuilt").graph()


def test_shape_graph_is_the_shape_algebra_of_the_same_nodes():
    from cthulhu.layers import Cthalpa2D, UbboSathla2D

    x = Input(shape=(16, 16, 1), name="img")
    y = Cthalpa2D(4, 3, strides=2, padding="same", name="down")(x)
    model = Lump(x, UbboSathla2D(2, name="up")(y))
    graph = model.graph()
    shaped = graph.shape_graph()
    assert shaped.shapes == {n.id: n.output_shape for n in graph}
    with pytest.raises(ValueError, match="'split' has several outputs"):
        _branchy().graph().shape_graph()
