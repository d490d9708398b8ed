"""The kinds of issue 10's first layers: ``along_axis``, ``per_position``, ``dot``, and the
``merge`` kind's Keras 2 broadcasting, in specs, chains, graphs and block plans.

What is checked is what the block-wise runners rely on: a kind says ``pointwise``
(or ``merge``) only where running it block by block is exact, which the graph
tests prove by computing blocks from their plans with NumPy and comparing them
with the whole-array result; everywhere else the chain stops and the graph
refuses to plan, naming the layer.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import ShapeError

spec = shapes.spec_from_config


def conv(filters, fmt="channels_last", rank=2, **more):
    return {"kind": "conv", "rank": rank, "filters": filters, "kernel_size": 3,
            "padding": "same", "data_format": fmt, **more}


# ------------------------------------------------------------------ specs and shapes

def test_specs_of_the_new_layers():
    assert spec("Add")["op"] == "add" and spec("Average")["op"] == "average"
    assert spec("BatchNormalization", {"axis": [1, 3]})["axis"] == (1, 3)
    assert spec("Softmax")["kind"] == "along_axis" and spec("Softmax")["axis"] == (-1,)
    assert spec("PReLU", {"shared_axes": 2})["shared_axes"] == (2,)
    assert spec("Dot", {"axes": [1, 2]})["axes"] == (1, 2)
    assert spec("LeakyReLU")["kind"] == spec("GaussianNoise", {"stddev": 1})["kind"] == \
        "pointwise"
    with pytest.raises(ShapeError, match="Dot: missing required argument 'axes'"):
        spec("Dot")
    with pytest.raises(ShapeError, match="batch axis"):
        spec("LayerNormalization", {"axis": [0, 1]})


def test_along_axis_checks_axes_against_the_rank():
    kind = shapes.get_kind("along_axis")
    s = kind.normalize({"axis": [-1, 1]})
    h = shapes.Sym("h")
    assert kind.output_shape(s, (None, h, 4)) == (None, h, 4)
    with pytest.raises(ShapeError, match=r"axis -1 is out of range|names axis 1 twice"):
        kind.output_shape(s, (None, 4))
    with pytest.raises(ShapeError, match="cannot be the batch axis"):
        kind.output_shape(kind.normalize({"axis": -3}), (None, 4, 5))
    with pytest.raises(ShapeError, match="rank >= 2"):
        kind.output_shape(s, (4,))


def test_merge_broadcasts_as_keras2():
    kind = shapes.get_kind("merge")
    add = kind.normalize({"op": "add"})
    assert kind.output_shape(add, [(None, 3, 4), (None, 1, 4), (2, 4)]) == (2, 3, 4)
    assert kind.output_shape(add, [(None, 3), (None, 3, 1)]) == (None, 3, 3)
    assert kind.output_shape(add, [(None, 5)]) == (None, 5)
    assert kind.output_shape(add, [(None, None, 1), (None, 1, 7)]) == (None, None, 7)
    n = shapes.Sym("n")
    assert kind.output_shape(add, [(None, n, 2), (None, 1, 2)]) == (None, n, 2)
    with pytest.raises(ShapeError, match=r"axis 2: the inputs' sizes differ \(4 and 3\) and "
                                         r"neither is 1"):
        kind.output_shape(add, [(None, 2, 4), (None, 3)])
    with pytest.raises(ShapeError, match=r"batch axis: the inputs' sizes differ \(2 and 1\)"):
        kind.output_shape(add, [(2, 3), (1, 3)])


def test_dot_shapes_follow_batch_dot():
    kind = shapes.get_kind("dot")

    def out(axes, *input_shapes):
        return kind.output_shape(kind.normalize({"axes": axes}), list(input_shapes))

    assert out(1, (None, 3), (None, 3)) == (None, 1)
    assert out(-1, (2, 3, 4), (2, 5, 4)) == (2, 3, 5)
    assert out((1, 2), (2, 3, 4), (2, 5, 3)) == (2, 4, 5)
    assert out((2, 1), (2, 3, 4), (2, 4)) == (2, 3)
    assert out((3, 1), (2, 2, 3, 4), (2, 4, 3)) == (2, 2, 3, 3)
    with pytest.raises(ShapeError, match="batch axis"):
        out(0, (2, 3), (2, 3))
    with pytest.raises(ShapeError, match="size 3.*size 4"):
        out(1, (2, 3), (2, 4))
    assert kind.blockwise(kind.normalize({"axes": 1})) == "whole"


# ------------------------------------------------------------------ chains: what may be split

@pytest.mark.parametrize("layers, spatial", [
    ([conv(4), spec("BatchNormalization"), spec("ReLU", {"max_value": 6.0})], 3),
    ([conv(4, "channels_first"), spec("BatchNormalization", {"axis": 1})], 2),
    ([conv(4, "channels_first"), spec("BatchNormalization")], 1),       # -1: a spatial axis
    ([conv(4), spec("BatchNormalization", {"axis": 1})], 1),
    ([conv(4), spec("LayerNormalization")], 2),
    ([conv(4), spec("LayerNormalization", {"axis": [1, 2, 3]})], 1),
    ([conv(4), spec("Softmax")], 2),
    ([conv(4), spec("Softmax", {"axis": 1})], 1),
    ([conv(4), spec("PReLU", {"shared_axes": [1, 2]})], 2),
    ([conv(4), spec("PReLU")], 1),
    ([conv(4, "channels_first"), spec("PReLU", {"shared_axes": [2, 3]})], 2),
    ([conv(4), spec("GaussianNoise", {"stddev": 1.0}), spec("AlphaDropout", {"rate": 0.1})], 3),
])
def test_chains_split_only_what_is_per_channel(layers, spatial):
    shape = (1, 4, 9, 9) if layers[0]["data_format"] == "channels_first" else (1, 9, 9, 4)
    c = shapes.chain(layers, shape)
    assert c.spatial_layers == spatial
    if spatial < len(layers):
        assert "needs whole spatial axes" in c.stop_reason


# ------------------------------------------------------------------ graphs: merges that broadcast

def _numpy_node(kind_spec, xs):
    kind = kind_spec["kind"]
    if kind == "merge":
        out = xs[0] * xs[1] if kind_spec["op"] == "multiply" else xs[0] + xs[1]
        return out
    if kind == "along_axis":   # a softmax along the channels
        e = np.exp(xs[0] - xs[0].max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise AssertionError(kind)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(4, 12), a=st.integers(0, 3), b=st.integers(1, 4),
       channels=st.integers(1, 3), seed=st.integers(0, 1000))
def test_channel_broadcasting_merges_run_block_by_block(n, a, b, channels, seed):
    """x (1, n, C) * gate (1, n, 1), then a softmax over the channels: blocks are exact."""
    b = min(n, a + b)
    nodes = [("gated", {"kind": "merge", "op": "multiply"}, ["x", "gate"]),
             ("soft", spec("Softmax"), "gated")]
    g = shapes.graph(nodes, {"x": (1, n, channels), "gate": (1, n, 1)})
    plan = g.block_plan((a,), (b,))
    assert plan.input_ranges == {"x": ((a, b),), "gate": ((a, b),)}
    rng = np.random.default_rng(seed)
    x, gate = rng.normal(size=(1, n, channels)), rng.normal(size=(1, n, 1))
    whole = _numpy_node(g.specs["soft"], [_numpy_node(g.specs["gated"], [x, gate])])
    block = _numpy_node(g.specs["soft"], [_numpy_node(g.specs["gated"],
                                                      [x[:, a:b], gate[:, a:b]])])
    np.testing.assert_allclose(block, whole[:, a:b], rtol=1e-12)


def test_graphs_refuse_to_split_what_needs_whole_axes():
    inputs = {"x": (1, 8, 8, 2), "scale": (1, 1, 1, 2), "vector": (1, 2)}
    cases = {
        "spatial broadcast": ("m", {"kind": "merge", "op": "multiply"}, ["x", "scale"]),
        "softmax over rows": ("m", spec("Softmax", {"axis": 1}), "x"),
        "dot": ("m", spec("Dot", {"axes": -1}), ["x", "x"]),
        "prelu per pixel": ("m", spec("PReLU"), "x"),
    }
    for what, node in cases.items():
        g = shapes.graph([node], inputs)
        with pytest.raises(ShapeError, match="node 'm'.*cannot run block by block"):
            g.block_plan((0, 0), (4, 4), output="m")
        assert what
    # an input of lower rank (Keras 2 gives it axes of size 1): refused for its rank
    g = shapes.graph([("m", {"kind": "merge", "op": "add"}, ["x", "vector"])], inputs)
    assert g.shapes["m"] == (1, 8, 8, 2)
    with pytest.raises(ShapeError, match="'vector' has shape"):
        g.block_plan((0, 0), (4, 4))
    merge = shapes.get_kind("merge")
    assert merge.blockwise({"op": "add"}, "channels_last", 4,
                           input_shapes=[(1, 8, 8, 2), (1, 2)]) == "whole"
    assert merge.blockwise({"op": "add"}, "channels_last", 4,
                           input_shapes=[(1, 8, 8, 2), (1, 8, 8, 1)]) == "merge"
    # the same merge without a spatial broadcast plans fine
    g = shapes.graph([("m", {"kind": "merge", "op": "add"}, ["x", "x"])], inputs)
    assert g.block_plan((0, 0), (4, 4)).input_ranges == {"x": ((0, 4), (0, 4))}
