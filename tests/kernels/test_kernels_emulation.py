"""The CUDA kernels, run on the CPU by the emulation harness (cuda_harness.Emulator),
against plain-loop references (kernel_refs.py) for Hypothesis-drawn configurations.

The kernels run unchanged (tiled shared-memory code, barriers and all) over the grid
and block that cthulhu.devices.cupy_._launch computes; only the tile is sometimes
forced so that every instantiation sees partial tiles in both directions.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from cthulhu.devices.cupy_ import _launch
from tests.support import kernel_refs as ref

DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16}
LAYOUTS = ("channels_last", "channels_first")


def _tol(dtype, scale):
    rel = {"float64": 1e-12, "float32": 2e-5, "float16": 4e-3}[dtype]
    return rel * max(1.0, scale)


def _data(rng, shape, dtype):
    return rng.standard_normal(shape).astype(DTYPES[dtype])


def _check(y, expected, dtype, terms=1):
    # An output is a sum of `terms` products: its rounding error grows with it.
    scale = float(np.abs(expected).max(initial=0.0)) * max(1.0, terms ** 0.5)
    np.testing.assert_allclose(y.astype(np.float64), expected, rtol=0, atol=_tol(dtype, scale))


@st.composite
def conv_cases(draw, transposed=False):
    rank = draw(st.integers(1, 3))
    limit = {1: 13, 2: 7, 3: 4}[rank]
    case = {
        "rank": rank,
        "batch": draw(st.integers(1, 2)),
        "spatial": tuple(draw(st.integers(1, limit)) for _ in range(rank)),
        "kernel": tuple(draw(st.integers(1, 3)) for _ in range(rank)),
        "strides": tuple(draw(st.integers(1, 3)) for _ in range(rank)),
        "dilation": tuple(draw(st.integers(1, 2)) for _ in range(rank)),
        "channels": draw(st.sampled_from([1, 2, 3, 5, 8, 17])),
        "filters": draw(st.sampled_from([1, 3, 7, 16, 17, 33, 40])),
        "tile": draw(st.sampled_from(sorted(_launch.TILES))),
        "layout": draw(st.sampled_from(LAYOUTS)),
        "dtype": draw(st.sampled_from(["float32", "float64", "float16"])),
        "bias": draw(st.booleans()),
        "relu": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }
    if transposed:  # Keras rejects stride > 1 with dilation > 1; so does the kernel
        case["dilation"] = tuple(1 if st_ > 1 else dl
                                 for st_, dl in zip(case["strides"], case["dilation"],
                                                    strict=True))
    lo_min = -1 if transposed else 0
    case["pads"] = tuple((draw(st.integers(lo_min, 3)), draw(st.integers(lo_min, 3)))
                         for _ in range(rank))
    return case


def _conv_output(case, transposed):
    k, s, d = case["kernel"], case["strides"], case["dilation"]
    out = []
    for n, kk, ss, dd, (lo, hi) in zip(case["spatial"], k, s, d, case["pads"], strict=True):
        span = dd * (kk - 1) + 1
        if transposed:
            length = (n - 1) * ss + 1 + lo + hi - span + 1
        else:
            length = (n + lo + hi - span) // ss + 1 if n + lo + hi >= span else 0
        out.append(length)
    return tuple(out)


def _small(grid):
    """The launch's grid, capped so that the kernels' grid-stride loops turn (the real
    grid covers every element once; both must give the same result)."""
    return (min(grid[0], 2), min(grid[1], 3), 1)


def _tile(case):
    if case["tile"] in _launch._UNUSED_TILES.get(case["dtype"], ()):
        return "medium"  # never chosen, so never compiled, for this dtype
    return case["tile"]


def _run_conv(emulator, case, transposed, drawn=True):
    rng = np.random.default_rng(case["seed"])
    dtype, layout = case["dtype"], case["layout"]
    c, f = case["channels"], case["filters"]
    out_spatial = _conv_output(case, transposed)
    if drawn:
        assume(all(o >= 1 for o in out_spatial))
    x = _data(rng, (case["batch"], *case["spatial"], c), dtype)
    wshape = (*case["kernel"], f, c) if transposed else (*case["kernel"], c, f)
    w = _data(rng, wshape, dtype)
    b = _data(rng, (f,), dtype)
    reference = ref.conv_transpose if transposed else ref.conv
    expected = reference(x.astype(np.float64), w.astype(np.float64), case["strides"],
                         case["dilation"], case["pads"],
                         b.astype(np.float64) if case["bias"] else None, case["relu"])
    assert expected.shape[1:-1] == out_spatial
    launch = _launch.conv_launch(
        transposed=transposed, layout=layout, dtype=dtype, batch=case["batch"], channels=c,
        filters=f, in_spatial=case["spatial"], out_spatial=out_spatial, kernel=case["kernel"],
        strides=case["strides"], dilation=case["dilation"],
        pads_lo=[p[0] for p in case["pads"]], use_bias=case["bias"],
        activation="relu" if case["relu"] else None, tile=_tile(case))
    xin = x if layout == "channels_last" else ref.to_first(x)
    y = np.full((case["batch"], *out_spatial, f), np.nan, dtype=DTYPES[dtype])
    if layout == "channels_first":
        y = ref.to_first(y)
    emulator.launch(launch.name, launch.grid, launch.block, [xin, w, b, y, *launch.args])
    got = y if layout == "channels_last" else ref.to_last(y)
    _check(got, expected, dtype, terms=c * int(np.prod(case["kernel"])))


BASE = {"rank": 2, "batch": 2, "spatial": (5, 6), "kernel": (3, 3), "strides": (1, 1),
        "dilation": (1, 1), "channels": 3, "filters": 5, "pads": ((1, 1), (1, 1)),
        "tile": "medium", "layout": "channels_last", "dtype": "float32", "bias": True,
        "relu": True, "seed": 1}


@settings(max_examples=150)
@given(case=conv_cases())
@example(case=BASE)
# K = 3*3*16 = 144 (nine full K slices), M = 2*8*8 = 128 = two full 64-row tiles
@example(case={**BASE, "spatial": (8, 8), "channels": 16, "filters": 64, "tile": "medium"})
# one position, many filters: a single row of a large tile
@example(case={**BASE, "batch": 1, "spatial": (3, 3), "pads": ((0, 0), (0, 0)),
               "filters": 130, "tile": "large", "layout": "channels_first"})
@example(case={**BASE, "kernel": (1, 1), "pads": ((0, 0), (0, 0)), "channels": 17,
               "filters": 17, "tile": "thin", "dtype": "float16"})
@example(case={**BASE, "rank": 3, "spatial": (3, 4, 5), "kernel": (2, 3, 2), "strides": (2, 1, 2),
               "dilation": (1, 2, 1), "pads": ((0, 1), (2, 2), (1, 0)), "layout": "channels_first",
               "tile": "narrow", "filters": 33, "dtype": "float64"})
@example(case={**BASE, "tile": "large", "dtype": "float64"})  # falls back to medium
def test_conv_kernel_matches_loops(emulator, case):
    _run_conv(emulator, case, transposed=False)


@settings(max_examples=120)
@given(case=conv_cases(transposed=True))
@example(case={**BASE, "strides": (2, 2), "pads": ((2, 3), (2, 3))})  # Keras 'valid', output_padding 1
@example(case={**BASE, "strides": (3, 2), "kernel": (2, 3), "pads": ((-1, 1), (1, 0)),
               "layout": "channels_first", "tile": "thin", "dtype": "float16", "filters": 20})
@example(case={**BASE, "rank": 3, "spatial": (2, 3, 2), "kernel": (3, 3, 3), "strides": (2, 2, 2),
               "dilation": (1, 1, 1),
               "pads": ((2, 2), (1, 1), (2, 2)), "channels": 4, "filters": 40, "tile": "large"})
def test_conv_transpose_kernel_matches_scatter_add(emulator, case):
    _run_conv(emulator, case, transposed=True)


@settings(max_examples=60)
@given(case=conv_cases(), multiplier=st.integers(1, 3))
# DepthwiseCthalpa1D and 3D (the kernel runs every rank as 3D), both layouts
@example(case={**BASE, "rank": 1, "spatial": (9,), "kernel": (3,), "strides": (2,),
               "dilation": (1,), "pads": ((1, 1),), "layout": "channels_first"}, multiplier=2)
@example(case={**BASE, "rank": 3, "spatial": (3, 4, 5), "kernel": (2, 3, 2),
               "strides": (1, 1, 1), "dilation": (2, 1, 1), "pads": ((1, 1), (1, 1), (0, 1)),
               "channels": 5, "dtype": "float64"}, multiplier=3)
def test_depthwise_kernel_matches_loops(emulator, case, multiplier):
    rng = np.random.default_rng(case["seed"])
    dtype, layout, c = case["dtype"], case["layout"], case["channels"]
    out_spatial = _conv_output(case, False)
    assume(all(o >= 1 for o in out_spatial))
    x = _data(rng, (case["batch"], *case["spatial"], c), dtype)
    w = _data(rng, (*case["kernel"], c, multiplier), dtype)
    b = _data(rng, (c * multiplier,), dtype)
    expected = ref.depthwise(x.astype(np.float64), w.astype(np.float64), case["strides"],
                             case["dilation"], case["pads"],
                             b.astype(np.float64) if case["bias"] else None, case["relu"])
    launch = _launch.depthwise_launch(
        layout=layout, dtype=dtype, batch=case["batch"], channels=c, multiplier=multiplier,
        in_spatial=case["spatial"], out_spatial=out_spatial, kernel=case["kernel"],
        strides=case["strides"], dilation=case["dilation"],
        pads_lo=[p[0] for p in case["pads"]], use_bias=case["bias"],
        activation="relu" if case["relu"] else None)
    xin = x if layout == "channels_last" else ref.to_first(x)
    y = np.full(expected.shape, np.nan, dtype=DTYPES[dtype])
    if layout == "channels_first":
        y = ref.to_first(y)
    # A grid capped small makes both grid-stride loops take several turns.
    emulator.launch(launch.name, _small(launch.grid), launch.block, [xin, w, b, y, *launch.args])
    got = y if layout == "channels_last" else ref.to_last(y)
    _check(got, expected, dtype, terms=int(np.prod(case["kernel"])))


@settings(max_examples=60)
@given(rank=st.integers(1, 3), batch=st.integers(1, 2), channels=st.integers(1, 4),
       spatial=st.lists(st.integers(1, 5), min_size=3, max_size=3),
       size=st.lists(st.integers(1, 4), min_size=3, max_size=3),
       layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["float32", "float64", "float16"]),
       bilinear=st.booleans())
@example(rank=2, batch=2, channels=3, spatial=[3, 4, 1], size=[2, 3, 1],
         layout="channels_last", dtype="float32", bilinear=False)
@example(rank=3, batch=1, channels=2, spatial=[2, 3, 4], size=[3, 2, 2],
         layout="channels_first", dtype="float64", bilinear=False)
@example(rank=2, batch=2, channels=3, spatial=[3, 4, 1], size=[3, 2, 1],
         layout="channels_last", dtype="float32", bilinear=True)
@example(rank=2, batch=1, channels=2, spatial=[5, 2, 1], size=[2, 4, 1],
         layout="channels_first", dtype="float16", bilinear=True)
# channels_first trilinear and 1D linear (cthulhu_upsample_linear_ncdhw)
@example(rank=3, batch=2, channels=3, spatial=[2, 3, 4], size=[3, 2, 2],
         layout="channels_first", dtype="float32", bilinear=True)
@example(rank=1, batch=1, channels=2, spatial=[5, 1, 1], size=[3, 1, 1],
         layout="channels_first", dtype="float64", bilinear=True)
def test_upsample_kernels_match_references(emulator, rank, batch, channels, spatial, size,
                                           layout, dtype, bilinear):
    if bilinear and layout == "channels_last":
        rank = 2   # the other channels_last ranks run the vectorised kernels (_memory.py)
    spatial, size = tuple(spatial[:rank]), tuple(size[:rank])
    rng = np.random.default_rng(0)
    x = _data(rng, (batch, *spatial, channels), dtype)
    if bilinear and rank == 2:
        expected = ref.upsample_bilinear(x.astype(np.float64), size)
    elif bilinear:
        expected = ref.upsample_linear(x.astype(np.float64), size)
    else:
        expected = ref.upsample_nearest(x.astype(np.float64), size)
    out_spatial = expected.shape[1:-1]
    launch = _launch.upsample_launch(interpolation="bilinear" if bilinear else "nearest",
                                     layout=layout, dtype=dtype, batch=batch,
                                     channels=channels, in_spatial=spatial,
                                     out_spatial=out_spatial, size=size)
    xin = x if layout == "channels_last" else ref.to_first(x)
    y = np.full(expected.shape, np.nan, dtype=DTYPES[dtype])
    if layout == "channels_first":
        y = ref.to_first(y)
    emulator.launch(launch.name, _small(launch.grid), launch.block, [xin, y, *launch.args])
    got = y if layout == "channels_last" else ref.to_last(y)
    if bilinear:
        _check(got, expected, dtype)
    else:
        np.testing.assert_array_equal(got.astype(np.float64), expected)


def test_emulated_barrier_is_real(emulator):
    """A kernel whose shared tile were read before every thread stored its part would
    differ from the reference; check the harness actually runs many threads per block
    (the large tile has 256) and blocks in two grid dimensions."""
    case = {**BASE, "spatial": (13, 11), "channels": 17, "filters": 200, "tile": "large",
            "dtype": "float32", "relu": False}
    launch_grid = _launch.conv_launch(
        transposed=False, layout="channels_last", dtype="float32", batch=2, channels=17,
        filters=200, in_spatial=(13, 11), out_spatial=(13, 11), kernel=(3, 3),
        strides=(1, 1), dilation=(1, 1), pads_lo=(1, 1), use_bias=True, activation=None,
        tile="large").grid
    assert launch_grid == (3, 2, 1) and _launch.TILES["large"].threads == 256
    _run_conv(emulator, case, transposed=False, drawn=False)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_relu_keeps_nan_like_numpy(emulator, layout):
    x = np.full((1, 1, 1), np.nan, np.float32)
    w = np.ones((1, 1, 1), np.float32)
    y = np.zeros((1, 1, 1), np.float32)
    launch = _launch.conv_launch(transposed=False, layout=layout, dtype="float32", batch=1,
                                 channels=1, filters=1, in_spatial=(1,), out_spatial=(1,),
                                 kernel=(1,), strides=(1,), dilation=(1,), pads_lo=(0,),
                                 use_bias=False, activation="relu")
    emulator.launch(launch.name, launch.grid, launch.block, [x, w, w, y, *launch.args])
    assert np.isnan(y).all()
