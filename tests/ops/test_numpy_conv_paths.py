"""Which stride-1 BLAS path the NumPy plugin's 3D convolution takes by channel count (native
kernels off), and that each equals the plain-loop reference and the generic code (tiny
chunks, 1 and 2 threads)."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cthulhu import ops
from cthulhu.devices.numpy_ import _common, _gemm
from cthulhu.devices.numpy_ import conv as numpy_conv
from tests.support import ops_reference as ref


@pytest.fixture(params=["1", "2"], ids=["1-thread", "2-threads"])
def tiny_chunks(request, monkeypatch):
    monkeypatch.setattr(_common, "CHUNK_BYTES", 64)
    monkeypatch.setenv("CTHULHU_NUM_THREADS", request.param)


@pytest.fixture(autouse=True)
def numpy_paths_only(monkeypatch):
    """These tests pick the BLAS paths: the native direct convolution would take the
    thin cases first (tests/ops/test_numpy_native.py covers it)."""
    monkeypatch.setenv("CTHULHU_NATIVE", "0")


@pytest.mark.parametrize("channels,filters,per_tap", [
    (8, 3, False), (12, 3, False), (16, 3, True),
    (4, 16, False), (8, 16, True), (12, 17, True),     # 16+ filters: per tap from 8 channels
])
def test_conv3d_path_by_channels_equals_references(tiny_chunks, monkeypatch, channels, filters,
                                                   per_tap):
    if not _gemm.available(np.float64):
        pytest.skip("no cblas gemm found in NumPy's OpenBLAS: only the gathered path exists")
    calls = []
    original = numpy_conv._conv_flat_per_tap
    monkeypatch.setattr(numpy_conv, "_conv_flat_per_tap",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    rng = np.random.default_rng(channels)
    x = rng.uniform(-1, 1, (2, 9, 10, 8, channels))  # mostly real rows: the flat path
    k = rng.uniform(-1, 1, (3, 2, 3, channels, filters))
    y = ops.conv(x, k, padding="same")
    assert bool(calls) is per_tap
    np.testing.assert_allclose(y, ref.conv(x, k, (1, 1, 1), "same", (1, 1, 1)),
                               rtol=1e-10, atol=1e-10)
    big = rng.uniform(-1, 1, (1, 9, 11, 10, channels))
    np.testing.assert_allclose(ops.conv(big, k, padding="same", dilation=(1, 2, 1)),
                               ops.CONV.reference(big, k, padding="same", dilation=(1, 2, 1)),
                               rtol=1e-10, atol=1e-10)


def test_conv2d_with_8_channels_runs_per_tap(monkeypatch):
    if not _gemm.available(np.float32):
        pytest.skip("no cblas gemm found in NumPy's OpenBLAS")
    calls = []
    original = numpy_conv._conv_flat_per_tap
    monkeypatch.setattr(numpy_conv, "_conv_flat_per_tap",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (2, 7, 9, 8)).astype(np.float32)
    k = rng.uniform(-1, 1, (3, 3, 8, 4)).astype(np.float32)
    y = ops.conv(x, k, padding="same")
    assert calls
    np.testing.assert_allclose(y, ref.conv(x, k, (1, 1), "same", (1, 1)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("threads,rows,total,lo,expected", [
    ("1", 4096, 6000, 64, 4096),     # one worker: chunks stay cache-sized
    ("2", 4096, 6000, 64, 1000),     # 3 chunks per worker
    ("2", 4096, 100, 64, 64),        # never below lo
    ("2", 32, 100, 64, 32),          # nor above the cache-sized rows
])
def test_balanced_rows(monkeypatch, threads, rows, total, lo, expected):
    monkeypatch.setenv("CTHULHU_NUM_THREADS", threads)
    assert _common.balanced_rows(rows, total, lo) == expected


def _loop_shifted_taps(rows, kmats, shifts, r0, mm):
    """out[r] = sum_i rows[r + shifts[i]] @ kmats[i], by plain loops (float64)."""
    t, k, f = kmats.shape
    out = np.zeros((mm, f))
    for r in range(mm):
        for i in range(t):
            for j in range(f):
                out[r, j] += sum(float(rows[r0 + r + shifts[i], q]) * float(kmats[i, q, j])
                                 for q in range(k))
    return out


@settings(max_examples=40)
@given(taps=st.integers(1, 4), k=st.integers(1, 5), f=st.integers(1, 4),
       extra_cols=st.integers(0, 3), shifts=st.lists(st.integers(0, 6), min_size=4, max_size=4),
       r0=st.integers(0, 5), mm=st.integers(0, 7), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_shifted_taps_equals_loop_reference(taps, k, f, extra_cols, shifts, r0, mm, dtype, seed):
    if not _gemm.available(dtype):
        pytest.skip("no cblas gemm found in NumPy's OpenBLAS")
    rng = np.random.default_rng(seed)
    shifts = shifts[:taps]
    n_rows = r0 + mm + max(shifts)
    # rows and out are column slices of wider arrays: leading dimensions above their widths
    rows = rng.uniform(-1, 1, (n_rows, k + extra_cols)).astype(dtype)[:, :k]
    kmats = rng.uniform(-1, 1, (taps, k, f)).astype(dtype)
    wide = rng.uniform(-1, 1, (r0 + mm + 2, f + extra_cols)).astype(dtype)
    out = wide[:, :f]
    before = wide.copy()
    _gemm.shifted_taps(rows, kmats, out, shifts)(r0, mm)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out[r0:r0 + mm], _loop_shifted_taps(rows, kmats, shifts, r0, mm),
                               rtol=tol, atol=tol)
    # nothing outside the requested rows (nor the other columns) is touched
    untouched = np.ones(wide.shape, bool)
    untouched[r0:r0 + mm, :f] = False
    np.testing.assert_array_equal(wide[untouched], before[untouched])


def test_shifted_taps_rejects_bad_operands_and_rows():
    if not _gemm.available(np.float64):
        pytest.skip("no cblas gemm found in NumPy's OpenBLAS")
    rows, kmats, out = np.zeros((10, 3)), np.zeros((2, 3, 4)), np.zeros((8, 4))
    run = _gemm.shifted_taps(rows, kmats, out, [0, 2])
    with pytest.raises(ValueError, match="out of range"):
        run(0, 9)                       # past the output
    with pytest.raises(ValueError, match="out of range"):
        run(1, 8)                       # the last tap would read past the rows
    with pytest.raises(ValueError, match="do not match"):
        _gemm.shifted_taps(rows, kmats, out[:, :3], [0, 2])
    with pytest.raises(ValueError, match="do not match"):
        _gemm.shifted_taps(rows, kmats, out, [0])
    with pytest.raises(ValueError, match="contiguous"):
        _gemm.shifted_taps(rows[:, ::-1], kmats, out, [0, 2])
    with pytest.raises(ValueError, match="negative"):
        _gemm.shifted_taps(rows, kmats, out, [0, -1])


@settings(max_examples=25)
@given(rank=st.integers(1, 3), c=st.sampled_from([8, 16, 17]), f=st.integers(1, 5),
       batch=st.integers(1, 2), threads=st.sampled_from(["1", "2"]),
       dilated=st.booleans(), seed=st.integers(0, 2**16))
def test_per_tap_conv_equals_loop_reference(rank, c, f, batch, threads, dilated, seed):
    """The per-tap BLAS path (native kernels off, tiny chunks) against the plain loops."""
    if not _gemm.available(np.float64):
        pytest.skip("no cblas gemm found in NumPy's OpenBLAS")
    if rank == 3 and c < numpy_conv._MIN_CHANNELS_PER_TAP_3D:
        c = numpy_conv._MIN_CHANNELS_PER_TAP_3D
    rng = np.random.default_rng(seed)
    spatial = tuple(int(v) for v in rng.integers(6, 11, rank))
    ksize = tuple(int(v) for v in rng.integers(1, 3 if dilated else 4, rank))
    dilation = (2,) * rank if dilated else (1,) * rank
    x = rng.uniform(-1, 1, (batch, *spatial, c))
    k = rng.uniform(-1, 1, (*ksize, c, f))
    bias = rng.uniform(-1, 1, f)
    calls = []
    original = numpy_conv._conv_flat_per_tap
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(numpy_conv, "_conv_flat_per_tap",
                   lambda *a, **kw: calls.append(1) or original(*a, **kw))
        mp.setattr(_common, "CHUNK_BYTES", 256)
        mp.setenv("CTHULHU_NUM_THREADS", threads)
        y = ops.conv(x, k, padding="same", dilation=dilation, bias=bias)
    assume(calls)                       # padding-heavy cases take the im2col path
    expected = ref.conv(x, k, (1,) * rank, "same", dilation) + bias
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)


@settings(max_examples=25)
@given(rank=st.integers(1, 3), stride=st.integers(2, 3), k=st.integers(1, 4),
       padding=st.sampled_from(["same", "valid"]), threads=st.sampled_from(["1", "2", "3"]),
       native=st.sampled_from(["0", "1"]), seed=st.integers(0, 2**16))
def test_strided_conv_transpose_phases_equal_loop_reference(rank, stride, k, padding, threads,
                                                            native, seed):
    """Sub-pixel phases, run one by one or as pool chunks (2+ per worker), tiny chunks
    inside, bias and ReLU fused, against the plain-loop scatter reference."""
    rng = np.random.default_rng(seed)
    spatial = tuple(int(v) for v in rng.integers(2, 6, rank))
    c, f = int(rng.integers(1, 10)), int(rng.integers(1, 5))
    x = rng.uniform(-1, 1, (int(rng.integers(1, 3)), *spatial, c))
    kernel = rng.uniform(-1, 1, (*(k,) * rank, f, c))
    bias = rng.uniform(-1, 1, f)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_common, "CHUNK_BYTES", 256)
        mp.setenv("CTHULHU_NUM_THREADS", threads)
        mp.setenv("CTHULHU_NATIVE", native)
        y = ops.conv_transpose(x, kernel, strides=stride, padding=padding, bias=bias,
                               activation="relu")
    expected = ref.conv_transpose(x, kernel, (stride,) * rank, padding, None, (1,) * rank)
    np.testing.assert_allclose(y, np.maximum(expected + bias, 0), rtol=1e-10, atol=1e-10)
