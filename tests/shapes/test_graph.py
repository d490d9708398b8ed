"""Graphs of layers (``shapes.graph``): shapes, and block plans checked for real.

Every node kind has a whole-array NumPy reference written here from its
definition (TensorFlow/Keras padding rules, the transposed convolution as a
scatter-add, nearest and bilinear up-sampling, element-wise merges,
concatenation along the channels), independent of ``cthulhu.shapes``. The
block runners use only what :meth:`Graph.plan` says: the input slices, and
per node the slices it reads of its inputs' blocks, its explicit padding
(``pads``) or its core form (``zeros`` and ``keep``). Arrays are channels_last
without the batch axis: ``(*spatial, channels)``.
"""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import ShapeError

# ------------------------------------------------------------- references


def _same_pads(n, K, s):
    """TensorFlow 'same': total = max((ceil(n/s) - 1)*s + K - n, 0), the odd extra at the end."""
    total = max((-(-n // s) - 1) * s + K - n, 0)
    return total // 2, total - total // 2


def _spatial(x):
    return x.shape[:-1]


def conv_valid(x, w, strides, dilation):
    """Cross-correlation without padding; ``w`` is ``(*k, in, out)``."""
    ksize = w.shape[:-2]
    K = [d * (k - 1) + 1 for k, d in zip(ksize, dilation, strict=True)]
    out_shape = [(n - k) // s + 1 for n, k, s in zip(_spatial(x), K, strides, strict=True)]
    out = np.zeros((*out_shape, w.shape[-1]))
    for tap in itertools.product(*(range(k) for k in ksize)):
        index = tuple(slice(t * d, t * d + (m - 1) * s + 1, s)
                      for t, d, m, s in zip(tap, dilation, out_shape, strides, strict=True))
        out += x[index] @ w[tap]
    return out


def _pad(x, pads):
    return np.pad(x, [*pads, (0, 0)])


def conv_whole(spec, x, w):
    pads = []
    for n, k, s, d in zip(_spatial(x), w.shape[:-2], spec["strides"], spec["dilation_rate"],
                          strict=True):
        K = d * (k - 1) + 1
        pads.append({"valid": (0, 0), "same": _same_pads(n, K, s),
                     "causal": (K - 1, 0)}[spec["padding"]])
    return conv_valid(_pad(x, pads), w, spec["strides"], spec["dilation_rate"])


def _transpose_length(n, K, s, padding, op):
    if op is None:
        return n * s + max(K - s, 0) if padding == "valid" else n * s
    return (n - 1) * s + K - 2 * (0 if padding == "valid" else K // 2) + op


def conv_transpose_whole(spec, x, w, padding=None, output_padding=None):
    """The gradient of the forward convolution, a scatter-add: sample i, tap t -> i*s + t*d - P."""
    padding = padding or spec["padding"]
    strides, dilation = spec["strides"], spec["dilation_rate"]
    if output_padding is None and padding == spec["padding"]:
        output_padding = spec.get("output_padding")
    ops = output_padding or (None,) * len(strides)
    lengths, before = [], []
    for n, k, s, d, op in zip(_spatial(x), w.shape[:-2], strides, dilation, ops, strict=True):
        K = d * (k - 1) + 1
        m = _transpose_length(n, K, s, padding, op)
        lengths.append(m)
        before.append(0 if padding == "valid" else _same_pads(m, K, s)[0])
    out = np.zeros((*lengths, w.shape[-1]))
    for tap in itertools.product(*(range(k) for k in w.shape[:-2])):
        src, dst = [], []
        for t, d, s, P, m, n in zip(tap, dilation, strides, before, lengths, _spatial(x),
                                    strict=True):
            shift = t * d - P
            i0 = max(0, -(shift // s))
            i1 = min(n, (m - 1 - shift) // s + 1)
            if i1 <= i0:
                break
            src.append(slice(i0, i1))
            dst.append(slice(i0 * s + shift, (i1 - 1) * s + shift + 1, s))
        else:
            out[tuple(dst)] += x[tuple(src)] @ w[tap]
    return out


def upsample(spec, x):
    if spec.get("interpolation") == "bilinear":
        for axis, u in enumerate(spec["size"]):
            n = x.shape[axis]
            src = (np.arange(n * u) + 0.5) / u - 0.5
            low = np.floor(src)
            frac = (src - low).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
            low = low.astype(int)
            a = np.take(x, np.clip(low, 0, n - 1), axis=axis)
            b = np.take(x, np.clip(low + 1, 0, n - 1), axis=axis)
            x = a * (1 - frac) + b * frac
        return x
    for axis, u in enumerate(spec["size"]):
        x = np.repeat(x, u, axis=axis)
    return x


def pointwise(x):
    return 0.5 * x + 1.0          # not zero at zero: a misplaced padding would show


def merge(spec, xs):
    if spec["op"] == "add":
        return sum(xs)
    out = xs[0]
    for x in xs[1:]:
        out = out * x
    return out


def whole(spec, xs, w):
    kind = spec["kind"]
    if kind == "merge":
        return merge(spec, xs)
    if kind == "concatenate":
        return np.concatenate(xs, axis=-1)
    (x,) = xs
    if kind == "conv":
        return conv_whole(spec, x, w)
    if kind == "conv_transpose":
        return conv_transpose_whole(spec, x, w)
    if kind == "upsampling":
        return upsample(spec, x)
    if kind == "cropping":
        return x[tuple(slice(lo, n - hi) for (lo, hi), n in zip(spec["cropping"], _spatial(x),
                                                                 strict=True))]
    if kind == "zero_padding":
        return _pad(x, spec["padding"])
    return pointwise(x)


# ------------------------------------------------------------ block runners


def _pad_or_crop(x, pads):
    x = _pad(x, [(max(lo, 0), max(hi, 0)) for lo, hi in pads])
    return x[tuple(slice(max(-lo, 0), n - max(-hi, 0))
                   for (lo, hi), n in zip(pads, _spatial(x), strict=True))]


def block_node(nb, xs, w):
    """One node on a block, told only by its NodeBlock what to pad (the ``pads`` form)."""
    spec, pads = nb.spec, nb.pads
    kind = spec["kind"]
    if kind in ("merge", "concatenate"):
        assert all(p == (0, 0) for p in pads)
        return whole(spec, xs, w)
    (x,) = xs
    if kind == "conv":
        return conv_valid(_pad(x, pads), w, spec["strides"], spec["dilation_rate"])
    if kind == "conv_transpose":
        s = spec["strides"]
        z = np.zeros((*[(n - 1) * st + 1 if n else 0 for n, st in zip(_spatial(x), s,
                                                                       strict=True)],
                      x.shape[-1]))
        z[tuple(slice(None, None, st) for st in s)] = x
        flipped = w[tuple(slice(None, None, -1) for _ in s)]
        return conv_valid(_pad_or_crop(z, pads), flipped, (1,) * len(s), spec["dilation_rate"])
    if kind == "upsampling":
        crops = [(-(u - 1 - lo), -(u - 1 - hi)) for u, (lo, hi) in zip(spec["size"], pads,
                                                                      strict=True)]
        return _pad_or_crop(upsample(spec, x), crops)
    if kind in ("cropping", "zero_padding"):
        return _pad(x, pads)
    assert all(p == (0, 0) for p in pads)
    return pointwise(x)


def core_node(nb, xs, w):
    """One node in core form: zeros around the slices, the 'valid' layer, keep."""
    spec = nb.spec
    kind = spec["kind"]
    assert all(lo >= 0 and hi >= 0 for lo, hi in nb.zeros)
    xs = [_pad(x, nb.zeros) for x in xs]
    if kind in ("merge", "concatenate"):
        y = whole(spec, xs, w)
    elif kind == "conv":
        y = conv_valid(xs[0], w, spec["strides"], spec["dilation_rate"])
    elif kind == "conv_transpose":
        y = conv_transpose_whole(spec, xs[0], w, "valid", ())
    elif kind == "upsampling":
        y = upsample(spec, xs[0])
    elif kind in ("cropping", "zero_padding"):
        y = xs[0]
    else:
        y = pointwise(xs[0])
    return y[tuple(slice(a, b) for a, b in nb.keep)]


def _slice(x, ranges):
    return x[tuple(slice(a, b) for a, b in ranges)]


def run_plan(g, plan, arrays, weights, core=False):
    """The graph's outputs over the plan's blocks, from the plan alone."""
    results = {key: _slice(arrays[key], rng) for key, rng in plan.input_ranges.items()}
    for node_id, nb in plan.nodes.items():
        if nb.from_zeros:
            channels = [g.shapes[source][-1] for source in nb.inputs]
            extra = nb.zeros if core else ((0, 0),) * len(nb.in_range)
            xs = [np.zeros((*(b - a + lo + hi for (a, b), (lo, hi) in zip(nb.in_range, extra,
                                                                          strict=True)), c))
                  for c in channels]
            if core:
                nb_zeros, nb.zeros = nb.zeros, ((0, 0),) * len(nb.zeros)
                y = core_node(nb, xs, weights.get(node_id))
                nb.zeros = nb_zeros
            else:
                y = block_node(nb, xs, weights.get(node_id))
        else:
            xs = [_slice(results[source], read) for source, read in zip(nb.inputs, nb.reads,
                                                                        strict=True)]
            for x in xs:
                assert _spatial(x) == tuple(b - a for a, b in nb.in_range)
            y = (core_node if core else block_node)(nb, xs, weights.get(node_id))
        assert _spatial(y) == tuple(b - a for a, b in nb.out_range), (nb, y.shape)
        results[node_id] = y
    return {out: _slice(results[out], plan.output_slice(out)) for out in plan.output_ranges}


def whole_graph(g, arrays, weights):
    results = dict(arrays)
    for node_id in g.order:
        xs = [results[source] for source in g.node_inputs[node_id]]
        results[node_id] = whole(g.specs[node_id], xs, weights.get(node_id))
        assert results[node_id].shape == tuple(g.shapes[node_id][1:]), node_id
    return results


def _weights(g, rng):
    out = {}
    for node_id in g.order:
        spec = g.specs[node_id]
        if spec["kind"] in ("conv", "conv_transpose"):
            cin = g.shapes[g.node_inputs[node_id][0]][-1]
            out[node_id] = rng.uniform(0.5, 1.5, (*spec["kernel_size"], cin, spec["filters"]))
    return out


def check_blocks(g, blocks_per_axis, data=None, outputs=None):
    """Every block of a split of each output (and one drawn block) equals the whole result."""
    rng = np.random.default_rng(0)
    arrays = {key: rng.uniform(-1, 1, shape[1:]) for key, shape in g.inputs.items()}
    weights = _weights(g, rng)
    want = whole_graph(g, arrays, weights)
    for out in outputs or g.outputs:
        sizes = g.shapes[out][1:-1]
        splits = [[(a, min(a + b, n)) for a in range(0, n, b)]
                  for n, b in zip(sizes, blocks_per_axis, strict=True)]
        blocks = list(itertools.product(*splits))
        if data is not None:
            start = [data.draw(st.integers(0, n - 1)) for n in sizes]
            blocks.append(tuple((a, data.draw(st.integers(a + 1, n)))
                                for a, n in zip(start, sizes, strict=True)))
        for block in blocks:
            plan = g.plan({out: block})
            for core in (False, True):
                got = run_plan(g, plan, arrays, weights, core)[out]
                np.testing.assert_allclose(got, _slice(want[out], block), rtol=1e-12,
                                           atol=1e-12, err_msg=f"{out} {block} core={core}")
    # several outputs at once: one plan, each output's block as asked
    if len(g.outputs) > 1:
        ranges = {out: tuple((0, min(n, b)) for n, b in zip(g.shapes[out][1:-1],
                                                            blocks_per_axis, strict=True))
                  for out in g.outputs}
        got = run_plan(g, g.plan(ranges), arrays, weights)
        for out, block in ranges.items():
            np.testing.assert_allclose(got[out], _slice(want[out], block), rtol=1e-12,
                                       atol=1e-12)


# ------------------------------------------------------------------ U-Nets


def conv(filters, kernel=3, strides=1, padding="same", dilation=1, rank=2):
    return {"kind": "conv", "rank": rank, "filters": filters, "kernel_size": kernel,
            "strides": strides, "padding": padding, "dilation_rate": dilation}


def unet(padding="same", up="upsampling", rank=2, interpolation="nearest"):
    """Two levels down and up, skip connections joined by concatenation and by addition."""
    crop = 0 if padding == "same" else 2       # a valid 3x3 conv loses 1 sample per side
    up_layer = ({"kind": "upsampling", "rank": rank, "size": 2, "interpolation": interpolation}
                if up == "upsampling" else
                {"kind": "conv_transpose", "rank": rank, "filters": 3, "kernel_size": 2,
                 "strides": 2, "padding": "same"})
    nodes = [
        ("c1", conv(2, padding=padding, rank=rank), "x"),
        ("d1", conv(3, 2, 2, "valid", rank=rank), "c1"),
        ("c2", conv(3, padding=padding, rank=rank), "d1"),
        ("d2", conv(3, 3, 2, "same", rank=rank), "c2"),
        ("b", {"kind": "pointwise"}, "d2"),
        ("u2", up_layer, "b"),
        ("crop2", {"kind": "cropping", "rank": rank, "cropping": 0}, "c2"),
        ("cat2", {"kind": "concatenate", "axis": -1}, ["crop2", "u2"]),
        ("e2", conv(3, padding="same", rank=rank), "cat2"),
        ("u1", {"kind": "upsampling", "rank": rank, "size": 2}, "e2"),
        ("crop1", {"kind": "cropping", "rank": rank, "cropping": crop}, "c1"),
        ("e1", conv(3, 1, rank=rank), "crop1"),
        ("sum", {"kind": "merge", "op": "add"}, ["e1", "u1"]),
        ("out", conv(1, 3, dilation=2, padding="same", rank=rank), "sum"),
        ("aux", {"kind": "zero_padding", "rank": rank, "padding": 1}, "e2"),
    ]
    return nodes


@pytest.mark.parametrize("up", ["upsampling", "conv_transpose"])
def test_unet_blocks_equal_the_whole_array(up):
    size = 20
    g = shapes.graph(unet(up=up), {"x": (1, size, size + 4, 2)}, outputs=["out", "aux"])
    assert g.shapes["out"] == (1, size, size + 4, 1)
    assert g.shapes["cat2"] == (1, 10, 12, 6) and g.shapes["aux"] == (1, 12, 14, 3)
    check_blocks(g, (7, 5))
    check_blocks(g, (3, 20))


def test_unet_with_valid_convolutions_and_bilinear_up_sampling():
    nodes = unet(padding="valid", interpolation="bilinear")
    g = shapes.graph(nodes, {"x": (1, 26, 22, 1)}, outputs=["out"])
    # valid 3x3 convs lose a sample per side; the crops line the skips up
    assert g.shapes["c1"] == (1, 24, 20, 2) and g.shapes["crop1"] == (1, 20, 16, 2)
    assert g.shapes["out"] == (1, 20, 16, 1)
    check_blocks(g, (6, 7))


def test_skip_source_range_is_the_union_of_its_readers():
    g = shapes.graph(unet(), {"x": (1, 32, 32, 1)}, outputs=["out"])
    plan = g.block_plan((8, 8), (16, 16), output="out")
    c1 = plan.nodes["c1"]
    readers = [plan.nodes[n] for n in g.consumers["c1"] if n in plan.nodes]
    assert {n for n in g.consumers["c1"]} == {"d1", "crop1"}
    for axis in range(2):
        lo = min(r.in_range[axis][0] for r in readers)
        hi = max(r.in_range[axis][1] for r in readers)
        assert c1.out_range[axis] == (lo, hi)
    # each reader takes its own slice of c1's block
    for reader in readers:
        (read,) = reader.reads
        assert all(b - a == r1 - r0 for (a, b), (r0, r1) in zip(read, reader.in_range,
                                                                strict=True))
    # By hand, per axis: out (3x3 dilated by 2, 'same') needs sum [6, 18), so e1 and
    # crop1 and c1 [6, 18); u1 needs e2 [3, 9), cat2 [2, 10), u2 b d2 [1, 5); d2 (3, stride
    # 2, 'same' on 16: padding (0, 1)) reads c2 [2, 11), the hull with crop2's [2, 10);
    # c2 reads d1 [1, 12), d1 (2, stride 2) reads c1 [2, 24): c1's union is [2, 24), and
    # c1 ('same' 3x3) reads x [1, 25).
    assert c1.out_range == ((2, 24), (2, 24))
    assert plan.input_ranges["x"] == ((1, 25), (1, 25))
    assert set(plan.nodes) == g.ancestors(["out"]) - {"x"}


def test_a_node_under_padding_starts_from_zeros_and_its_sources_do_not_run():
    nodes = [("c", conv(1, 2, rank=1, padding="valid"), "x"),
             ("pad", {"kind": "zero_padding", "rank": 1, "padding": ((6, 0),)}, "c"),
             ("p", {"kind": "pointwise"}, "pad")]
    g = shapes.graph(nodes, {"x": (1, 5, 1)})
    plan = g.block_plan((0,), (4,))
    assert plan.nodes["pad"].from_zeros and "c" not in plan.nodes and plan.input_ranges == {}
    check_blocks(g, (3,))


# ------------------------------------------------------------ random DAGs

_RELAXED = [HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large]


@st.composite
def single_input_spec(draw, rank):
    kind = draw(st.sampled_from(["conv", "conv", "conv_transpose", "upsampling", "cropping",
                                 "zero_padding", "pointwise"]))
    per_axis = lambda s: tuple(draw(s) for _ in range(rank))  # noqa: E731
    if kind == "conv":
        strided = draw(st.booleans())
        return conv(draw(st.integers(1, 2)), per_axis(st.integers(1, 3)),
                    per_axis(st.integers(1, 2)) if strided else 1,
                    draw(st.sampled_from(["valid", "same"] + (["causal"] if rank == 1 else []))),
                    1 if strided else per_axis(st.integers(1, 2)), rank)
    if kind == "conv_transpose":
        return {"kind": kind, "rank": rank, "filters": draw(st.integers(1, 2)),
                "kernel_size": per_axis(st.integers(1, 3)), "strides": per_axis(st.integers(1, 3)),
                "padding": draw(st.sampled_from(["valid", "same"]))}
    if kind == "upsampling":
        return {"kind": kind, "rank": rank, "size": per_axis(st.integers(1, 2)),
                "interpolation": draw(st.sampled_from(["nearest", "bilinear"]))}
    if kind in ("cropping", "zero_padding"):
        return {"kind": kind, "rank": rank,
                kind if kind == "cropping" else "padding":
                    per_axis(st.tuples(st.integers(0, 2), st.integers(0, 2)))}
    return {"kind": "pointwise"}


@st.composite
def dags(draw, rank):
    """Up to 7 nodes, each reading earlier tensors; merges join tensors of matching shapes."""
    size = tuple(draw(st.integers(4, 12 if rank == 1 else 7)) for _ in range(rank))
    inputs = {"x": (1, *size, draw(st.integers(1, 2)))}
    nodes = []
    for i in range(draw(st.integers(1, 7))):
        known = shapes.graph(nodes, inputs).shapes if nodes else inputs
        tensors = ["x", *(n for n, _, _ in nodes)]
        shape_of = known.__getitem__
        if len(tensors) > 1 and draw(st.integers(0, 2)):
            # a merge of tensors with the shape (merge) or the spatial sizes (concatenate)
            first = draw(st.sampled_from(tensors))
            concatenate = draw(st.booleans())
            same = [t for t in tensors if t != first and (
                shape_of(t)[:-1] == shape_of(first)[:-1] if concatenate
                else shape_of(t) == shape_of(first))]
            if same:
                others = draw(st.lists(st.sampled_from(same), min_size=1, max_size=2,
                                       unique=True))
                spec = ({"kind": "concatenate"} if concatenate
                        else {"kind": "merge", "op": draw(st.sampled_from(["add", "multiply"]))})
                nodes.append((f"n{i}", spec, [first, *others]))
                continue
        source = draw(st.sampled_from(tensors))
        nodes.append((f"n{i}", draw(single_input_spec(rank)), source))
        try:
            shapes.graph(nodes, inputs)
        except ShapeError:
            nodes.pop()
    assume(nodes)
    g = shapes.graph(nodes, inputs)
    assume(all(0 not in g.shapes[n][1:-1] for n in g.order))
    assume(all(np.prod(g.shapes[n][1:]) <= 3000 for n in g.order))
    return g


@pytest.mark.parametrize("rank", [1, 2])
@settings(max_examples=60, suppress_health_check=_RELAXED, deadline=None)
@given(data=st.data())
def test_random_dag_blocks_equal_the_whole_array(rank, data):
    g = data.draw(dags(rank))
    kinds = {g.specs[n]["kind"] for n in g.order}
    event(f"joins: {sorted(kinds & {'merge', 'concatenate'})}")
    if any(len(g.consumers[key]) > 1 for key in g.consumers):
        event("a tensor read by several nodes")
    block = tuple(data.draw(st.integers(rank, 5)) for _ in range(rank))
    check_blocks(g, block, data)


# ------------------------------------------------------------------- errors


def test_graph_errors_name_the_node():
    c = conv(1, rank=1)
    with pytest.raises(ShapeError, match="reads 'y', which is neither"):
        shapes.graph([("a", c, "y")], {"x": (1, 8, 1)})
    with pytest.raises(ShapeError, match="cycle"):
        shapes.graph([("a", c, "b"), ("b", c, "a")], {"x": (1, 8, 1)})
    with pytest.raises(ShapeError, match="used twice"):
        shapes.graph([("a", c, "x"), ("a", c, "x")], {"x": (1, 8, 1)})
    with pytest.raises(ShapeError, match="takes one input, got 2"):
        shapes.graph([("a", c, ["x", "x"])], {"x": (1, 8, 1)})
    with pytest.raises(ShapeError, match=r"merge: axis 1: the inputs' sizes differ \(8 and 6\)"):
        shapes.graph([("a", conv(1, padding="valid", rank=1), "x"),
                      ("m", {"kind": "merge"}, ["x", "a"])], {"x": (1, 8, 1)})
    with pytest.raises(ShapeError, match="several inputs; use shapes.graph"):
        shapes.chain([{"kind": "concatenate"}], (1, 8, 1))
    g = shapes.graph([("f", {"kind": "flatten"}, "x"), ("c", c, "x")], {"x": (1, 8, 1)})
    with pytest.raises(ShapeError, match=r"node 'f', flatten\) needs whole spatial axes"):
        g.block_plan((0,), (4,), output="f")
    assert g.block_plan((0,), (4,), output="c").input_ranges == {"x": ((0, 5),)}
    with pytest.raises(ShapeError, match="not inside"):
        g.block_plan((0,), (9,), output="c")


def test_graph_shapes_take_symbols_and_unknown_sizes():
    g = shapes.graph(unet(rank=1), {"x": shapes.symbolic("b, n, 1")}, outputs=["out"])
    seen = {node: str(shape[1]) for node, shape in g.shapes.items()}
    # d1 (2, stride 2, valid) gives floor(n/2), d2 ('same', stride 2) ceil(floor(n/2)/2)
    assert seen["d2"] == "floor((n + 2)/4)" and seen["u2"] == "2*floor((n + 2)/4)"
    # the joins cannot tell floor(n/2) from 2*floor((n + 2)/4) before binding: they keep
    # their first input's size; bound sizes are checked
    assert seen["cat2"] == "floor(n/2)" and seen["u1"] == "2*floor(n/2)" and seen["sum"] == "n"
    assert shapes.graph(unet(rank=1), {"x": (1, 32, 1)}).shapes["out"] == (1, 32, 1)
    with pytest.raises(ShapeError, match=r"concatenate: axis 1: the inputs' sizes differ "
                                         r"\(15 and 16\)"):
        shapes.graph(unet(rank=1), {"x": (1, 30, 1)})
    g = shapes.graph([("a", conv(4, rank=1), "x"), ("b", conv(4, rank=1), "x"),
                      ("cat", {"kind": "concatenate"}, ["a", "b"])], {"x": (None, None, 2)})
    assert g.shapes["cat"] == (None, None, 8)


def test_merge_keeps_known_sizes_and_concatenate_axes():
    merge_kind, cat = shapes.get_kind("merge"), shapes.get_kind("concatenate")
    assert merge_kind.output_shape({"op": "add"}, [(None, 4, None), (2, None, 3)]) == (2, 4, 3)
    spec = cat.normalize({"kind": "concatenate", "axis": 1})
    assert cat.output_shape(spec, [(None, 3, 8, 8), (None, 5, 8, 8)]) == (None, 8, 8, 8)
    assert cat.blockwise(spec, "channels_first", 4) == "merge"
    assert cat.blockwise(spec, "channels_last", 4) == "whole"
    with pytest.raises(ShapeError, match="exactly 2 inputs"):
        merge_kind.output_shape({"op": "subtract"}, [(1, 2), (1, 2), (1, 2)])


# ------------------------------------------------------------- halos of graphs


@settings(max_examples=60, suppress_health_check=_RELAXED, deadline=None)
@given(data=st.data(), rank=st.sampled_from([1, 2]))
def test_the_axis_info_of_a_chain_shaped_graph_is_the_chains(data, rank):
    specs = data.draw(st.lists(single_input_spec(rank), min_size=1, max_size=5))
    shape = (1, *(data.draw(st.integers(20, 40)) for _ in range(rank)), 2)
    try:
        chain = shapes.chain(specs, shape)
        g = shapes.graph([(i, s, i - 1 if i else "x") for i, s in enumerate(specs)],
                         {"x": shape})
    except ShapeError:
        assume(False)
    ours, theirs = g.axis_info(), chain.axes
    for a, b in zip(ours, theirs, strict=True):
        assert (a.axis, a.jump, a.halo, a.depth, a.offset, a.receptive_field,
                a.block_multiple, a.output_block_multiple) == \
            (b.axis, b.jump, b.halo, b.depth, b.offset, b.receptive_field,
             b.block_multiple, b.output_block_multiple)


def _regrown(g, length):
    """The same graph over an input of ``length`` samples (rank 1), or None if it no longer fits."""
    nodes = [(n, g.specs[n], list(g.node_inputs[n]) if g.specs[n]["kind"] in
              ("merge", "concatenate") else g.node_inputs[n][0]) for n in g.order]
    channels = g.inputs["x"][-1]
    try:
        return shapes.graph(nodes, {"x": (1, length, channels)}, g.outputs[:1])
    except ShapeError:
        return None


@settings(max_examples=60, suppress_health_check=_RELAXED, deadline=None)
@given(data=st.data())
def test_the_axis_info_of_a_graph_is_what_its_block_plans_read(data):
    """Far from the borders (nothing clipped), a block plan reads exactly the halo around an
    aligned block, one output sample reads at most the receptive field, and output sample
    0's reach starts at the offset: the union over every path, as the plans take it."""
    small = data.draw(dags(1))
    g = _regrown(small, 400)
    assume(g is not None)
    output = g.outputs[0]
    try:
        info, = g.axis_info(output)
    except ShapeError as exc:
        assert "scale spatial axis" in str(exc) or "does not depend" in str(exc)
        return
    n_out = g.shapes[output][1]
    m, bm = info.output_block_multiple, info.block_multiple
    assume(n_out >= 8 * m)
    lo, hi = info.halo
    c = (n_out // m) // 2
    plan = g.plan({output: ((c * m, (c + 1) * m),)})
    (start, stop), = plan.input_ranges["x"]
    assert (start, stop) == (c * bm - lo, (c + 1) * bm + hi)
    widths = []
    for i in range(n_out // 4, n_out // 4 + 2 * m):
        read = g.plan({output: ((i, i + 1),)}).input_ranges.get("x")
        if read is not None:     # (a sample between a transposed kernel's copies reads none)
            widths.append(read[0][1] - read[0][0])
    assume(widths)
    assert max(widths) == info.receptive_field
    # sample 0 reaches back to the offset (its range clipped at the array's start); a
    # window is clipped at its own input's start, which a crop before it moves inside
    # the array (a bilinear up-sampling clamps there too): then sample 0 reads from
    # there on, never before
    read = g.plan({output: ((0, 1),)}).input_ranges.get("x")
    if read is not None:
        clamped = any(g.specs[n].get("interpolation") == "bilinear"
                      or g.specs[n]["kind"] == "cropping" for n in g.order)
        if clamped:
            assert read[0][0] >= max(info.offset, 0)
        else:
            assert read[0][0] == max(info.offset, 0)


def test_a_bilinear_up_sampling_after_a_crop_reads_from_the_crop():
    """Output sample 0 of crop (1, 0) -> bilinear x2 blends cropped samples -1 and 0,
    clamped to cropped sample 0: its read starts at input sample 1, though the unclamped
    reach (the offset) starts at 0."""
    g = shapes.graph([("c", {"kind": "cropping", "rank": 1, "cropping": ((1, 0),)}, "x"),
                      ("u", {"kind": "upsampling", "rank": 1, "size": 2,
                             "interpolation": "bilinear"}, "c")], {"x": (1, 40, 1)}, ["u"])
    info, = g.axis_info("u")
    assert info.offset == 0
    (start, _), = g.plan({"u": ((0, 1),)}).input_ranges["x"]
    assert start == 1


def test_paths_that_scale_an_axis_differently_have_no_single_halo():
    down = conv(1, 1, strides=2, padding="valid", rank=1)
    up = {"kind": "upsampling", "rank": 1, "size": 2}
    g = shapes.graph([("d", down, "x"), ("u", up, "d"), ("j", {"kind": "merge"}, ["x", "u"])],
                     {"x": (1, 2, 1)})
    assert g.axis_info()[0].jump == 1     # stride 2 then up-sampling 2: the same scale
    g = shapes.graph([("d", down, "x"), ("j", {"kind": "merge"}, ["x", "d"])], {"x": (1, 1, 1)})
    with pytest.raises(ShapeError, match="'j'.*scale spatial axis 1 differently"):
        g.axis_info()


def test_a_window_after_a_crop_is_clipped_at_the_crops_start():
    """Found by Hypothesis: x -> crop (1, 0) -> transposed conv k=2 'valid'. Output sample
    0 reads the crop's samples -1 and 0; -1 does not exist, so only x[1] is read, though
    the offset (the crop's 1 minus the kernel's reach of 1) is 0."""
    g = shapes.graph([("c", {"kind": "cropping", "rank": 1, "cropping": ((1, 0),)}, "x"),
                      ("t", {"kind": "conv_transpose", "rank": 1, "filters": 1,
                             "kernel_size": 2, "padding": "valid"}, "c")],
                     {"x": (1, 400, 1)})
    info, = g.axis_info("t")
    assert info.offset == 0
    assert g.plan({"t": ((0, 1),)}).input_ranges["x"] == ((1, 2),)
    assert g.plan({"t": ((1, 2),)}).input_ranges["x"] == ((1, 3),)
