"""The ``pooling`` and ``global_pooling`` kinds: a new family is one Kind.

No pooling layer exists yet; the kinds alone give shapes, chains, block plans
and inverse questions. Block plans of max and average pooling are checked
against whole-array NumPy references (TensorFlow's 'same' pooling leaves the
padding out of each window: it is ``-inf`` for a maximum and not counted by an
average), with each block's border padding filled the same way.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import ShapeError


def _same_pads(n, k, s):
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def pool_valid(x, size, strides, mode):
    """Windows of ``size`` every ``strides`` over an array padded with NaN (= left out)."""
    out_shape = [(n - k) // s + 1 for n, k, s in zip(x.shape, size, strides, strict=True)]
    windows = np.stack([x[tuple(slice(t, t + (m - 1) * s + 1, s)
                                for t, m, s in zip(tap, out_shape, strides, strict=True))]
                        for tap in itertools.product(*(range(k) for k in size))])
    return np.nanmax(windows, axis=0) if mode == "max" else np.nanmean(windows, axis=0)


def pool_whole(spec, x, mode):
    pads = [(0, 0) if spec["padding"] == "valid" else _same_pads(n, k, s)
            for n, k, s in zip(x.shape, spec["pool_size"], spec["strides"], strict=True)]
    return pool_valid(np.pad(x, pads, constant_values=np.nan), spec["pool_size"],
                      spec["strides"], mode)


def box_valid(y):
    """Per axis, the sum of 3 neighbours, without padding: a stand-in convolution."""
    out_shape = tuple(n - 2 for n in y.shape)
    out = np.zeros(out_shape)
    for axis in range(y.ndim):
        inner = y[tuple(slice(None) if a == axis else slice(1, 1 + n)
                        for a, n in enumerate(out_shape))]
        out += sum(np.take(inner, range(t, t + out_shape[axis]), axis=axis) for t in range(3))
    return out


def conv_whole_same(x):
    """``box_valid`` with 'same' zero padding: the 3-tap convolution before the pooling."""
    return box_valid(np.pad(x, 1))


def run_block(plan, x, mode):
    y = x[tuple(slice(a, b) for a, b in plan.input_range)]
    for lb in plan.layers:
        if lb.spec["kind"] == "conv":         # a convolution's border: zeros
            y = box_valid(np.pad(y, lb.pads))
        else:                                 # pooling's border is left out: NaN here
            y = pool_valid(np.pad(y, lb.pads, constant_values=np.nan), lb.spec["pool_size"],
                           lb.spec["strides"], mode)
        assert y.shape == tuple(b - a for a, b in lb.out_range)
    return y


@settings(max_examples=120, deadline=None)
@given(rank=st.integers(1, 2), data=st.data())
def test_pooling_blocks_equal_the_whole_array(rank, data):
    per_axis = lambda s: tuple(data.draw(s) for _ in range(rank))  # noqa: E731
    pool = {"kind": "pooling", "rank": rank, "pool_size": per_axis(st.integers(1, 3)),
            "strides": data.draw(st.one_of(st.none(), st.just(per_axis(st.integers(1, 3))))),
            "padding": data.draw(st.sampled_from(["valid", "same"]))}
    box = {"kind": "conv", "rank": rank, "filters": 1, "kernel_size": 3, "padding": "same"}
    size = per_axis(st.integers(3, 14 if rank == 1 else 8))
    c = shapes.chain([box, pool], (1, *size, 1))
    spec = c.specs[1]
    assert spec["strides"] == (pool["strides"] or spec["pool_size"])   # Keras: None = pool_size
    x = np.random.default_rng(0).uniform(-2, -1, size)   # negative: zeros would show in a max
    for mode in ("max", "avg"):
        want = pool_whole(spec, conv_whole_same(x), mode)
        assert want.shape == c.output_shape[1:-1]
        for block in c.output_blocks(per_axis(st.integers(1, 4))):
            got = run_block(c.block_plan(*block), x, mode)
            np.testing.assert_allclose(got, want[tuple(slice(a, b) for a, b in zip(*block,
                                                                                  strict=True))],
                                       rtol=1e-12, atol=1e-12)


def test_pooling_kind_shapes_halo_and_inverse():
    pool = shapes.normalize_spec({"kind": "pooling", "rank": 2, "pool_size": 2})
    assert pool["strides"] == (2, 2) and pool["padding"] == "valid"
    c = shapes.chain([pool, pool], (None, 16, 12, 3))
    assert c.output_shape == (None, 4, 3, 3)
    assert c.jump == (4, 4) and c.receptive_field == (4, 4) and c.halo == ((0, 0), (0, 0))
    assert shapes.input_sizes([pool], 5, axis=0) == range(10, 12)
    assert shapes.get_kind("pooling").border == "excluded"
    assert shapes.pooling((None, 9, 9, 4), 2, None, "same", "channels_last") == (None, 5, 5, 4)
    with pytest.raises(ShapeError, match="pool_size must be positive integers, got \\(0, 0\\)"):
        shapes.normalize_spec({"kind": "pooling", "rank": 2, "pool_size": 0})
    with pytest.raises(ShapeError, match="missing required argument 'pool_size'"):
        shapes.normalize_spec({"kind": "pooling", "rank": 2})


def test_global_pooling_kind_ends_the_spatial_part():
    conv = {"kind": "conv", "rank": 3, "filters": 4, "kernel_size": 3,
            "data_format": "channels_first"}
    gp = {"kind": "global_pooling", "rank": 3, "data_format": "channels_first"}
    c = shapes.chain([conv, gp, {"kind": "dense", "units": 2}], (None, 1, 8, 8, 8))
    assert c.output_shapes[1:] == [(None, 4), (None, 2)]
    assert c.spatial_layers == 1 and c.stop_reason == "global_pooling (global_pooling) needs whole spatial axes"
    assert shapes.get_kind("global_pooling").blockwise(c.specs[1]) == "whole"
    with pytest.raises(ShapeError, match="expected an input of rank 5"):
        shapes.chain([gp], (None, 8, 8, 1))
