"""The NumPy plugin's chunked, threaded paths equal the generic code.

Tiny chunk sizes force many chunks (and, with two workers, concurrent ones)
through every branch: row-shift GEMMs accumulating over the last axis, the
full-gather branch for thin inputs, the copy-free 1D branch, strided im2col,
the two-wave col2im of transposed convolutions, depthwise and separable.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import ops
from cthulhu.devices.numpy_ import _common


@pytest.fixture(params=[("1", "1"), ("2", "1"), ("1", "0"), ("2", "0")],
                ids=["1-thread", "2-threads", "1-thread-numpy", "2-threads-numpy"])
def tiny_chunks(request, monkeypatch):
    """Tiny chunks, 1 or 2 threads, native kernels on (where they apply) or off."""
    threads, native = request.param
    monkeypatch.setattr(_common, "CHUNK_BYTES", 64)
    monkeypatch.setenv("CTHULHU_NUM_THREADS", threads)
    monkeypatch.setenv("CTHULHU_NATIVE", native)


def _data(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape)


CONV_CASES = [
    # (x shape channels_last, kernel shape, cfg)
    ((2, 17, 19, 32), (3, 3, 32, 5), dict(padding="same")),             # accumulate last axis
    ((2, 17, 19, 3), (3, 2, 3, 4), dict(padding="same", dilation=2)),   # thin: gather all
    ((3, 300, 40), (3, 40, 6), dict(padding="causal")),                  # 1D, copy-free
    ((3, 300, 4), (5, 4, 6), dict(padding="valid")),                     # 1D thin
    ((1, 9, 8, 11, 3), (3, 3, 3, 3, 2), dict(padding="same")),          # 3D
    ((2, 17, 19, 6), (3, 3, 6, 4), dict(padding="same", strides=2)),    # strided im2col
    ((2, 6, 5, 3), (3, 3, 3, 4), dict(padding="valid")),                # mostly padding rows
]


@pytest.mark.parametrize("xshape,kshape,cfg", CONV_CASES)
def test_chunked_conv_equals_generic(tiny_chunks, xshape, kshape, cfg):
    x, k, b = _data(xshape, 1), _data(kshape, 2), _data(kshape[-1:], 3)
    y = ops.conv(x, k, bias=b, activation="relu", **cfg)
    expected = np.maximum(ops.CONV.reference(x, k, **cfg) + b, 0)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xshape,kshape,cfg", [
    ((2, 13, 11, 6), (3, 3, 4, 6), dict(strides=2, padding="same")),
    ((2, 13, 11, 6), (4, 4, 4, 6), dict(strides=2, padding="valid", output_padding=1)),
    ((1, 7, 6, 5, 3), (3, 3, 3, 2, 3), dict(strides=(1, 2, 2), padding="same")),
    ((2, 40, 3), (5, 2, 3), dict(strides=3, padding="valid")),
    ((2, 40, 3), (3, 2, 3), dict(dilation=2, padding="same")),
])
def test_chunked_conv_transpose_equals_generic(tiny_chunks, xshape, kshape, cfg):
    x, k, b = _data(xshape, 4), _data(kshape, 5), _data(kshape[-2:-1], 6)
    y = ops.conv_transpose(x, k, bias=b, **cfg)
    expected = ops.CONV_TRANSPOSE.reference(x, k, **cfg) + b
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("multiplier", [1, 3])
@pytest.mark.parametrize("cfg", [dict(padding="same"), dict(padding="valid", strides=2),
                                 dict(padding="same", dilation=(2, 1))])
def test_chunked_depthwise_and_separable_equal_generic(tiny_chunks, multiplier, cfg):
    x = _data((2, 15, 14, 5), 7)
    dk = _data((3, 3, 5, multiplier), 8)
    pk = _data((1, 1, 5 * multiplier, 4), 9)
    y = ops.depthwise_conv(x, dk, **cfg)
    np.testing.assert_allclose(y, ops.DEPTHWISE_CONV.reference(x, dk, **cfg), rtol=1e-10, atol=1e-10)
    y = ops.separable_conv(x, dk, pk, activation="relu", **cfg)
    expected = np.maximum(ops.SEPARABLE_CONV.reference(x, dk, pk, **cfg), 0)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)


def test_scratch_buffers_do_not_leak_between_calls():
    """Reused per-thread buffers: a second call with other shapes leaves the first result intact."""
    x1, k1 = _data((1, 12, 12, 8), 10), _data((3, 3, 8, 8), 11)
    first = ops.conv(x1, k1, padding="same")
    kept = first.copy()
    ops.conv(_data((2, 20, 9, 8), 12), _data((3, 3, 8, 8), 13), padding="same")
    ops.depthwise_conv(_data((2, 20, 9, 8), 14), _data((3, 3, 8, 1), 15), padding="same")
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_allclose(first, ops.CONV.reference(x1, k1, padding="same"), atol=1e-12)


@pytest.mark.parametrize("native", ["1", "0"])
def test_blas_threads_restored_after_ops(monkeypatch, native):
    from cthulhu.devices.numpy_ import _threads

    monkeypatch.setenv("CTHULHU_NATIVE", native)
    before = _threads.blas_threads()
    if before is None:
        pytest.skip("threadpoolctl finds no BLAS in this process")
    ops.conv(_data((1, 30, 30, 16), 16), _data((3, 3, 16, 16), 17), padding="same")
    ops.separable_conv(_data((1, 30, 30, 16), 16), _data((3, 3, 16, 1), 17),
                       _data((1, 1, 16, 8), 18), padding="same")
    assert _threads.blas_threads() == before


class _FakeBlas:
    """A threadpoolctl library controller stand-in: the thread count it was set to."""

    def __init__(self, n):
        self.num_threads = n

    def set_num_threads(self, n):
        self.num_threads = n


def test_single_threaded_blas_is_shared_by_concurrent_callers(monkeypatch):
    """The last of overlapping callers restores BLAS's count, not the first one."""
    import threading

    from cthulhu.devices.numpy_ import _threads

    libs = [_FakeBlas(4), _FakeBlas(3)]
    monkeypatch.setattr(_threads, "_blas_libs", lambda: libs)
    before = _threads.blas_threads()
    assert before == 4 and _threads.workers() == 4
    inside, leave = threading.Event(), threading.Event()

    def hold():
        with _threads.single_threaded_blas():
            inside.set()
            leave.wait(10)

    other = threading.Thread(target=hold)
    other.start()
    inside.wait(10)
    with _threads.single_threaded_blas():
        assert _threads.blas_threads() == 1
        assert _threads.workers() == 4           # BLAS's own count, not the forced 1
    assert _threads.blas_threads() == 1          # the other caller is still inside
    leave.set()
    other.join()
    assert [lib.num_threads for lib in libs] == [4, 3]


