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

from cthulhu.devices.cupy_ import _conv, _launch
from tests.support import kernel_refs as ref

DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16}
LAYOUTS = ("channels_last", "channels_first")


def _tol(dtype, scale):
    rel = {"float64": 1e-12, "float32": 2e-5, "float16": 4e-3}[dtype]
    return rel * max(1.0, scale)


def _data(rng, shape, dtype):
    return rng.standard_normal(shape).astype(DTYPES[dtype])


def _check(y, expected, dtype, terms=1, magnitude=None):
    # An output is a sum of `terms` products: its rounding error grows with it.
    # ``magnitude`` bounds the values before the activation (default: the outputs').
    if magnitude is None:
        magnitude = float(np.abs(expected).max(initial=0.0))
    scale = magnitude * max(1.0, terms ** 0.5)
    np.testing.assert_allclose(y.astype(np.float64), expected, rtol=0, atol=_tol(dtype, scale))


#: The fused epilogue's parts (CTHULHU_EPI_* flags) and activations the kernels take.
EPI_PARTS = {"none": (), "bias": ("bias",), "bn": ("scale", "shift"),
             "all": ("bias", "scale", "shift")}
EPI_FLAGS = {"bias": 1, "scale": 2, "shift": 4}
ACTIVATIONS = [None, "relu", "relu6", "leaky_relu", "sigmoid", "tanh"]
#: leaky_relu's slope: not a float32 number, so a float64 kernel must get it as a double
ALPHA = 0.1


def _epilogue(rng, parts, channels, dtype):
    """``(arrays, flags)``: the per-channel arrays of ``parts`` (a batch norm's scale in
    [0.5, 2], as folded ones are) and their CTHULHU_EPI_* flags."""
    arrays = {"bias": _data(rng, (channels,), dtype),
              "scale": rng.uniform(0.5, 2.0, channels).astype(DTYPES[dtype]),
              "shift": _data(rng, (channels,), dtype)}
    use = EPI_PARTS[parts]
    return {k: v for k, v in arrays.items() if k in use}, sum(EPI_FLAGS[k] for k in use)


def _finish(z, epi, activation):
    """``(expected, magnitude)``: the loop reference ``z`` (float64) through the epilogue,
    and a bound on the values before the activation (what the rounding scales with; every
    activation here is 1-Lipschitz)."""
    parts = [None if k not in epi else epi[k].astype(np.float64)
             for k in ("bias", "scale", "shift")]
    expected = ref.epilogue(z, *parts, activation=activation, alpha=ALPHA)
    before = ref.epilogue(np.abs(z), *(None if a is None else np.abs(a) for a in parts))
    magnitude = float(before.max(initial=0.0))  # >= |value before the activation|
    return expected, magnitude


def _epilogue_pointers(epi, dummy):
    """The kernels' bias, scale and shift pointers (``dummy`` where a part is absent)."""
    return [epi.get(k, dummy) for k in ("bias", "scale", "shift")]


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
        "parts": draw(st.sampled_from(sorted(EPI_PARTS))),
        "activation": draw(st.sampled_from(ACTIVATIONS)),
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
    epi, flags = _epilogue(rng, case["parts"], f, dtype)
    reference = ref.conv_transpose if transposed else ref.conv
    z = reference(x.astype(np.float64), w.astype(np.float64), case["strides"],
                  case["dilation"], case["pads"])
    assert z.shape[1:-1] == out_spatial
    expected, magnitude = _finish(z, epi, case["activation"])
    launch = _launch.conv_launch(
        transposed=transposed, layout=layout, dtype=dtype, batch=case["batch"], channels=c,
        filters=f, in_spatial=case["spatial"], out_spatial=out_spatial, kernel=case["kernel"],
        strides=case["strides"], dilation=case["dilation"],
        pads_lo=[p[0] for p in case["pads"]], flags=flags, activation=case["activation"],
        alpha=ALPHA, tile=_tile(case))
    xin = x if layout == "channels_last" else ref.to_first(x)
    y = np.full((case["batch"], *out_spatial, f), np.nan, dtype=DTYPES[dtype])
    if layout == "channels_first":
        y = ref.to_first(y)
    emulator.launch(launch.name, launch.grid, launch.block,
                    [xin, w, *_epilogue_pointers(epi, w), y, *_conv.kernel_scalars(launch)])
    got = y if layout == "channels_last" else ref.to_last(y)
    _check(got, expected, dtype, terms=c * int(np.prod(case["kernel"])), magnitude=magnitude)


