"""The NumPy plugin's fused (one einsum per chunk) depthwise paths, multiplier 1, and
the native C kernel that runs instead when it is available (drawn: on or off).

Stride 1 reads every tap as one axis of a strided view of the flattened padded
rows, ``tile`` rows at a time, with a one-row-at-a-time tail; strides and
dilations go through per-image window views. Tiny chunk and tile sizes force
chunk edges and tails; the plain-loop reference of ``ops_reference`` (tiny
sizes) and the generic Array API code (medium sizes) are the judges.
"""

import os

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cthulhu import ops
from cthulhu.devices.numpy_ import _common, depthwise
from tests.support import ops_reference as ref


class _Knobs:
    """Set chunk bytes, tile width, thread count and the native switch (``"0"`` runs the
    NumPy paths this file is about, ``"1"`` the C kernel); restore them on exit."""

    def __init__(self, chunk_bytes, tile_values, threads, native="0"):
        self.new = chunk_bytes, tile_values, threads
        self.native = native

    def __enter__(self):
        self.saved = (_common.CHUNK_BYTES, depthwise._TILE_VALUES,
                      os.environ.get("CTHULHU_NUM_THREADS"), depthwise.BLOCK_BYTES)
        self.saved_native = os.environ.get("CTHULHU_NATIVE")
        _common.CHUNK_BYTES, depthwise._TILE_VALUES, threads = self.new
        depthwise.BLOCK_BYTES = self.new[0]       # blocked path: 1 row per chunk at 64
        os.environ["CTHULHU_NUM_THREADS"] = threads
        os.environ["CTHULHU_NATIVE"] = self.native

    def __exit__(self, *exc):
        _common.CHUNK_BYTES, depthwise._TILE_VALUES, threads, depthwise.BLOCK_BYTES = self.saved
        for name, value in (("CTHULHU_NUM_THREADS", threads),
                            ("CTHULHU_NATIVE", self.saved_native)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@st.composite
def _case(draw, max_extra):
    rank = draw(st.integers(1, 3))
    ksize = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strided = draw(st.booleans())
    strides = tuple(draw(st.integers(1, 3)) if strided else 1 for _ in range(rank))
    dilation = tuple(1 if strided else draw(st.integers(1, 2)) for _ in range(rank))
    low = [d * (k - 1) + 1 for k, d in zip(ksize, dilation, strict=True)]
    extra = max_extra if rank < 3 else max_extra // 3
    spatial = tuple(draw(st.integers(n, n + extra)) for n in low)
    return {
        "x": (draw(st.integers(1, 3)), *spatial, draw(st.sampled_from([1, 3, 5, 16]))),
        "ksize": ksize, "strides": strides, "dilation": dilation,
        "padding": draw(st.sampled_from(["valid", "same", "causal"] if rank == 1
                                        else ["valid", "same"])),
        "fmt": draw(st.sampled_from(["channels_last", "channels_first"])),
        "dtype": draw(st.sampled_from([np.float32, np.float64])),
        "seed": draw(st.integers(0, 999)),
        "knobs": (draw(st.sampled_from([64, 4096, 1 << 20])),
                  draw(st.sampled_from([1, 7, 48, 2048])),
                  draw(st.sampled_from(["1", "2"])),
                  draw(st.sampled_from(["0", "1"]))),
    }


def _arrays(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.uniform(-1, 1, case["x"]).astype(case["dtype"])
    kernel = rng.uniform(-1, 1, (*case["ksize"], case["x"][-1], 1)).astype(case["dtype"])
    bias = rng.uniform(-1, 1, case["x"][-1]).astype(case["dtype"])
    return x, kernel, bias


def _cfg(case):
    padding = case["padding"]
    if padding == "causal":
        # 'causal' is a rank-1 conv's padding only (the kind's rule); these ops take the
        # same zeros as explicit pairs
        padding = tuple((d * (k - 1), 0) for k, d in zip(case["ksize"], case["dilation"],
                                                         strict=True))
    return dict(strides=case["strides"], padding=padding, dilation=case["dilation"])


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def _to_format(x, fmt):
    return x if fmt == "channels_last" else np.moveaxis(x, -1, 1)


@settings(max_examples=40)
@given(case=_case(max_extra=5))
def test_fused_depthwise_matches_loop_reference(case):
    x, kernel, bias = _arrays(case)
    cfg = _cfg(case)
    expected = np.maximum(ref.depthwise(x, kernel, case["strides"], cfg["padding"],
                                        case["dilation"]) + bias, 0)
    with _Knobs(*case["knobs"]):
        y = ops.depthwise_conv(_to_format(x, case["fmt"]), kernel, bias=bias, activation="relu",
                               data_format=case["fmt"], **cfg)
    assert y.dtype == x.dtype
    np.testing.assert_allclose(y, _to_format(expected, case["fmt"]), **_tol(case["dtype"]))


@settings(max_examples=30)
@given(case=_case(max_extra=40), filters=st.integers(1, 6))
def test_fused_depthwise_and_separable_equal_generic_on_medium_sizes(case, filters):
    """Many chunks (and tails) per call: the plugin against the generic code."""
    x, kernel, _ = _arrays(case)
    x = _to_format(x, case["fmt"])
    cfg = dict(_cfg(case), data_format=case["fmt"])
    rank = len(case["ksize"])
    pointwise = np.random.default_rng(case["seed"] + 1).uniform(
        -1, 1, (*(1,) * rank, case["x"][-1], filters)).astype(case["dtype"])
    with _Knobs(*case["knobs"]):
        y = ops.depthwise_conv(x, kernel, **cfg)
        z = ops.separable_conv(x, kernel, pointwise, **cfg)
    np.testing.assert_allclose(y, ops.DEPTHWISE_CONV.reference(x, kernel, **cfg), **_tol(case["dtype"]))
    np.testing.assert_allclose(z, ops.SEPARABLE_CONV.reference(x, kernel, pointwise, **cfg),
                               **_tol(case["dtype"]))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_fused_depthwise_keeps_dtype_and_matches_torch_sized_case(dtype):
    """A benchmark-shaped case (many chunks, 64 channels) against the loop-free generic code."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (2, 30, 29, 64)).astype(dtype)
    kernel = rng.uniform(-1, 1, (3, 3, 64, 1)).astype(dtype)
    y = ops.depthwise_conv(x, kernel, padding="same")
    assert y.dtype == dtype
    expected = ops.DEPTHWISE_CONV.reference(x.astype(np.float64), kernel.astype(np.float64),
                                      padding="same")
    tol = 1e-2 if dtype == np.float16 else 1e-5
    np.testing.assert_allclose(y.astype(np.float64), expected, rtol=tol, atol=tol)


def test_tap_sum_reads_only_the_rows_it_should():
    """One chunk's einsum equals the explicit sum over its row-shifted taps."""
    rng = np.random.default_rng(4)
    rows = rng.standard_normal((50, 3))
    ksize, tap_rows = (2, 3), [7, 1]
    w = rng.standard_normal((2, 3, 3))
    out = np.empty((12, 3))
    depthwise._tap_sum(rows, 5, 12, tap_rows, ksize, np.tile(w, 4), out)
    expected = sum(rows[5 + i * 7 + j:5 + i * 7 + j + 12] * w[i, j]
                   for i in range(2) for j in range(3))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=30)
@given(rank=st.integers(2, 3), data=st.data())
def test_blocked_depthwise_with_explicit_pairs_equals_generic(rank, data):
    """Explicit (lo, hi) pairs as the Dask device passes them, negative ones cropping."""
    ksize = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(data.draw(st.integers(1, 2)) for _ in range(rank))
    spatial = tuple(data.draw(st.integers(3, 9 if rank == 2 else 5)) for _ in range(rank))
    pads = tuple((data.draw(st.integers(-1, 3)), data.draw(st.integers(-1, 3)))
                 for _ in range(rank))
    for n, k, (lo, hi) in zip(spatial, ksize, pads, strict=True):
        assume(n + lo + hi >= k)
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    x = rng.uniform(-1, 1, (2, *spatial, 4))
    kernel = rng.uniform(-1, 1, (*ksize, 4, 1))
    with _Knobs(data.draw(st.sampled_from([64, 1 << 20])), 2048,
                data.draw(st.sampled_from(["1", "2"])), data.draw(st.sampled_from(["0", "1"]))):
        y = ops.depthwise_conv(x, kernel, strides=strides, padding=pads)
    np.testing.assert_allclose(y, ops.DEPTHWISE_CONV.reference(x, kernel, strides=strides,
                                                         padding=pads), rtol=1e-11, atol=1e-11)