@pytest.mark.parametrize("pads", [((2, 3), (0, 1)), ((4, 0), (-1, 2)), ((-1, -2), (3, 3))])
def test_conv_transpose_explicit_pairs_equal_generic(pads):
    """Explicit pairs (as the Dask device passes for blocks): beyond the kernel, or cropping."""
    x, k = _data((2, 7, 6, 3), 20), _data((3, 2, 4, 3), 21)
    y = ops.conv_transpose(x, k, strides=(2, 1), padding=pads)
    np.testing.assert_allclose(y, ops.CONV_TRANSPOSE.reference(x, k, strides=(2, 1), padding=pads),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("op,kshape,extra", [
    ("conv", (3, 2, 4, 5), {}),
    ("conv_transpose", (3, 3, 5, 4), {"strides": 2}),
    ("depthwise_conv", (3, 3, 4, 2), {}),
])
def test_strict_generic_equals_numpy_plugin_on_medium_sizes(op, kshape, extra):
    import array_api_strict as xps

    x, k = _data((2, 19, 17, 4), 22), _data(kshape, 23)
    on_numpy = getattr(ops, op)(x, k, padding="same", **extra)
    on_strict = getattr(ops, op)(xps.asarray(x), xps.asarray(k), padding="same", **extra)
    np.testing.assert_allclose(np.from_dlpack(on_strict), on_numpy, rtol=1e-10, atol=1e-10)


def test_pool_works_in_a_forked_child():
    """A child forked after the pool started gets its own threads (no deadlock)."""
    import multiprocessing

    ops.conv(_data((2, 30, 30, 8), 30), _data((3, 3, 8, 8), 31), padding="same")  # start pool
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(_conv_sum, ()).get(timeout=60)
    assert np.isfinite(result)


def _conv_sum():
    return float(ops.conv(_data((2, 30, 30, 8), 32), _data((3, 3, 8, 8), 33),
                          padding="same").sum())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_gemm_accumulates_on_strided_rows(dtype):
    from cthulhu.devices.numpy_ import _gemm

    if not _gemm.available(dtype):
        pytest.skip("no cblas gemm found in NumPy's OpenBLAS")
    rng = np.random.default_rng(40)
    big = rng.standard_normal((50, 12)).astype(dtype)
    a = big[3:40, 2:9]                         # 37 x 7 with row stride 12
    b = rng.standard_normal((7, 5)).astype(dtype)
    c = rng.standard_normal((37, 5)).astype(dtype)
    expected = c + a.astype(np.float64) @ b
    _gemm.gemm(a, b, c, 1.0)
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)
    _gemm.gemm(a, b, c, 0.0)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="do not match"):
        _gemm.gemm(a, b[:6], c, 1.0)


