"""The CuPy plugin: its behaviour without CuPy (always tested) and, on a machine with a
GPU, CuPy results equal to NumPy results for every op, layer and a whole model, and a
Dask array of CuPy blocks through the Dask device.

GPU tests carry ``@pytest.mark.gpu``. Without CuPy or a GPU they skip, except under
``CTHULHU_REQUIRE_GPU=1`` (a GPU runner), where a missing GPU is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from cthulhu import devices
from cthulhu.devices.base import OPS
from cthulhu.devices.cupy_ import CupyPlugin
from tests.support import fold_cases


def _cupy_installed() -> bool:
    try:
        return importlib.util.find_spec("cupy") is not None
    except ValueError:  # a stand-in module without a spec (tests/support/fake_cupy.py)
        return True


HAVE_CUPY_MODULE = _cupy_installed()


# -- without a GPU ----------------------------------------------------------------------

@pytest.mark.skipif(HAVE_CUPY_MODULE, reason="cupy is installed here")
def test_plugin_reports_missing_cupy():
    ok, reason = CupyPlugin().available()
    assert ok is False
    assert reason.startswith("cupy is not installed")


def test_plugin_module_imports_no_array_library():
    code = ("import sys, cthulhu.devices.cupy_ as m; p = m.CupyPlugin(); p.available(); "
            "print(sorted(k for k in ('cupy', 'numpy', 'dask') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ("['cupy']" if HAVE_CUPY_MODULE else "[]")


def test_plugin_serves_the_cupy_key_and_every_op():
    plugin = CupyPlugin()
    assert plugin.name == "cupy" and plugin.keys == ("cupy",)
    heavy = ("conv", "conv_transpose", "depthwise_conv", "separable_conv", "matmul",
             "upsample")
    assert set(heavy) <= set(OPS)
    for op in heavy:
        impl = plugin.get(op)
        assert callable(impl), op
        if op != "upsample":  # nothing to fuse there
            fusion = impl.cthulhu_fuses
            assert fusion.parts == {"bias", "scale", "shift", "activation"}, op
            assert fusion.activations == {"relu", "relu6", "leaky_relu", "sigmoid", "tanh"}
        else:
            assert getattr(impl, "cthulhu_fuses", None) is None
    for op in ("pool", "global_pool"):       # pooling has no epilogue to fuse
        assert callable(plugin.get(op)) and getattr(plugin.get(op), "cthulhu_fuses", None) is None
    assert plugin.get("model") is None  # a model runs layer by layer, each op on the GPU


def test_builtin_table_points_at_the_plugin():
    assert devices.BUILTIN["cupy"] == "cthulhu.devices.cupy_:CupyPlugin"


@pytest.mark.skipif(HAVE_CUPY_MODULE, reason="cupy is installed here")
def test_registry_explains_the_fallback_for_cupy_arrays():
    fake_array = type("ndarray", (), {"__module__": "cupy._core.core"})()
    why = devices.explain(fake_array, "conv")
    assert why.key == "cupy" and why.plugin == "generic"
    assert "cupy is not installed" in why.reason


@pytest.mark.skipif(HAVE_CUPY_MODULE, reason="cupy is installed here")
def test_cli_lists_cupy_as_unavailable_with_the_reason():
    proc = subprocess.run([sys.executable, "-m", "cthulhu", "devices"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("cupy"))
    assert " no " in f" {row} " and "cupy is not installed" in row


def test_gpu_cases_are_valid_on_numpy():
    """The NumPy side of every GPU comparison below runs here, so a GPU run can only fail
    on what differs on the GPU (and the cases stay valid as the layers evolve)."""
    from cthulhu import ops

    for _, op, xshape, kshape, cfg in OP_CASES:
        getattr(ops, op)(_rand(xshape, np.float32), _rand(kshape, np.float32), **cfg)
    for layer, shape in _layer_cases():
        layer(_rand(shape, np.float32))
    assert _model().predict(_rand((3, 16, 16, 3), np.float32)).shape == (3, 64, 64, 2)


# -- on a GPU ---------------------------------------------------------------------------

def _gpu_problem() -> str | None:
    if not HAVE_CUPY_MODULE:
        return "cupy is not installed"
    ok, reason = CupyPlugin().available()
    return None if ok else reason


@pytest.fixture(scope="module")
def cp():
    problem = _gpu_problem()
    if problem is not None:
        if os.environ.get("CTHULHU_REQUIRE_GPU") == "1":
            pytest.fail(f"CTHULHU_REQUIRE_GPU=1 but no GPU can be used: {problem}")
        pytest.skip(f"needs a GPU: {problem}")
    import cupy

    return cupy


TOL = {np.float32: 2e-4, np.float64: 1e-10, np.float16: 2e-2}


def _close(cp, got, expected, dtype):
    assert isinstance(got, cp.ndarray)
    assert got.dtype == expected.dtype
    got = cp.asnumpy(got).astype(np.float64)
    expected = np.asarray(expected).astype(np.float64)
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL[dtype] * scale)


def _rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _both(cp, fn, *arrays):
    """``fn`` on NumPy arrays and on the same arrays moved to the GPU."""
    return fn(*arrays), fn(*(None if a is None else cp.asarray(a) for a in arrays))


OP_CASES = [
    ("conv1d causal", "conv", (2, 17, 3), (3, 3, 8), dict(padding="causal", dilation=2)),
    ("conv2d same s2", "conv", (2, 11, 9, 5), (3, 3, 5, 70), dict(padding="same", strides=2)),
    ("conv2d valid nchw", "conv", (2, 5, 12, 10), (3, 2, 5, 16),
     dict(padding="valid", data_format="channels_first")),
    ("conv3d same", "conv", (1, 6, 7, 8, 4), (3, 3, 3, 4, 33), dict(padding="same")),
    ("conv3d nchw dil", "conv", (1, 4, 9, 8, 7), (3, 3, 3, 4, 6),
     dict(padding="valid", dilation=2, data_format="channels_first")),
    ("conv2d explicit pads", "conv", (2, 8, 8, 3), (3, 3, 3, 4),
     dict(padding=((2, 0), (1, 3)))),
    ("convT2d same s2", "conv_transpose", (2, 5, 6, 4), (3, 3, 7, 4),
     dict(padding="same", strides=2)),
    ("convT2d valid outpad", "conv_transpose", (1, 5, 4, 3), (3, 3, 2, 5),
     dict(padding="valid", strides=2, output_padding=1, data_format="channels_first")),
    ("convT3d", "conv_transpose", (1, 3, 4, 5, 2), (2, 3, 3, 6, 2),
     dict(padding="same", strides=(1, 2, 2))),
    ("depthwise2d", "depthwise_conv", (2, 9, 10, 6), (3, 3, 6, 2), dict(padding="same")),
    ("depthwise2d nchw s2", "depthwise_conv", (2, 6, 9, 10), (3, 3, 6, 1),
     dict(padding="valid", strides=2, data_format="channels_first")),
    ("depthwise1d m2", "depthwise_conv", (2, 17, 5), (3, 5, 2), dict(padding="same")),
    ("depthwise1d nch s2", "depthwise_conv", (2, 4, 15), (4, 4, 1),
     dict(strides=2, data_format="channels_first")),
    ("depthwise3d", "depthwise_conv", (1, 6, 7, 8, 8), (3, 3, 3, 8, 1), dict(padding="same")),
    ("depthwise3d nchw dil", "depthwise_conv", (1, 3, 7, 6, 8), (2, 2, 3, 3, 2),
     dict(dilation=2, data_format="channels_first")),
    ("convT1d s2", "conv_transpose", (2, 9, 4), (3, 6, 4),
     dict(padding="same", strides=2, output_padding=1)),
]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize(("label", "op", "xshape", "kshape", "cfg"), OP_CASES,
                         ids=[c[0] for c in OP_CASES])
def test_gpu_op_matches_numpy(cp, label, op, xshape, kshape, cfg, dtype):
    from cthulhu import ops

    x, k = _rand(xshape, dtype, 1), _rand(kshape, dtype, 2)
    out_channels = kshape[-2] if op == "conv_transpose" else (
        kshape[-2] * kshape[-1] if op == "depthwise_conv" else kshape[-1])
    b = _rand((out_channels,), dtype, 3)
    fn = getattr(ops, op)
    expected, got = _both(cp, lambda x_, k_, b_: fn(x_, k_, bias=b_, activation="relu", **cfg),
                          x, k, b)
    _close(cp, got, expected, dtype)
    assert devices.explain(cp.asarray(x), op).plugin == "cupy"


@pytest.mark.gpu
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_gpu_separable_matmul_upsample_match_numpy(cp, fmt, dtype):
    from cthulhu import ops

    x = _rand((2, 7, 8, 3) if fmt == "channels_last" else (2, 3, 7, 8), dtype)
    dk, pk, b = _rand((3, 3, 3, 2), dtype, 1), _rand((1, 1, 6, 5), dtype, 2), _rand((5,), dtype)
    expected, got = _both(cp, lambda *a: ops.separable_conv(
        *a[:3], bias=a[3], padding="same", data_format=fmt, activation="relu"), x, dk, pk, b)
    _close(cp, got, expected, dtype)
    for interpolation in ("nearest", "bilinear"):
        expected, got = _both(cp, lambda a, mode=interpolation: ops.upsample(
            a, (2, 3), interpolation=mode, data_format=fmt), x)
        _close(cp, got, expected, dtype)
    m, w = _rand((4, 9), dtype), _rand((9, 6), dtype)
    expected, got = _both(cp, lambda a, c: ops.matmul(a, c, activation="relu"), m, w)
    _close(cp, got, expected, dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_gpu_pooling_matches_numpy(cp, fmt, dtype):
    from cthulhu import ops

    for shape in ((2, 7, 8, 3), (2, 9, 5), (1, 6, 5, 7, 4), (2, 300, 260, 33)):
        x = _rand(shape if fmt == "channels_last" else (shape[0], shape[-1], *shape[1:-1]),
                  dtype)
        rank = len(shape) - 2
        for kind in ("max", "average"):
            for padding in ("valid", "same"):
                expected, got = _both(cp, lambda a, k=kind, p=padding, r=rank: ops.pool(
                    a, (3,) * r, strides=(2,) * r, padding=p, kind=k, data_format=fmt), x)
                _close(cp, got, expected, dtype)
            expected, got = _both(cp, lambda a, k=kind: ops.global_pool(
                a, kind=k, data_format=fmt, keepdims=True), x)
            _close(cp, got, expected, dtype)


def _layer_cases():
    from cthulhu import layers as L

    return [
        (L.Cthalpa1D(4, 3, padding="causal", activation="relu"), (2, 12, 3)),
        (L.Cthalpa2D(6, 3, strides=2, padding="same"), (2, 9, 9, 3)),
        (L.Cthalpa2D(5, (2, 3), data_format="channels_first", dilation_rate=2), (2, 3, 9, 10)),
        (L.Cthalpa3D(4, 3, padding="same", activation="relu"), (1, 5, 6, 7, 2)),
        (L.Cthalpa2DTranspose(4, 3, strides=2, padding="same"), (2, 5, 6, 3)),
        (L.Cthalpa3DTranspose(3, 2, strides=2), (1, 3, 4, 3, 2)),
        (L.DepthwiseCthalpa2D(3, depth_multiplier=2, padding="same"), (2, 7, 7, 3)),
        (L.SeparableCthalpa1D(5, 3, padding="same"), (2, 10, 3)),
        (L.SeparableCthalpa2D(5, 3, depth_multiplier=2), (2, 8, 8, 3)),
        (L.UbboSathla1D(3), (2, 5, 3)),
        (L.UbboSathla2D((2, 3), interpolation="bilinear"), (2, 4, 5, 3)),
        (L.UbboSathla3D(2), (1, 3, 3, 3, 2)),
        (L.UbboSathla3D((2, 1, 3), interpolation="trilinear"), (1, 3, 4, 3, 4)),
        (L.UbboSathla3D(2, interpolation="trilinear", data_format="channels_first"),
         (1, 3, 3, 4, 5)),
        (L.Cthalpa1DTranspose(4, 3, strides=2, padding="same"), (2, 7, 3)),
        (L.DepthwiseCthalpa1D(3, depth_multiplier=2), (2, 9, 4)),
        (L.DepthwiseCthalpa3D(3, padding="same", data_format="channels_first"),
         (1, 4, 5, 6, 5)),
        (L.SeparableCthalpa3D(6, 3, padding="same", activation="relu"), (1, 5, 6, 5, 4)),
        (L.Xexanoth2D(((1, 2), (0, 1))), (2, 4, 5, 3)),
        (L.Cropping2D(((1, 0), (0, 2))), (2, 6, 6, 3)),
        (L.Daoloth(7, activation="relu"), (2, 5, 6)),
        (L.Flatten(), (2, 3, 4, 2)),
        (L.MaxPooling2D(3, strides=2, padding="same"), (2, 7, 8, 3)),
        (L.AveragePooling3D(2, padding="same", data_format="channels_first"), (1, 2, 5, 4, 3)),
        (L.AveragePooling1D(3, strides=1, padding="same"), (2, 9, 4)),
        (L.GlobalAveragePooling2D(), (2, 5, 6, 3)),
        (L.GlobalMaxPooling3D(data_format="channels_first", keepdims=True), (1, 3, 4, 5, 2)),
    ]


@pytest.mark.gpu
def test_gpu_every_layer_matches_numpy(cp):
    for layer, shape in _layer_cases():
        x = _rand(shape, np.float32)
        expected = layer(x)
        got = layer(cp.asarray(x))
        _close(cp, got, expected, np.float32)


def _model():
    from cthulhu import layers as L
    from cthulhu.models import Pile

    return Pile([
        L.Cthalpa2D(8, 3, padding="same", activation="relu", input_shape=(16, 16, 3)),
        L.DepthwiseCthalpa2D(3, padding="same"),
        L.UbboSathla2D(2, interpolation="bilinear"),
        L.Cthalpa2DTranspose(4, 3, strides=2, padding="same"),
        L.SeparableCthalpa2D(6, 3, padding="same", activation="relu"),
        L.Cthalpa2D(2, 1),
    ])


@pytest.mark.gpu
def test_gpu_model_matches_numpy_with_the_same_weights(cp):
    model = _model()
    x = _rand((3, 16, 16, 3), np.float32)
    _close(cp, model.predict(cp.asarray(x), batch_size=2), model.predict(x, batch_size=2),
           np.float32)


@pytest.mark.gpu
def test_gpu_dask_array_of_cupy_blocks(cp):
    da = pytest.importorskip("dask.array")
    from cthulhu import layers as L
    from cthulhu.models import Pile

    model = Pile([L.Cthalpa2D(4, 3, padding="same", activation="relu",
                              input_shape=(20, 18, 2)),
                  L.Cthalpa2D(3, 3, padding="same")])
    x = _rand((2, 20, 18, 2), np.float32)
    expected = model.predict(x)
    dx = da.from_array(cp.asarray(x), chunks=(1, 7, 9, 2), asarray=False)
    lazy = model.predict(dx)
    got = lazy.compute()
    _close(cp, got, expected, np.float32)


# -- the fast paths (igemm.cu, vectorised memory-bound kernels) and their precision ------

#: Documented bounds (docs/devices.md): |y - exact| <= factor * sum|x||w| + (K + 2) u sum|x||w|.
PRECISION_FACTOR = {"float32": 0.0, "tf32": 2.0**-10, "bfloat16": 2.0**-8}

FAST_CASES = [
    # label, op, x shape (channels_last), kernel shape, config
    ("conv2d 3x3 s1 partial tiles", "conv", (2, 13, 11, 24), (3, 3, 24, 40), dict(padding="same")),
    ("conv2d s2 dil", "conv", (1, 17, 15, 16), (3, 3, 16, 20),
     dict(padding="valid", strides=(2, 1))),
    ("conv3d 3x3x3", "conv", (1, 9, 8, 7, 16), (3, 3, 3, 16, 16), dict(padding="same")),
    ("conv1d dilated", "conv", (3, 40, 32), (5, 32, 130), dict(padding="causal", dilation=2)),
    ("convT2d s2", "conv_transpose", (2, 9, 7, 16), (3, 3, 24, 16),
     dict(padding="same", strides=2)),
    ("convT3d s2", "conv_transpose", (1, 5, 4, 6, 8), (3, 3, 3, 8, 8),
     dict(padding="valid", strides=2)),
]


def _exact_and_abs(op, x, k, b, cfg, fmt):
    from cthulhu import ops

    fn = getattr(ops, op)
    x64, k64, b64 = (a.astype(np.float64) for a in (x, k, b))
    exact = fn(x64, k64, bias=b64, data_format=fmt, **cfg)
    absolute = fn(np.abs(x64), np.abs(k64), bias=np.abs(b64), data_format=fmt, **cfg)
    return exact, absolute


@pytest.mark.gpu
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("precision", ["float32", "tf32", "bfloat16"])
@pytest.mark.parametrize(("label", "op", "xshape", "kshape", "cfg"), FAST_CASES,
                         ids=[c[0] for c in FAST_CASES])
def test_gpu_fast_conv_meets_its_precision_bound(cp, label, op, xshape, kshape, cfg,
                                                 precision, fmt):
    from cthulhu import ops

    x, k = _rand(xshape, np.float32, 1), _rand(kshape, np.float32, 2)
    if fmt == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    b = _rand((kshape[-2] if op == "conv_transpose" else kshape[-1],), np.float32, 3)
    exact, absolute = _exact_and_abs(op, x, k, b, cfg, fmt)
    got = getattr(ops, op)(cp.asarray(x), cp.asarray(k), bias=cp.asarray(b), data_format=fmt,
                           precision=precision, **cfg)
    assert isinstance(got, cp.ndarray) and got.dtype == np.float32
    got = cp.asnumpy(got).astype(np.float64)
    terms = int(np.prod(kshape[:-1]))
    bound = (PRECISION_FACTOR[precision] + (terms + 2) * 2.0**-24) * absolute
    err = np.abs(got - exact)
    assert (err <= bound).all(), f"{label}: worst error / bound = {(err / bound).max():.3g}"
    rel = np.linalg.norm(got - exact) / np.linalg.norm(exact)
    assert rel < {"float32": 1e-5, "tf32": 1e-3, "bfloat16": 1e-2}[precision], rel


@pytest.mark.gpu
def test_gpu_tensor_cores_really_round(cp):
    """tf32 and bf16 give results that differ from strict float32 (the tensor cores ran),
    strict float32 stays within float32 rounding of float64."""
    from cthulhu import ops

    x, k = _rand((2, 16, 16, 32), np.float32, 1), _rand((3, 3, 32, 32), np.float32, 2)
    exact = ops.conv(x.astype(np.float64), k.astype(np.float64), padding="same")
    errors = {}
    for precision in ("float32", "tf32", "bfloat16"):
        got = cp.asnumpy(ops.conv(cp.asarray(x), cp.asarray(k), padding="same",
                                  precision=precision)).astype(np.float64)
        errors[precision] = np.linalg.norm(got - exact) / np.linalg.norm(exact)
    # float64-exact products of rounded operands give ~3e-4 (tf32) and ~2.4e-3 (bf16)
    assert errors["float32"] < 5e-6, errors
    assert 5e-5 < errors["tf32"] < 2e-3 and 5e-4 < errors["bfloat16"] < 2e-2, errors


@pytest.mark.gpu
def test_gpu_float16_conv_uses_exact_products(cp):
    from cthulhu import ops

    x, k = _rand((2, 12, 12, 16), np.float16, 1), _rand((3, 3, 16, 24), np.float16, 2)
    exact, absolute = _exact_and_abs("conv", x, k, np.zeros(24, np.float16), {"padding": "same"},
                                     "channels_last")
    got = cp.asnumpy(ops.conv(cp.asarray(x), cp.asarray(k), padding="same")).astype(np.float64)
    bound = (3 * 3 * 16 + 2) * 2.0**-24 * absolute + 2.0**-11 * np.abs(exact) + 1e-7
    assert (np.abs(got - exact) <= bound).all()


@pytest.mark.gpu
@pytest.mark.parametrize("compute", ["strict", "tf32", "bf16", "f16"])
def test_gpu_every_igemm_tile_runs(cp, compute):
    """Each tile of each computation, forced, on a shape with partial tiles in M, N and
    K (dynamic shared memory past 48 KiB included), against NumPy."""
    from cthulhu.devices.cupy_._geometry import ConvGeometry, Epilogue

    from cthulhu import ops
    from cthulhu.devices.cupy_ import _conv, _igemm

    dtype = np.float16 if compute == "f16" else np.float32
    x, k = _rand((2, 11, 13, 40), dtype, 1), _rand((3, 3, 40, 37), dtype, 2)
    b, s, t = (_rand((37,), dtype, i) for i in (3, 4, 5))
    expected = ops.conv(x.astype(np.float64), k.astype(np.float64), padding="same",
                        bias=b.astype(np.float64))
    expected = np.clip(expected * s + t, 0, 6)
    geometry = ConvGeometry(kind="conv", rank=2, data_format="channels_last", batch=2,
                            in_spatial=(11, 13), in_channels=40, out_spatial=(11, 13),
                            out_channels=37, kernel_size=(3, 3), strides=(1, 1),
                            dilation=(1, 1), pads=((1, 1), (1, 1)))
    for tile in _igemm.TILES[_igemm.family(compute)]:
        epi = Epilogue(bias=cp.asarray(b), scale=cp.asarray(s), shift=cp.asarray(t),
                       activation="relu6")
        got = _conv.conv_igemm(cp.asarray(x), cp.asarray(k), geometry, epi, compute, tile=tile)
        tol = {"strict": 1e-4, "tf32": 2e-2, "bf16": 1e-1, "f16": 5e-2}[compute]
        np.testing.assert_allclose(cp.asnumpy(got).astype(np.float64), expected, rtol=0,
                                   atol=tol * max(1, np.abs(expected).max()), err_msg=tile)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_gpu_vectorised_memory_kernels_match_numpy(cp, dtype):
    from cthulhu import ops

    x3 = _rand((2, 5, 6, 7, 8), dtype)
    for mode in ("nearest", "bilinear"):  # bilinear in 3D: trilinear
        expected, got = _both(cp, lambda a, m=mode: ops.upsample(a, (2, 3, 2), interpolation=m), x3)
        _close(cp, got, expected, dtype)
    x = _rand((2, 9, 10, 12), dtype)
    dk, b = _rand((3, 3, 12, 1), dtype, 1), _rand((12,), dtype, 2)
    expected, got = _both(cp, lambda a, c, d: ops.depthwise_conv(
        a, c, bias=d, padding="same", strides=2, activation="relu"), x, dk, b)
    _close(cp, got, expected, dtype)


@pytest.mark.gpu
def test_gpu_runtime_helpers(cp):
    from cthulhu.devices.cupy_ import _runtime

    out = _runtime.warm_up(compile_all=True, devices=[0])
    assert out["kernels"] > 10
    ctx = _runtime.worker_context(0)
    x = _rand((3, 17, 5), np.float32)
    np.testing.assert_array_equal(ctx.to_host(ctx.to_device(x)), x)
    assert ctx.allocations == 2
    devices = list(range(cp.cuda.runtime.getDeviceCount()))
    with _runtime.GpuPool(devices) as pool:
        ids = pool.map(lambda d, i: (d, cp.cuda.Device().id), range(2 * len(devices)))
    assert all(d == current for d, current in ids)


@pytest.mark.gpu
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_gpu_folded_conv_bn_relu_matches_unfolded_numpy(cp, fmt):
    """conv -> BN -> ReLU(6) and depthwise -> BN -> ReLU folded at inference on the GPU
    equal the unfolded layers on NumPy (cthulhu.engine.fusion)."""
    from cthulhu import layers as L
    from cthulhu.engine import fusion
    from cthulhu.models import Pile

    rng = np.random.default_rng(5)
    axis = -1 if fmt == "channels_last" else 1
    shape = (2, 9, 10, 8) if fmt == "channels_last" else (2, 8, 9, 10)
    model = Pile([L.InputLayer(input_shape=shape[1:]),
                  L.Cthalpa2D(16, 3, padding="same", data_format=fmt),
                  L.BatchNormalization(axis=axis), L.ReLU(max_value=6.0),
                  L.DepthwiseCthalpa2D(3, padding="same", data_format=fmt),
                  L.BatchNormalization(axis=axis), L.ReLU()])
    for layer in model.layers:
        weights = [rng.uniform(0.5, 2.0, w.shape) if "batch" in layer.name
                   else rng.standard_normal(w.shape) for w in layer.get_weights()]
        layer.set_weights([w.astype(np.float32) for w in weights])
    x = rng.standard_normal(shape).astype(np.float32)
    with fusion.folding(False):
        expected = model(x)
    got = model(cp.asarray(x))
    _close(cp, got, expected, np.float32)


@pytest.mark.gpu
@pytest.mark.parametrize("act", ["relu6", "leaky_relu"])
@pytest.mark.parametrize(("label", "shape", "dtype", "producer", "kernel"),
                         fold_cases.CASES, ids=[c[0] for c in fold_cases.CASES])
def test_gpu_folded_chain_is_one_fused_launch(cp, label, shape, dtype, producer, kernel, act):
    """Every kernel route (igemm.cu, conv_nd.cu incl. transposed and float64, depthwise.cu
    vectorised and general, 1D-3D, both formats): conv -> BN -> activation folded at
    inference is one launch handed the batch norm and the activation, and equals the
    unfolded layers on NumPy (the emulated twin: tests/kernels/test_fusion_emulated.py)."""
    from cthulhu.engine import fusion

    make_activation, act_code = fold_cases.ACTIVATIONS[act]
    rng = np.random.default_rng(len(label))
    producer, activation = producer(), make_activation()
    model = fold_cases.folded_model(shape, producer, activation, dtype, rng)
    x = rng.standard_normal(shape).astype(dtype)
    with fusion.folding(False):
        expected = model(x)
    with fold_cases.recorded_launches() as launches:
        got = model(cp.asarray(x))
    fold_cases.check_one_fused_launch(launches, kernel, producer, act_code, activation, dtype)
    _close(cp, got, expected, dtype)