BASE = {"rank": 2, "batch": 2, "spatial": (5, 6), "kernel": (3, 3), "strides": (1, 1),
        "dilation": (1, 1), "channels": 3, "filters": 5, "pads": ((1, 1), (1, 1)),
        "tile": "medium", "layout": "channels_last", "dtype": "float32", "parts": "bias",
        "activation": "relu", "seed": 1}
#: A folded batch norm and leaky_relu (conv -> BN -> LeakyReLU in one launch)
FOLDED = {"parts": "all", "activation": "leaky_relu"}


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
# the whole epilogue: float64 (alpha as a double), float16, channels_first, ReLU6
@example(case={**BASE, **FOLDED, "dtype": "float64", "layout": "channels_first"})
@example(case={**BASE, **FOLDED, "dtype": "float16", "filters": 17, "tile": "narrow"})
@example(case={**BASE, "parts": "bn", "activation": "relu6", "dilation": (2, 1)})
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
@example(case={**BASE, **FOLDED, "strides": (2, 2), "pads": ((1, 2), (1, 2)),
               "dtype": "float64", "layout": "channels_first"})
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
@example(case={**BASE, **FOLDED, "rank": 3, "spatial": (3, 4, 5), "kernel": (2, 3, 2),
               "strides": (1, 2, 1), "dilation": (1, 1, 1), "pads": ((1, 1), (1, 1), (0, 1)),
               "channels": 4,
               "dtype": "float64", "layout": "channels_first"}, multiplier=1)
@example(case={**BASE, **FOLDED, "rank": 1, "spatial": (9,), "kernel": (3,), "strides": (1,),
               "dilation": (2,), "pads": ((2, 2),), "dtype": "float16"}, multiplier=2)
def test_depthwise_kernel_matches_loops(emulator, case, multiplier):
    rng = np.random.default_rng(case["seed"])
    dtype, layout, c = case["dtype"], case["layout"], case["channels"]
    out_spatial = _conv_output(case, False)
    assume(all(o >= 1 for o in out_spatial))
    x = _data(rng, (case["batch"], *case["spatial"], c), dtype)
    w = _data(rng, (*case["kernel"], c, multiplier), dtype)
    epi, flags = _epilogue(rng, case["parts"], c * multiplier, dtype)
    z = ref.depthwise(x.astype(np.float64), w.astype(np.float64), case["strides"],
                      case["dilation"], case["pads"])
    expected, magnitude = _finish(z, epi, case["activation"])
    launch = _launch.depthwise_launch(
        layout=layout, dtype=dtype, batch=case["batch"], channels=c, multiplier=multiplier,
        in_spatial=case["spatial"], out_spatial=out_spatial, kernel=case["kernel"],
        strides=case["strides"], dilation=case["dilation"],
        pads_lo=[p[0] for p in case["pads"]], flags=flags, activation=case["activation"],
        alpha=ALPHA)
    xin = x if layout == "channels_last" else ref.to_first(x)
    y = np.full(expected.shape, np.nan, dtype=DTYPES[dtype])
    if layout == "channels_first":
        y = ref.to_first(y)
    # A grid capped small makes both grid-stride loops take several turns.
    emulator.launch(launch.name, _small(launch.grid), launch.block,
                    [xin, w, *_epilogue_pointers(epi, w), y, *_conv.kernel_scalars(launch)])
    got = y if layout == "channels_last" else ref.to_last(y)
    _check(got, expected, dtype, terms=int(np.prod(case["kernel"])), magnitude=magnitude)


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
            "dtype": "float32", "activation": None}
    launch_grid = _launch.conv_launch(
        transposed=False, layout="channels_last", dtype="float32", batch=2, channels=17,
        filters=200, in_spatial=(13, 11), out_spatial=(13, 11), kernel=(3, 3),
        strides=(1, 1), dilation=(1, 1), pads_lo=(1, 1), flags=1, tile="large").grid
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
                                 activation="relu")
    emulator.launch(launch.name, launch.grid, launch.block,
                    [x, w, w, w, w, y, *_conv.kernel_scalars(launch)])
    assert np.isnan(y).all()
