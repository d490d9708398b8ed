"""The memory-bound kernels in the CPU emulation against plain-loop references: the
vectorised channels_last up-sampling (nearest, bi/trilinear) and depthwise kernels, the
stand-alone per-channel epilogue and the bfloat16 cast, with vectors of 4 and 1, grids
capped small (grid-stride loops turn) and misaligned pointers (vectors refused)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cthulhu.devices.cupy_ import _conv, _eltwise, _memory
from tests.support import kernel_refs as ref

DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16}
TOL = {"float32": 2e-6, "float64": 1e-12, "float16": 2e-3}


def _small(grid):
    return (grid[0], min(grid[1], 3), 1)


def _address(a):
    return a.ctypes.data


@settings(max_examples=50, deadline=None)
@given(rank=st.integers(1, 3), batch=st.integers(1, 2), channels=st.sampled_from([1, 3, 4, 8, 12]),
       spatial=st.lists(st.integers(1, 4), min_size=3, max_size=3),
       size=st.lists(st.integers(1, 3), min_size=3, max_size=3),
       dtype=st.sampled_from(sorted(DTYPES)), linear=st.booleans(), seed=st.integers(0, 99))
def test_channels_last_upsampling_matches_loops(emulator, rank, batch, channels, spatial,
                                                size, dtype, linear, seed):
    spatial, size = tuple(spatial[:rank]), tuple(size[:rank])
    x = np.random.default_rng(seed).standard_normal((batch, *spatial, channels)).astype(DTYPES[dtype])
    x64 = x.astype(np.float64)
    expected = ref.upsample_linear(x64, size) if linear else ref.upsample_nearest(x64, size)
    y = np.full(expected.shape, np.nan, DTYPES[dtype])
    vec = _memory.vector_width(channels, _address(x), _address(y), dtype=dtype)
    if dtype != "float64":  # NumPy aligns to 16 bytes, not to float64 vectors' 32
        assert vec == (4 if channels % 4 == 0 else 1)
    launch = _memory.upsample_launch(interpolation="bilinear" if linear else "nearest",
                                     dtype=dtype, batch=batch, channels=channels,
                                     in_spatial=spatial, size=size, vec=vec)
    emulator.launch(launch.name, _small(launch.grid), launch.block, [x, y, *launch.args])
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    np.testing.assert_allclose(y.astype(np.float64), expected, rtol=0, atol=TOL[dtype] * scale)


@settings(max_examples=40, deadline=None)
@given(rank=st.integers(1, 3), channels=st.sampled_from([1, 4, 8, 5]),
       spatial=st.lists(st.integers(1, 6), min_size=3, max_size=3),
       kernel=st.lists(st.integers(1, 3), min_size=3, max_size=3),
       stride=st.integers(1, 2), dilation=st.integers(1, 2), pad=st.integers(0, 2),
       dtype=st.sampled_from(sorted(DTYPES)),
       parts=st.sampled_from(["none", "bias", "bn", "all"]),
       activation=st.sampled_from([None, "relu", "relu6", "leaky_relu", "sigmoid", "tanh"]),
       seed=st.integers(0, 99))
@example(rank=3, channels=8, spatial=[3, 4, 5], kernel=[2, 3, 3], stride=1, dilation=2, pad=2,
         dtype="float64", parts="all", activation="leaky_relu", seed=1)
@example(rank=1, channels=4, spatial=[6, 1, 1], kernel=[3, 1, 1], stride=2, dilation=1, pad=1,
         dtype="float16", parts="bn", activation="relu6", seed=2)
def test_channels_last_depthwise_matches_loops(emulator, rank, channels, spatial, kernel, stride,
                                               dilation, pad, dtype, parts, activation, seed):
    """The vectorised kernel with the whole epilogue (a folded batch norm's scale and
    shift read as vectors too, leaky_relu's slope a double for float64)."""
    spatial, kernel = tuple(spatial[:rank]), tuple(kernel[:rank])
    pads = ((pad, pad),) * rank
    out = tuple((n + 2 * pad - dilation * (k - 1) - 1) // stride + 1
                for n, k in zip(spatial, kernel, strict=True))
    if min(out) < 1:
        return
    rng = np.random.default_rng(seed)
    t = DTYPES[dtype]
    x = rng.standard_normal((2, *spatial, channels)).astype(t)
    w = rng.standard_normal((*kernel, channels, 1)).astype(t)
    arrays = {"bias": rng.standard_normal(channels).astype(t),
              "scale": rng.uniform(0.5, 2.0, channels).astype(t),
              "shift": rng.standard_normal(channels).astype(t)}
    use = {"none": (), "bias": ("bias",), "bn": ("scale", "shift"),
           "all": ("bias", "scale", "shift")}[parts]
    flags = sum({"bias": 1, "scale": 2, "shift": 4}[k] for k in use)
    z = ref.depthwise(x.astype(np.float64), w.astype(np.float64), (stride,) * rank,
                      (dilation,) * rank, pads)
    expected = ref.epilogue(z, *(arrays[k].astype(np.float64) if k in use else None
                                 for k in ("bias", "scale", "shift")),
                            activation=activation, alpha=0.1)
    y = np.full(expected.shape, np.nan, t)
    pointers = [arrays[k] if k in use else y for k in ("bias", "scale", "shift")]
    vec = _memory.vector_width(channels, *map(_address, (x, w, *pointers, y)), dtype=dtype)
    launch = _memory.depthwise_launch(dtype=dtype, batch=2, channels=channels, in_spatial=spatial,
                                      out_spatial=out, kernel=kernel, strides=(stride,) * rank,
                                      dilation=(dilation,) * rank, pads_lo=(pad,) * rank,
                                      vec=vec, flags=flags, activation=activation, alpha=0.1)
    emulator.launch(launch.name, _small(launch.grid), launch.block,
                    [x, w, *pointers, y, *_conv.kernel_scalars(launch)])
    # the rounding scales with the values before the activation, at most these
    before = ref.epilogue(np.abs(z), *(np.abs(arrays[k]).astype(np.float64) if k in use
                                       else None for k in ("bias", "scale", "shift")))
    scale = max(1.0, float(before.max(initial=0))) * int(np.prod(kernel)) ** 0.5
    np.testing.assert_allclose(y.astype(np.float64), expected, rtol=0, atol=TOL[dtype] * scale)


def test_misaligned_pointer_gets_scalar_access(emulator):
    """A view that starts 4 bytes into its buffer is not 16-byte aligned: the launch must
    fall back to 1 channel per access (a vector load there would fault on a GPU, and
    the emulator refuses it)."""
    base = np.zeros(1 + 2 * 3 * 8, np.float32)
    x = base[1:].reshape(2, 3, 8)
    x[...] = np.arange(x.size).reshape(x.shape)
    y = np.zeros((2, 6, 8), np.float32)
    assert _memory.vector_width(8, _address(x), _address(y)) == 1
    bad = _memory.upsample_launch(interpolation="nearest", dtype="float32", batch=2, channels=8,
                                  in_spatial=(3,), size=(2,), vec=4)
    with pytest.raises(AssertionError, match="misaligned"):
        emulator.launch(bad.name, bad.grid, bad.block, [x, y, *bad.args])
    good = _memory.upsample_launch(interpolation="nearest", dtype="float32", batch=2, channels=8,
                                   in_spatial=(3,), size=(2,), vec=1)
    emulator.launch(good.name, good.grid, good.block, [x, y, *good.args])
    np.testing.assert_array_equal(y, np.repeat(x, 2, axis=1))


@settings(max_examples=40, deadline=None)
@given(layout=st.sampled_from(["channels_last", "channels_first"]),
       channels=st.sampled_from([1, 3, 4, 12, 64]), positions=st.integers(1, 40),
       dtype=st.sampled_from(sorted(DTYPES)), parts=st.sampled_from(["bias", "bn", "all"]),
       activation=st.sampled_from([None, "relu", "relu6", "leaky_relu", "sigmoid", "tanh"]),
       seed=st.integers(0, 99))
def test_channel_epilogue_matches_reference(emulator, layout, channels, positions, dtype, parts,
                                            activation, seed):
    rng = np.random.default_rng(seed)
    t = DTYPES[dtype]
    x = rng.standard_normal((2, positions, channels)).astype(t)
    arrays = {k: rng.standard_normal(channels).astype(t) for k in ("bias", "scale", "shift")}
    use = {"bias": ("bias",), "bn": ("scale", "shift"), "all": ("bias", "scale", "shift")}[parts]
    flags = sum({"bias": 1, "scale": 2, "shift": 4}[k] for k in use)
    expected = ref.epilogue(x.astype(np.float64), *(arrays[k].astype(np.float64) if k in use
                                                    else None for k in ("bias", "scale", "shift")),
                            activation=activation, alpha=0.25)
    xin = x if layout == "channels_last" else ref.to_first(x)
    launch = _eltwise.epilogue_launch(layout=layout, dtype=dtype, size=x.size, batch=2,
                                      channels=channels,
                                      flags=flags, activation=activation, alpha=0.25,
                                      aligned=_address(xin) % 16 == 0)
    if layout == "channels_last":
        total = launch.grid[0] * launch.block[0] * int(launch.name.split(", ")[1][0])
        assert total % channels == 0  # each thread's channel is fixed along its loop
    y = xin.copy()  # in place, as the plugin runs it
    args = [y, arrays["bias"], arrays["scale"], arrays["shift"], y,
            np.int64(launch.args[0]), *launch.args[1:-1], np.float32(launch.args[-1])]
    emulator.launch(launch.name, launch.grid, launch.block, args)
    got = y if layout == "channels_last" else ref.to_last(y)
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    np.testing.assert_allclose(got.astype(np.float64), expected, rtol=0,
                               atol=4 * TOL[dtype] * scale)


@given(size=st.integers(1, 50), seed=st.integers(0, 99))
@settings(max_examples=20, deadline=None)
def test_bf16_cast_rounds_to_nearest_even(emulator, size, seed):
    x = (np.random.default_rng(seed).standard_normal(size) * 100).astype(np.float32)
    x[:3] = [1 + 2.0**-8, 1 + 3 * 2.0**-8, -(1 + 2.0**-8)][: min(3, size)]  # exact ties
    y = np.zeros(size, np.uint16)
    launch = _eltwise.cast_bf16_launch(size, aligned=True)
    emulator.launch(launch.name, launch.grid, launch.block, [x, y, np.int64(launch.args[0])])
    np.testing.assert_array_equal(y, ref.bf16_bits(x))
    if size >= 2:  # ties to even: 1 + 2**-8 -> 1, 1 + 3 * 2**-8 -> 1 + 2**-6
        assert list(y[:2]) == [0x3F80, 0x3F82]
