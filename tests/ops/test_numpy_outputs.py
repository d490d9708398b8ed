"""Recycled output buffers of the NumPy plugin: memory is reused only when nothing
references an earlier result (or any view of it), and results never change behind
the caller's back."""

import gc

import numpy as np
import pytest

from cthulhu import ops
from cthulhu.devices.numpy_ import _common

pytestmark = pytest.mark.skipif(not _common._RECYCLE, reason="recycling is off (free-threaded build or CTHULHU_NUMPY_RECYCLE=0)")


def _big(shape=(512, 1024)):
    return _common.output(shape, np.float32)


def test_output_reuses_only_unreferenced_buffers():
    a = _big()
    where = a.ctypes.data
    b = _big()
    assert b.ctypes.data != where               # a is alive
    del a
    gc.collect()
    c = _common.output((256, 1024), np.float64)  # same bytes, other dtype
    assert c.ctypes.data == where
    view = c[::3, 1:]
    del c
    d = _big()
    assert d.ctypes.data != where               # a view keeps the buffer
    exported = memoryview(d)
    where_d = d.ctypes.data
    del d
    assert _big().ctypes.data != where_d        # so does a buffer-protocol export
    del view, exported


def test_output_small_and_huge_arrays_are_plain():
    small = _common.output((4, 4), np.float32)
    assert small.flags.owndata
    huge = _common.output((_common.RECYCLE_LIMIT // 4 + 1,), np.float32)
    assert huge.flags.owndata


def test_output_pool_is_bounded(monkeypatch):
    monkeypatch.setattr(_common, "RECYCLE_LIMIT", 8 << 20)
    monkeypatch.setattr(_common._local, "outputs", [], raising=False)
    held = [_big() for _ in range(6)]           # 2 MiB each, all alive
    assert sum(b.nbytes for b in _common._local.outputs) <= 8 << 20
    del held
    for _ in range(6):
        _big()
    assert sum(b.nbytes for b in _common._local.outputs) <= 8 << 20


@pytest.mark.parametrize("op", ["conv", "depthwise_conv", "separable_conv"])
def test_results_held_by_the_caller_are_never_overwritten(monkeypatch, op):
    monkeypatch.setattr(_common._local, "outputs", [], raising=False)   # only this test's
    rng = np.random.default_rng(0)
    x1, x2 = (rng.uniform(-1, 1, (8, 40, 40, 32)).astype(np.float32) for _ in range(2))
    dk = rng.uniform(-1, 1, (3, 3, 32, 1)).astype(np.float32)
    kernels = {"conv": (rng.uniform(-1, 1, (3, 3, 32, 32)).astype(np.float32),),
               "depthwise_conv": (dk,),
               "separable_conv": (dk, rng.uniform(-1, 1, (1, 1, 32, 32)).astype(np.float32))}
    run = getattr(ops, op)
    first = run(x1, *kernels[op], padding="same")
    part = first[1:3, 5]                        # a view only
    saved, saved_part = first.copy(), part.copy()
    for _ in range(3):                          # later calls, same sizes
        run(x2, *kernels[op], padding="same")
    np.testing.assert_array_equal(first, saved)
    del first
    for _ in range(3):
        run(x2, *kernels[op], padding="same")
    np.testing.assert_array_equal(part, saved_part)
    expected = ops.OPS[op].reference(x1, *kernels[op], padding="same")
    np.testing.assert_allclose(run(x1, *kernels[op], padding="same"), expected,
                               rtol=1e-4, atol=1e-4)
