"""The CuPy plugin end to end on the CPU: cthulhu.ops front-ends -> registry -> the
plugin's Python side (shapes, _launch, _loader) -> the emulated CUDA kernels, compared
with the NumPy plugin's results for the same calls.

A stand-in ``cupy`` module (fake_cupy.py) is installed in ``sys.modules`` and the
plugin is registered for NumPy arrays for the duration of each test.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import devices, ops
from cthulhu.devices import Epilogue
from cthulhu.devices.cupy_ import CupyPlugin, _loader
from tests.support import fake_cupy

TOL = {np.float64: 1e-10, np.float32: 3e-5, np.float16: 6e-3}


class _CupyOnNumpy(CupyPlugin):
    keys = ("numpy",)


@pytest.fixture(scope="module")
def emulated(emulator):
    """A context manager that routes NumPy arrays to the CuPy plugin (on fake_cupy)."""
    plugin = _CupyOnNumpy()

    class Switch:
        def __enter__(self):
            devices.register(plugin, replace=True)

        def __exit__(self, *exc):
            devices.unregister(plugin)

    from cthulhu.devices.cupy_ import _conv

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "cupy", fake_cupy.make(emulator))
        _loader.clear_cache()
        _conv._sm_count.cache_clear()
        _conv._smem_per_sm.cache_clear()
        yield Switch()
    # nothing compiled or measured on the stand-in may serve a real GPU later
    _loader.clear_cache()
    _conv._sm_count.cache_clear()
    _conv._smem_per_sm.cache_clear()


def _compare(emulated, call, dtype):
    expected = call()                    # NumPy plugin
    fake_cupy.FakeRawModule.launched.clear()
    with emulated:
        got = call()                     # CuPy plugin on emulated kernels
    assert got.dtype == expected.dtype and got.shape == expected.shape
    scale = max(1.0, float(np.abs(expected.astype(np.float64)).max(initial=0)))
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64),
                               rtol=0, atol=TOL[dtype] * scale * 10)
    return fake_cupy.FakeRawModule.launched


def _conv_kernel(prefix, dtype, channels):
    """The kernel a convolution should launch: igemm.cu when the channels fill its
    16-byte vectors (float32: strict SIMT path, float16: tensor cores), else ``prefix``."""
    vec = {np.float32: 4, np.float16: 8}.get(dtype)
    return "cthulhu_igemm_ndhwc<" if vec and channels % vec == 0 else prefix


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


conv_settings = st.fixed_dictionaries({
    "rank": st.integers(1, 3),
    "padding": st.sampled_from(["valid", "same", "causal"]),
    "stride": st.integers(1, 3),
    "dilation": st.integers(1, 2),
    "kernel": st.integers(1, 3),
    "channels": st.integers(1, 4),
    "filters": st.sampled_from([1, 5, 20, 70]),
    "format": st.sampled_from(["channels_last", "channels_first"]),
    "dtype": st.sampled_from([np.float32, np.float64, np.float16]),
    "bias": st.booleans(),
    "activation": st.sampled_from([None, "linear", "relu"]),
    "seed": st.integers(0, 1000),
})


def _input(cfg, rng, spatial_max=6):
    rank = cfg["rank"]
    spatial = tuple(rng.integers(cfg["kernel"] * cfg["dilation"], spatial_max + 3)
                    for _ in range(rank))
    shape = (2, *spatial, cfg["channels"])
    if cfg["format"] == "channels_first":
        shape = (2, cfg["channels"], *spatial)
    return _rand(rng, shape, cfg["dtype"])


@settings(max_examples=40)
@given(cfg=conv_settings)
def test_conv_on_emulated_gpu_matches_numpy(emulated, cfg):
    if cfg["stride"] > 1 and cfg["dilation"] > 1:
        cfg["dilation"] = 1
    if cfg["padding"] == "causal" and cfg["rank"] != 1:
        cfg["padding"] = "same"
    rng = np.random.default_rng(cfg["seed"])
    x = _input(cfg, rng)
    k = _rand(rng, (cfg["kernel"],) * cfg["rank"] + (cfg["channels"], cfg["filters"]),
              cfg["dtype"])
    b = _rand(rng, (cfg["filters"],), cfg["dtype"]) if cfg["bias"] else None
    launched = _compare(emulated, lambda: ops.conv(
        x, k, strides=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"],
        data_format=cfg["format"], bias=b, activation=cfg["activation"]), cfg["dtype"])
    assert len(launched) == 1
    assert launched[0].startswith(_conv_kernel("cthulhu_conv_nd_", cfg["dtype"], cfg["channels"]))


@settings(max_examples=30)
@given(cfg=conv_settings, output_padding=st.booleans())
def test_conv_transpose_on_emulated_gpu_matches_numpy(emulated, cfg, output_padding):
    rank = max(cfg["rank"], 2) if cfg["seed"] % 2 else cfg["rank"]
    cfg = {**cfg, "rank": rank, "dilation": 1, "padding": cfg["padding"].replace("causal",
                                                                                 "same")}
    rng = np.random.default_rng(cfg["seed"])
    x = _input(cfg, rng, spatial_max=4)
    k = _rand(rng, (cfg["kernel"],) * rank + (cfg["filters"], cfg["channels"]), cfg["dtype"])
    b = _rand(rng, (cfg["filters"],), cfg["dtype"]) if cfg["bias"] else None
    outp = (cfg["stride"] - 1,) * rank if output_padding else None
    if outp is not None and cfg["padding"] == "same" and cfg["kernel"] % 2 == 0 \
            and outp[0] == 0:
        outp = None  # TensorFlow rejects this combination itself
    launched = _compare(emulated, lambda: ops.conv_transpose(
        x, k, strides=cfg["stride"], padding=cfg["padding"], output_padding=outp,
        data_format=cfg["format"], bias=b, activation=cfg["activation"]), cfg["dtype"])
    assert len(launched) == 1
    assert launched[0].startswith(_conv_kernel("cthulhu_conv_transpose_nd_", cfg["dtype"],
                                               cfg["channels"]))


@settings(max_examples=30)
@given(cfg=conv_settings, multiplier=st.integers(1, 3), separable=st.booleans())
def test_depthwise_and_separable_on_emulated_gpu_match_numpy(emulated, cfg, multiplier,
                                                             separable):
    rank = min(cfg["rank"], 2)
    cfg = {**cfg, "rank": rank, "padding": cfg["padding"].replace("causal", "valid")}
    if cfg["stride"] > 1:
        cfg["dilation"] = 1
    rng = np.random.default_rng(cfg["seed"])
    x = _input(cfg, rng)
    dk = _rand(rng, (cfg["kernel"],) * rank + (cfg["channels"], multiplier), cfg["dtype"])
    common = {"strides": cfg["stride"], "padding": cfg["padding"],
              "dilation": cfg["dilation"], "data_format": cfg["format"],
              "activation": cfg["activation"]}
    if separable:
        pk = _rand(rng, (1,) * rank + (cfg["channels"] * multiplier, cfg["filters"]),
                   cfg["dtype"])
        b = _rand(rng, (cfg["filters"],), cfg["dtype"]) if cfg["bias"] else None
        _compare(emulated, lambda: ops.separable_conv(x, dk, pk, bias=b, **common),
                 cfg["dtype"])
    else:
        b = _rand(rng, (cfg["channels"] * multiplier,), cfg["dtype"]) if cfg["bias"] else None
        launched = _compare(emulated, lambda: ops.depthwise_conv(x, dk, bias=b, **common),
                            cfg["dtype"])
        vectorised = cfg["format"] == "channels_last" and multiplier == 1
        prefix = "cthulhu_depthwise_cl<" if vectorised else "cthulhu_depthwise_nd_"
        assert len(launched) == 1 and launched[0].startswith(prefix)


@settings(max_examples=25)
@given(rank=st.integers(1, 3), bilinear=st.booleans(), data=st.data(),
       fmt=st.sampled_from(["channels_last", "channels_first"]),
       dtype=st.sampled_from([np.float32, np.float64, np.float16]))
def test_upsample_on_emulated_gpu_matches_numpy(emulated, rank, bilinear, data, fmt, dtype):
    spatial = tuple(data.draw(st.integers(1, 5)) for _ in range(rank))
    size = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    shape = (2, *spatial, 3) if fmt == "channels_last" else (2, 3, *spatial)
    x = _rand(np.random.default_rng(0), shape, dtype)
    interpolation = "bilinear" if bilinear else "nearest"
    launched = _compare(emulated, lambda: ops.upsample(x, size, interpolation=interpolation,
                                                      data_format=fmt), dtype)
    kernel = {("nearest", "channels_last"): "cthulhu_upsample_nearest_cl<",
              ("bilinear", "channels_last"): "cthulhu_upsample_linear_cl<",
              ("nearest", "channels_first"): "cthulhu_upsample_nearest_ncdhw<",
              ("bilinear", "channels_first"): ("cthulhu_upsample_bilinear_nchw<" if rank == 2
                                               else "cthulhu_upsample_linear_ncdhw<")}
    assert len(launched) == 1 and launched[0].startswith(kernel[(interpolation, fmt)])


@settings(max_examples=30)
@given(rank=st.integers(1, 3), data=st.data(), kind=st.sampled_from(["max", "average"]),
       padding=st.sampled_from(["valid", "same"]),
       fmt=st.sampled_from(["channels_last", "channels_first"]),
       dtype=st.sampled_from([np.float32, np.float64, np.float16]))
def test_pool_on_emulated_gpu_matches_numpy_and_the_loop(emulated, rank, data, kind, padding,
                                                         fmt, dtype):
    from tests.support import pool_refs

    pool_size = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    spatial = tuple(data.draw(st.integers(k, 6)) for k in pool_size)
    x = _rand(np.random.default_rng(1), (2, *spatial, 3), dtype)
    xin = np.ascontiguousarray(np.moveaxis(x, -1, 1)) if fmt == "channels_first" else x
    launched = _compare(emulated, lambda: ops.pool(xin, pool_size, strides=strides,
                                                   padding=padding, kind=kind,
                                                   data_format=fmt), dtype)
    suffix = "ndhwc" if fmt == "channels_last" else "ncdhw"
    assert launched == [f"cthulhu_pool_{suffix}<{_CTYPE[dtype]}>"]
    with emulated:
        got = ops.pool(xin, pool_size, strides=strides, padding=padding, kind=kind,
                       data_format=fmt)
    want = pool_refs.pool(x, pool_size, strides, padding, kind)
    if fmt == "channels_first":
        want = pool_refs.to_first(want)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=TOL[dtype] * 10,
                               atol=TOL[dtype] * 10)


_CTYPE = {np.float32: "float", np.float64: "double", np.float16: "cthulhu_half"}


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("shape, dtype", [((2, 7, 5, 3), np.float32), ((3, 40, 37, 1), np.float64),
                                          ((1, 9, 300), np.float32), ((2, 4, 3, 2, 5), np.float16),
                                          ((2, 300, 33), np.float32)])
def test_global_pool_on_emulated_gpu_matches_numpy_and_the_loop(emulated, fmt, kind, shape,
                                                                dtype):
    from tests.support import pool_refs

    x = _rand(np.random.default_rng(2), shape, dtype)
    xin = np.ascontiguousarray(np.moveaxis(x, -1, 1)) if fmt == "channels_first" else x
    for keepdims in (False, True):
        launched = _compare(emulated, lambda k=keepdims: ops.global_pool(
            xin, kind=kind, data_format=fmt, keepdims=k), dtype)
        suffix = "ndhwc" if fmt == "channels_last" else "ncdhw"
        assert launched == [f"cthulhu_global_pool_{suffix}<{_CTYPE[dtype]}>"]
    with emulated:
        got = ops.global_pool(xin, kind=kind, data_format=fmt)
    np.testing.assert_allclose(got.astype(np.float64), pool_refs.global_pool(x, kind),
                               rtol=TOL[dtype] * 10, atol=TOL[dtype] * 10)


def test_global_pool_of_one_long_volume_is_left_to_cupys_reduction(emulated):
    """N = 1 with 8 channels over 70000 positions: pool.cu would run one block; the plugin
    declines and the generic code (CuPy's reductions) runs, with the same numbers."""
    x = _rand(np.random.default_rng(3), (1, 70, 1000, 8), np.float32)
    launched = _compare(emulated, lambda: ops.global_pool(x, kind="average"), np.float32)
    assert launched == []
    launched = _compare(emulated, lambda: ops.global_pool(x[:, :60]), np.float32)
    assert launched == ["cthulhu_global_pool_ndhwc<float>"]


@pytest.mark.parametrize("kind", ["max", "average"])
def test_pool_kernels_keep_a_nan_on_the_emulated_gpu(emulated, kind):
    x = np.arange(2 * 6 * 6 * 3, dtype=np.float32).reshape(2, 6, 6, 3)
    x[1, 2, 3, 1] = np.nan
    with emulated:
        y = ops.pool(x, 2, kind=kind)
        g = ops.global_pool(x, kind=kind)
    assert np.isnan(y[1, 1, 1, 1]) and np.isnan(y).sum() == 1
    assert np.isnan(g[1, 1]) and np.isnan(g).sum() == 1


def test_trilinear_layer_on_emulated_gpu_matches_numpy_in_both_formats(emulated):
    from cthulhu import layers

    x = _rand(np.random.default_rng(5), (2, 3, 4, 2, 5), np.float32)
    for fmt in ("channels_last", "channels_first"):
        layer = layers.UbboSathla3D((2, 3, 1), data_format=fmt, interpolation="trilinear")
        launched = _compare(emulated, lambda layer=layer: layer(x), np.float32)
        assert len(launched) == 1 and "linear" in launched[0], fmt


def test_matmul_on_emulated_gpu_matches_numpy(emulated):
    rng = np.random.default_rng(3)
    x = _rand(rng, (2, 5, 7), np.float32)
    k = _rand(rng, (7, 4), np.float32)
    b = _rand(rng, (4,), np.float32)
    _compare(emulated, lambda: ops.matmul(x, k, bias=b, activation="relu"), np.float32)


def _conv_geometry(x, k, **cfg):
    """The geometry the op front-end hands the plugin (any dtype: shapes only)."""
    return ops.CONV.geometry(x.astype(np.float32), k, **cfg)


def test_plugin_declines_what_it_has_no_kernel_for(emulated):
    with emulated:
        from cthulhu.devices.cupy_ import _ops

        ints = np.ones((1, 4, 2), np.int32)
        k = np.ones((3, 2, 1), np.int32)
        assert _ops.conv(ints, k, geometry=_conv_geometry(ints, k),
                         epilogue=Epilogue()) is NotImplemented


def test_loader_compiles_one_instantiation_per_kernel_and_caches_it(emulated):
    rng = np.random.default_rng(0)
    x = _rand(rng, (1, 6, 6, 2), np.float32)
    k = _rand(rng, (3, 3, 2, 4), np.float32)
    fake_cupy.FakeRawModule.compiled.clear()
    _loader.clear_cache()
    with emulated:
        for _ in range(3):
            ops.conv(x, k, padding="same")
    compiled = fake_cupy.FakeRawModule.compiled
    assert len(compiled) == 1
    code, options, names = compiled[0]
    assert names == ("cthulhu_conv_nd_ndhwc<float, 64, 16, 4, 2>",)
    assert any(o.startswith("-DCTHULHU_HEADERS_SHA=") for o in options)


def test_ops_run_with_the_input_device_current():
    """A CuPy array's ``device`` is a context manager; the op enters it so that the
    kernel runs on the input's GPU, not on whichever one is current."""
    from cthulhu.devices.cupy_ import _ops

    entered = []

    class Device:
        def __enter__(self):
            entered.append("in")

        def __exit__(self, *exc):
            entered.append("out")

    class Array:
        device = Device()
        dtype = np.dtype(np.int8)  # declined at once: no kernel for int8

    g = _conv_geometry(np.ones((1, 4, 2)), np.ones((3, 2, 1)))
    assert _ops.conv(Array(), None, geometry=g, epilogue=Epilogue()) is NotImplemented
    assert entered == ["in", "out"]


def test_empty_batch_launches_nothing(emulated):
    x = np.zeros((0, 5, 5, 2), np.float32)
    k = np.ones((3, 3, 2, 4), np.float32)
    fake_cupy.FakeRawModule.launched.clear()
    with emulated:
        from cthulhu.devices.cupy_ import _ops

        y = _ops.conv(x, k, geometry=_conv_geometry(x, k, padding="same"),
                      epilogue=Epilogue())
        u = _ops.upsample(x, geometry=ops.UPSAMPLE.geometry(x, (2, 2)), epilogue=Epilogue())
    assert y.shape == (0, 5, 5, 4) and u.shape == (0, 10, 10, 2)
    assert fake_cupy.FakeRawModule.launched == []


def _gpu_test_module():
    """tests/devices/test_cupy_plugin.py, loaded by path (test folders are not packages)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "devices" / "test_cupy_plugin.py"
    spec = importlib.util.spec_from_file_location("_cthulhu_gpu_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_op_cases_pass_on_the_emulated_gpu(emulated):
    """A dry run of the GPU equivalence cases (tests/devices/test_cupy_plugin.py) on the
    emulated kernels, so a GPU run starts from cases known to be right."""
    gpu = _gpu_test_module()
    for label, op, xshape, kshape, cfg in gpu.OP_CASES:
        x, k = gpu._rand(xshape, np.float32, 1), gpu._rand(kshape, np.float32, 2)
        out_channels = kshape[-2] if op == "conv_transpose" else (
            kshape[-2] * kshape[-1] if op == "depthwise_conv" else kshape[-1])
        b = gpu._rand((out_channels,), np.float32, 3)
        fn = getattr(ops, op)
        launched = _compare(emulated, lambda fn=fn, x=x, k=k, b=b, cfg=cfg: fn(
            x, k, bias=b, activation="relu", **cfg), np.float32)
        assert len(launched) == 1, label


def test_gpu_layer_and_model_cases_pass_on_the_emulated_gpu(emulated):
    """Every layer and the model of the GPU tests: emulated kernels vs the NumPy plugin,
    with the same weights (built on the NumPy call, reused on the emulated one)."""
    gpu = _gpu_test_module()
    for layer, shape in gpu._layer_cases():
        x = gpu._rand(shape, np.float32)
        expected = layer(x)
        with emulated:
            got = layer(x)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=layer.name)
    model = gpu._model()
    x = gpu._rand((3, 16, 16, 3), np.float32)
    expected = model.predict(x, batch_size=2)
    fake_cupy.FakeRawModule.launched.clear()
    with emulated:
        got = model.predict(x, batch_size=2)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    launched = set(fake_cupy.FakeRawModule.launched)
    # 3 input channels: conv_nd.cu; 8 (the transposed layer's): igemm.cu
    assert {"cthulhu_conv_nd_", "cthulhu_depthwise_cl", "cthulhu_upsample_linear_cl",
            "cthulhu_igemm_"} <= {n.partition("ndhwc")[0].partition("<")[0] for n in launched}


#: Documented error bounds (docs/devices.md): |y - exact| <= factor * sum |x||w| per
#: output, plus float32 accumulation of K terms ((K + 2) * 2**-24 of the same sum).
PRECISION_BOUND = {"strict": 0.0, "tf32": 2.0**-10, "bf16": 2.0**-8}
KERNEL_TYPES = {"strict": ("float, float", "false>"), "tf32": ("float, float", "true>"),
                "bf16": ("cthulhu_bf16, float", "true>")}


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize(("precision", "compute"), [(None, "strict"), ("float32", "strict"),
                                                    ("tf32", "tf32"), ("bfloat16", "bf16")])
def test_float32_precision_picks_the_path_and_meets_its_bound(emulated, fmt, precision,
                                                              compute):
    rng = np.random.default_rng(7)
    x = _rand(rng, (2, 6, 7, 8), np.float32)
    k = _rand(rng, (3, 3, 8, 12), np.float32)
    b = _rand(rng, (12,), np.float32)
    xin = x if fmt == "channels_last" else np.ascontiguousarray(np.moveaxis(x, -1, 1))
    exact = ops.conv(x.astype(np.float64), k.astype(np.float64), padding="same",
                     bias=b.astype(np.float64))
    absolute = ops.conv(np.abs(x).astype(np.float64), np.abs(k).astype(np.float64),
                        padding="same", bias=np.abs(b).astype(np.float64))
    fake_cupy.FakeRawModule.launched.clear()
    with emulated:
        y = ops.conv(xin, k, padding="same", bias=b, data_format=fmt, precision=precision)
    got = y if fmt == "channels_last" else np.moveaxis(y, 1, -1)
    igemm = [n for n in fake_cupy.FakeRawModule.launched if n.startswith("cthulhu_igemm")]
    types, tc = KERNEL_TYPES[compute]
    assert len(igemm) == 1 and igemm[0].startswith(f"cthulhu_igemm_ndhwc<{types},")
    assert igemm[0].endswith(tc)
    terms = 3 * 3 * 8
    bound = (PRECISION_BOUND[compute] + (terms + 2) * 2.0**-24) * absolute
    err = np.abs(got.astype(np.float64) - exact)
    assert (err <= bound).all(), float((err / bound).max())
    if compute != "strict":  # the rounding is real: not the float32 result
        assert err.max() > (terms + 2) * 2.0**-24 * absolute.max()


def test_precision_scope_reaches_dense_and_separable(emulated):
    from cthulhu import config

    rng = np.random.default_rng(3)
    x = _rand(rng, (5, 16), np.float32)
    k = _rand(rng, (16, 8), np.float32)
    fake_cupy.FakeRawModule.launched.clear()
    with emulated, config.float32_precision_scope("tf32"):
        y = ops.matmul(x, k, activation="relu")
        z = ops.separable_conv(_rand(rng, (1, 5, 5, 4), np.float32),
                               _rand(rng, (3, 3, 4, 2), np.float32),
                               _rand(rng, (1, 1, 8, 4), np.float32), padding="same")
    launched = fake_cupy.FakeRawModule.launched
    assert sum(n.startswith("cthulhu_igemm_ndhwc<float, float") for n in launched) == 2
    bound = 2.0**-10 * (np.abs(x) @ np.abs(k)).max() + 1e-5
    np.testing.assert_allclose(y, np.maximum(x @ k, 0), rtol=0, atol=bound)
    assert z.shape == (1, 5, 5, 4)
    with emulated:  # strict float32 again outside the scope: cuBLAS (here: NumPy) matmul
        fake_cupy.FakeRawModule.launched.clear()
        ops.matmul(x, k)
    assert fake_cupy.FakeRawModule.launched == []


@pytest.mark.parametrize("precision", ["float32", "tf32", "bfloat16"])
def test_gpu_fast_cases_meet_their_bounds_on_the_emulated_gpu(emulated, precision):
    """Dry run of test_gpu_fast_conv_meets_its_precision_bound (channels_last)."""
    gpu = _gpu_test_module()
    for label, op, xshape, kshape, cfg in gpu.FAST_CASES:
        x, k = gpu._rand(xshape, np.float32, 1), gpu._rand(kshape, np.float32, 2)
        b = gpu._rand((kshape[-2] if op == "conv_transpose" else kshape[-1],), np.float32, 3)
        exact, absolute = gpu._exact_and_abs(op, x, k, b, cfg, "channels_last")
        fake_cupy.FakeRawModule.launched.clear()
        with emulated:
            got = getattr(ops, op)(x, k, bias=b, precision=precision, **cfg).astype(np.float64)
        assert any(n.startswith("cthulhu_igemm") for n in fake_cupy.FakeRawModule.launched)
        terms = int(np.prod(kshape[:-1]))
        bound = (gpu.PRECISION_FACTOR[precision] + (terms + 2) * 2.0**-24) * absolute
        assert (np.abs(got - exact) <= bound).all(), label


def test_igemm_input_view_not_16_byte_aligned_is_copied(emulated):
    """A contiguous view that starts 4 bytes into its buffer would make cp.async fault
    (the emulator refuses it): the plugin copies it first."""
    rng = np.random.default_rng(5)
    base = _rand(rng, (1 + 2 * 5 * 5 * 8,), np.float32)
    x = base[1:].reshape(2, 5, 5, 8)
    assert x.flags.c_contiguous and x.ctypes.data % 16 != 0
    k = _rand(rng, (3, 3, 8, 4), np.float32)
    launched = _compare(emulated, lambda: ops.conv(x, k, padding="same"), np.float32)
    assert launched[0].startswith("cthulhu_igemm_ndhwc<")


@settings(max_examples=12, deadline=None)
@given(op=st.sampled_from(["conv", "depthwise_conv", "conv_transpose", "matmul"]),
       fmt=st.sampled_from(["channels_last", "channels_first"]),
       channels=st.sampled_from([3, 8]),
       activation=st.sampled_from([None, "relu", "relu6", "leaky_relu", "sigmoid", "tanh"]),
       parts=st.sampled_from(["bias", "bn", "all"]))
def test_full_epilogue_on_emulated_gpu_matches_numpy(emulated, op, fmt, channels, activation,
                                                     parts):
    """Every epilogue part the plugin declares (a folded batch norm, every activation),
    through Op.run, against the NumPy plugin plus the op's own epilogue; the convolutions
    (igemm.cu, conv_nd.cu with 3 channels, depthwise.cu) apply all of it in their one
    launch, a cuBLAS matmul in one eltwise.cu launch after it."""
    rng = np.random.default_rng(channels)
    x = _rand(rng, (2, 5, 6, channels), np.float32)
    if op == "matmul":
        k = _rand(rng, (channels, 4), np.float32)
        g = ops.MATMUL.geometry(x, k)
    else:
        x = x if fmt == "channels_last" else np.ascontiguousarray(np.moveaxis(x, -1, 1))
        kshape = {"conv": (3, 3, channels, 4), "depthwise_conv": (3, 3, channels, 2),
                  "conv_transpose": (3, 3, 4, channels)}[op]
        k = _rand(rng, kshape, np.float32)
        cfg = {"padding": "same", "data_format": fmt}
        if op == "conv_transpose":
            cfg["strides"] = 2
        g = ops.OPS[op].geometry(x, k, **cfg)
    f = g.out_features if op == "matmul" else g.out_channels
    bias = _rand(rng, (f,), np.float32) if parts in ("bias", "all") else None
    scale, shift = ((_rand(rng, (f,), np.float32), _rand(rng, (f,), np.float32))
                    if parts in ("bn", "all") else (None, None))
    epilogue = Epilogue(bias, scale, shift, activation, 0.25)
    launched = _compare(emulated, lambda: ops.OPS[op].run(x, (k,), g, epilogue), np.float32)
    if op != "matmul":
        assert len(launched) == 1, launched
    else:                       # cuBLAS (here NumPy's matmul) launches no kernel of ours
        assert launched == [] or [n.partition("<")[0] for n in launched] == [
            "cthulhu_channel_epilogue_nhwc"], launched
