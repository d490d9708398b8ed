"""Which stride-1 BLAS path the NumPy plugin's 3D convolution takes by channel count (native
kernels off), and that each equals the plain-loop reference and the generic code (tiny
chunks, 1 and 2 threads)."""

import numpy as np
import ops_reference as ref
import pytest

from cthulhu import ops
from cthulhu.devices.numpy_ import _common, _gemm
from cthulhu.devices.numpy_ import conv as numpy_conv
from cthulhu.ops import generic


@pytest.fixture(params=["1", "2"], ids=["1-thread", "2-threads"])
def tiny_chunks(request, monkeypatch):
    monkeypatch.setattr(_common, "CHUNK_BYTES", 64)
    monkeypatch.setenv("CTHULHU_NUM_THREADS", request.param)


@pytest.fixture(autouse=True)
def numpy_paths_only(monkeypatch):
    """These tests pick the BLAS paths: the native direct convolution would take the
    thin cases first (tests/ops/test_numpy_native.py covers it)."""
    monkeypatch.setenv("CTHULHU_NATIVE", "0")


@pytest.mark.parametrize("channels,per_tap", [(8, False), (12, False), (16, True)])
def test_conv3d_path_by_channels_equals_references(tiny_chunks, monkeypatch, channels, per_tap):
    if not _gemm.available(np.float64):
        pytest.skip("no cblas gemm found in NumPy's OpenBLAS: only the gathered path exists")
    calls = []
    original = numpy_conv._conv_flat_per_tap
    monkeypatch.setattr(numpy_conv, "_conv_flat_per_tap",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    rng = np.random.default_rng(channels)
    x = rng.uniform(-1, 1, (2, 9, 10, 8, channels))  # mostly real rows: the flat path
    k = rng.uniform(-1, 1, (3, 2, 3, channels, 3))
    y = ops.conv(x, k, padding="same")
    assert bool(calls) is per_tap
    np.testing.assert_allclose(y, ref.conv(x, k, (1, 1, 1), "same", (1, 1, 1)),
                               rtol=1e-10, atol=1e-10)
    big = rng.uniform(-1, 1, (1, 9, 11, 10, channels))
    np.testing.assert_allclose(ops.conv(big, k, padding="same", dilation=(1, 2, 1)),
                               generic.conv(big, k, padding="same", dilation=(1, 2, 1)),
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
