"""The ``add`` op (cthulhu.ops.eltwise): the sum of the inputs in order, then an epilogue
activation; the NumPy plugin's in-place form against NumPy written here, the generic Array
API code (array-api-strict) and the inputs left untouched."""

import array_api_strict as xps
import numpy as np
import pytest

from cthulhu.devices import Epilogue
from cthulhu.devices.numpy_ import misc
from cthulhu.ops import eltwise

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

ACTS = {
    None: lambda s: s,
    "relu": lambda s: np.maximum(s, np.float32(0)),
    "relu6": lambda s: np.minimum(np.maximum(s, np.float32(0)), np.float32(6)),
    "leaky_relu": lambda s: np.where(s >= 0, s, s * np.float32(0.5)),
}


def _arrays(shapes, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    xs = [(rng.standard_normal(s) * 5).astype(dtype) for s in shapes]
    xs[0].flat[:4] = [np.nan, np.inf, -0.0, -np.inf]
    xs[1].flat[:4] = [1.0, -np.inf, -0.0, 3.0]
    return xs


def _bits(x):
    x = np.asarray(x)
    return x.view(np.uint32 if x.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("act", sorted(ACTS, key=str))
@pytest.mark.parametrize("shapes", [[(3, 4, 5)] * 2, [(3, 4, 5)] * 3,
                                    [(3, 4, 5), (3, 1, 5), (1, 4, 5)],   # broadcast, fits
                                    [(3, 1, 5), (3, 4, 5), (3, 4, 1)]])  # first sum grows
def test_add_equals_numpy_and_the_generic_code(act, shapes):
    xs = _arrays(shapes)
    copies = [x.copy() for x in xs]
    want = xs[0] + xs[1]
    for x in xs[2:]:
        want = want + x
    want = ACTS[act](want)
    ep = Epilogue(activation=act, alpha=0.5 if act == "leaky_relu" else 0.0)
    got = eltwise.add(xs, ep)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_array_equal(_bits(got), _bits(want))
    for x, c in zip(xs, copies, strict=True):          # nothing written into an input
        np.testing.assert_array_equal(_bits(x), _bits(c))
    strict = eltwise.add([xps.asarray(x) for x in xs], ep)
    np.testing.assert_array_equal(_bits(np.from_dlpack(strict)), _bits(want))


def test_numpy_plugin_runs_in_place_or_declines(monkeypatch):
    xs = _arrays([(2, 3)] * 2)
    calls = []
    original = misc.add

    def spy(xs, *, epilogue):
        out = original(xs, epilogue=epilogue)
        calls.append(out is not NotImplemented)
        return out

    monkeypatch.setattr(misc, "add", spy)
    from cthulhu.devices.registry import registry

    registry._impls.clear()
    try:
        eltwise.add(xs, Epilogue(activation="relu"))
        eltwise.add(xs, Epilogue(activation="leaky_relu", alpha=0.1))     # the generic code
        # a later input of a wider dtype: the sum would widen, so the generic code
        eltwise.add([xs[0], xs[1], xs[0].astype(np.float64)], Epilogue(activation="relu"))
    finally:
        registry._impls.clear()
    assert calls == [True, False, False]


def test_mixed_dtypes_promote_as_numpy():
    a, b, c = _arrays([(2, 3)] * 3)
    got = eltwise.add([a, b, c.astype(np.float64)], Epilogue(activation="relu"))
    want = np.maximum((a + b) + c.astype(np.float64), 0.0)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(_bits(got), _bits(want))


def test_rank_zero_inputs_take_the_generic_code():
    a, b = np.float32(-2.0) * np.ones((), np.float32), np.ones((), np.float32)
    got = eltwise.add([a, b], Epilogue(activation="relu"))
    assert float(got) == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_sum_over_many_chunks_equals_numpy_on_any_thread_count(dtype):
    """The native sum (``native/eltwise.h``, chunks of 8192 elements on the engine's
    threads): NumPy's bits - NaN, infinities and -0 included - whatever the thread count."""
    from cthulhu.devices.numpy_ import _engine, _native, threads

    if _native.library() is None:
        pytest.skip("native kernels unavailable")
    rng = np.random.default_rng(3)
    xs = [(rng.standard_normal((8, 33, 31, 17)) * 5).astype(dtype) for _ in range(3)]
    for x in xs:      # specials spread over the chunks
        where = rng.choice(x.size, 64, replace=False)
        x.flat[where] = rng.choice([np.nan, np.inf, -np.inf, -0.0, 0.0, 6.0], 64)
    for act in (None, "relu", "relu6"):
        for k in (2, 3):
            want = xs[0] + xs[1]
            for x in xs[2:k]:
                want = want + x
            want = ACTS[act](want).astype(dtype)
            for n in (1, 2, 3):
                with threads.limit(n):
                    got = _engine.add(xs[:k], act)
                assert got is not None and got.dtype == dtype
                np.testing.assert_array_equal(_bits(got), _bits(want))


def test_native_sum_declines_what_numpy_must_do():
    from cthulhu.devices.numpy_ import _engine

    a, b = _arrays([(4, 6)] * 2)
    assert _engine.add([a, b], None) is not None
    assert _engine.add([a, np.asfortranarray(b)], None) is None    # another memory order
    assert _engine.add([a, b[:, :1]], None) is None                # broadcasts
    assert _engine.add([a, b.astype(np.float64)], None) is None    # promotes
    assert _engine.add([a.astype(np.float16), b.astype(np.float16)], None) is None
    assert _engine.add([a], None) is None
