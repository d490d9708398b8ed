"""``ops.eltwise.affine``: a per-channel ``x * scale + shift`` (then an activation), the
batch norm at inference that no producer folded. The NumPy plugin does it in one native
pass (``native/eltwise.h``); the law is NumPy's two roundings, bit for bit, on any
number of threads and along any axis."""

from __future__ import annotations

import numpy as np
import pytest

from cthulhu import layers as L
from cthulhu.devices.base import Epilogue
from cthulhu.devices.numpy_ import _engine, _native, threads
from cthulhu.ops import eltwise


def _numpy(x, scale, shift, axis, act=None):
    shape = [1] * x.ndim
    shape[axis] = -1
    y = x * scale.reshape(shape)
    y += shift.reshape(shape)
    if act is not None:
        np.maximum(y, y.dtype.type(0), out=y)
        if act == "relu6":
            np.minimum(y, y.dtype.type(6), out=y)
    return y


def _specials(x, rng):
    flat = x.reshape(-1)
    k = min(16, flat.size // 3)
    where = rng.choice(flat.size, 3 * k, replace=False)
    flat[where[:k]] = np.nan
    flat[where[k:2 * k]] = np.inf * np.sign(rng.standard_normal(k))
    flat[where[2 * k:]] = -0.0
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((4, 33, 31, 17), -1), ((4, 17, 33, 31), 1),
                                        ((2, 5, 3, 64), 3), ((3, 7, 6, 5, 9), 2),
                                        ((1000, 3), 1), ((7,), 0)])
@pytest.mark.parametrize("act", [None, "relu", "relu6"])
def test_affine_is_numpys_two_roundings_on_any_thread_count(dtype, shape, axis, act):
    rng = np.random.default_rng(abs(hash((shape, axis))) % 2**32)
    x = _specials((rng.standard_normal(shape) * 4).astype(dtype), rng)
    c = shape[axis]
    scale = rng.uniform(-2, 2, c).astype(dtype)
    shift = rng.uniform(-1, 1, c).astype(dtype)
    want = _numpy(x, scale, shift, axis % x.ndim, act)
    for n in (1, 2, 3):
        with threads.limit(n):
            got = eltwise.affine(x, scale, shift, axis, Epilogue(activation=act))
        assert got.dtype == x.dtype and got.shape == x.shape
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


def test_the_native_pass_runs_and_declines_what_it_does_not_take(monkeypatch):
    if _native.library() is None:
        pytest.skip("native kernels unavailable (no C compiler)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 5, 8)).astype(np.float32)
    s, b = rng.standard_normal(8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    assert _engine.affine(x, s, b, 3, None) is not None
    # declined: float16, a strided view, vectors of another dtype or length
    assert _engine.affine(x.astype(np.float16), s, b, 3, None) is None
    assert _engine.affine(x[:, ::2], s, b, 3, None) is None
    assert _engine.affine(x, s.astype(np.float64), b, 3, None) is None
    assert _engine.affine(x, s[:4], b[:4], 3, None) is None
    # ... and the op still gives NumPy's numbers there
    view = x[:, ::2]
    np.testing.assert_array_equal(eltwise.affine(view, s, b, 3), _numpy(view, s, b, 3))


@pytest.mark.parametrize("data_axis", [-1, 1])
def test_a_batch_norm_that_nothing_folds_takes_the_one_pass(monkeypatch, data_axis):
    """Standalone (its input is the model's input): the layer's inference output is
    x * (gamma / sqrt(var + eps)) + (beta - mean * that), computed here in float64."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, 7, 5)).astype(np.float32)
    c = x.shape[data_axis]
    bn = L.BatchNormalization(axis=data_axis, epsilon=1e-3)
    bn(x)
    gamma, beta, mean, var = (rng.uniform(0.5, 1.5, c), rng.uniform(-0.3, 0.3, c),
                              rng.uniform(-0.3, 0.3, c), rng.uniform(0.5, 2.0, c))
    bn.set_weights([w.astype(np.float32) for w in (gamma, beta, mean, var)])
    calls = []
    real = _engine.affine
    monkeypatch.setattr(_engine, "affine", lambda *a: calls.append(a) or real(*a))
    got = bn(x)
    scale = gamma / np.sqrt(var + 1e-3)
    shape = [1] * 4
    shape[data_axis] = -1
    want = x.astype(np.float64) * scale.reshape(shape) + (beta - mean * scale).reshape(shape)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
    assert len(calls) == 1