def test_conv_per_tap_and_gather_paths_agree(monkeypatch):
    from cthulhu.devices.numpy_ import conv as numpy_conv

    x, k = _data((2, 21, 18, 16), 41), _data((3, 3, 16, 8), 42)
    per_tap = ops.conv(x, k, padding="same", dilation=2)
    monkeypatch.setattr(numpy_conv, "_MIN_CHANNELS_PER_TAP", 10**6)
    gathered = ops.conv(x, k, padding="same", dilation=2)
    np.testing.assert_allclose(per_tap, gathered, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(per_tap, ops.CONV.reference(x, k, padding="same", dilation=2),
                               rtol=1e-10, atol=1e-10)


@st.composite
def _medium_case(draw):
    rank = draw(st.integers(1, 3))
    ksize = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    strided = draw(st.booleans())
    strides = tuple(draw(st.integers(1, 3)) if strided else 1 for _ in range(rank))
    dilation = tuple(1 if strided else draw(st.integers(1, 2)) for _ in range(rank))
    low = [d * (k - 1) + 1 for k, d in zip(ksize, dilation, strict=True)]
    spatial = tuple(draw(st.integers(n, n + (20 if rank < 3 else 6))) for n in low)
    return {
        "x": (draw(st.integers(1, 3)), *spatial, draw(st.sampled_from([1, 3, 8, 12]))),
        "ksize": ksize, "strides": strides, "dilation": dilation,
        "padding": draw(st.sampled_from(["valid", "same"])),
        "fmt": draw(st.sampled_from(["channels_last", "channels_first"])),
        "filters": draw(st.integers(1, 9)), "seed": draw(st.integers(0, 999)),
    }


@settings(max_examples=60)
@given(case=_medium_case(), threads=st.sampled_from(["1", "2"]),
       native=st.sampled_from(["0", "1"]))
def test_numpy_plugin_equals_generic_on_drawn_medium_cases(case, threads, native):
    """Medium sizes, tiny chunks: every fast path (native kernels on or off) against the
    generic code."""
    import os

    saved = _common.CHUNK_BYTES, os.environ.get("CTHULHU_NUM_THREADS")
    saved_native = os.environ.get("CTHULHU_NATIVE")
    _common.CHUNK_BYTES = 64
    os.environ["CTHULHU_NUM_THREADS"] = threads
    os.environ["CTHULHU_NATIVE"] = native
    try:
        x = _data(case["x"], case["seed"])
        if case["fmt"] == "channels_first":
            x = np.moveaxis(x, -1, 1)
        c = case["x"][-1]
        cfg = dict(strides=case["strides"], padding=case["padding"], dilation=case["dilation"],
                   data_format=case["fmt"])
        k = _data((*case["ksize"], c, case["filters"]), case["seed"] + 1)
        np.testing.assert_allclose(ops.conv(x, k, **cfg), ops.CONV.reference(x, k, **cfg),
                                   rtol=1e-9, atol=1e-9)
        kt = _data((*case["ksize"], case["filters"], c), case["seed"] + 2)
        np.testing.assert_allclose(ops.conv_transpose(x, kt, **cfg),
                                   ops.CONV_TRANSPOSE.reference(x, kt, **cfg), rtol=1e-9, atol=1e-9)
        kd = _data((*case["ksize"], c, 2), case["seed"] + 3)
        np.testing.assert_allclose(ops.depthwise_conv(x, kd, **cfg),
                                   ops.DEPTHWISE_CONV.reference(x, kd, **cfg), rtol=1e-9, atol=1e-9)
    finally:
        _common.CHUNK_BYTES = saved[0]
        if saved_native is None:
            os.environ.pop("CTHULHU_NATIVE", None)
        else:
            os.environ["CTHULHU_NATIVE"] = saved_native
        if saved[1] is None:
            os.environ.pop("CTHULHU_NUM_THREADS", None)
        else:
            os.environ["CTHULHU_NUM_THREADS"] = saved[1]


@pytest.mark.parametrize("pads", [((4, 4), (3, 5)), ((1, 0), (-1, 2))])
def test_conv_transpose_col2im_path_equals_generic(tiny_chunks, pads):
    """Stride and dilation both > 1 (explicit pairs only): the col2im scatter path."""
    x, k = _data((2, 9, 8, 3), 50), _data((3, 2, 4, 3), 51)
    cfg = dict(strides=(2, 3), dilation=(2, 2), padding=pads)
    np.testing.assert_allclose(ops.conv_transpose(x, k, **cfg),
                               ops.CONV_TRANSPOSE.reference(x, k, **cfg), rtol=1e-10, atol=1e-10)
