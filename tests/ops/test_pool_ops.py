"""ops.pool and ops.global_pool against plain loops (tests/support/pool_refs.py) on every
eager backend, the generic code, the NumPy native kernels and the NumPy paths without
them; laws checked with Hypothesis; bad arguments."""

import array_api_strict as xps
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import ops
from tests.support import pool_refs as ref
from tests.support.backends import op_runners

FORMATS = ("channels_last", "channels_first")


def _native_modes(monkeypatch):
    """The NumPy device with its native kernels, then without them (CTHULHU_NATIVE=0)."""
    yield "native"
    monkeypatch.setenv("CTHULHU_NATIVE", "0")
    yield "numpy-paths"
    monkeypatch.delenv("CTHULHU_NATIVE")


def _inputs(x, fmt):
    return np.ascontiguousarray(ref.to_first(x)) if fmt == "channels_first" else x


def _expected(y, fmt):
    return ref.to_first(y) if fmt == "channels_first" else y


def _tol(dtype):
    return {"rtol": 2e-3, "atol": 2e-3} if dtype == np.float16 else {"rtol": 1e-6, "atol": 1e-6}


CASES = [
    # spatial, pool_size, strides, padding
    ((7,), (3,), None, "valid"),
    ((7,), (3,), (2,), "same"),
    ((5,), (4,), (1,), "same"),
    ((6, 7), (2, 2), None, "valid"),
    ((6, 7), (3, 2), (2, 1), "same"),
    ((5, 5), (3, 3), (1, 1), "same"),
    ((5, 4), (2, 3), (3, 2), "same"),
    ((4, 5, 3), (2, 2, 2), None, "valid"),
    ((4, 5, 3), (3, 2, 2), (2, 2, 1), "same"),
    ((6,), (3,), (2,), ((2, 1),)),
]


@pytest.mark.parametrize("spatial, pool_size, strides, padding", CASES)
@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_pool_matches_loop_on_every_backend(spatial, pool_size, strides, padding, kind, fmt,
                                            monkeypatch):
    x = np.random.default_rng(len(spatial)).uniform(-1, 1, (2, *spatial, 3))
    expected = _expected(ref.pool(x, pool_size, strides, padding, kind), fmt)
    for _ in _native_modes(monkeypatch):
        for run in op_runners():
            y, _ = run("pool", _inputs(x, fmt), pool_size, strides=strides, padding=padding,
                       data_format=fmt, kind=kind)
            assert y.shape == expected.shape, run
            np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12, err_msg=repr(run))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_pool_dtypes_keep_the_input_dtype(dtype, kind, fmt, monkeypatch):
    x = np.random.default_rng(3).uniform(-1, 1, (2, 5, 6, 4)).astype(dtype)
    expected = _expected(ref.pool(x, (3, 3), (2, 2), "same", kind), fmt)
    for _ in _native_modes(monkeypatch):
        y = ops.pool(_inputs(x, fmt), (3, 3), strides=(2, 2), padding="same", kind=kind,
                     data_format=fmt)
        assert y.dtype == dtype
        np.testing.assert_allclose(y.astype(np.float64), expected, **_tol(dtype))
        g = ops.POOL.reference(_inputs(x, fmt), (3, 3), strides=(2, 2), padding="same",
                               kind=kind, data_format=fmt)
        assert g.dtype == dtype
        np.testing.assert_allclose(g.astype(np.float64), expected, **_tol(dtype))


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_pool_reads_views_in_the_other_memory_order(kind, fmt, monkeypatch):
    """A channels_last view of channels_first memory (and the reverse), and a strided
    slice: the same result as a contiguous copy."""
    x = np.random.default_rng(4).uniform(-1, 1, (2, 6, 7, 5)).astype(np.float32)
    expected = _expected(ref.pool(x, (2, 3), (2, 2), "same", kind), fmt)
    other = np.ascontiguousarray(ref.to_first(x)) if fmt == "channels_last" else x
    view = np.moveaxis(other, 1, -1) if fmt == "channels_last" else np.moveaxis(other, -1, 1)
    wide = np.zeros((2, 6, 14, 5), np.float32)
    wide[:, :, ::2] = x
    sliced = wide[:, :, ::2] if fmt == "channels_last" else ref.to_first(wide[:, :, ::2])
    for _ in _native_modes(monkeypatch):
        for xin in (view, sliced):
            y = ops.pool(xin, (2, 3), strides=(2, 2), padding="same", kind=kind,
                         data_format=fmt)
            np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["max", "average"])
def test_pool_nan_in_a_window_gives_nan_everywhere(kind, monkeypatch):
    x = np.arange(2 * 6 * 6 * 3, dtype=np.float32).reshape(2, 6, 6, 3)
    x[1, 2, 3, 1] = np.nan
    for _ in _native_modes(monkeypatch):
        for fmt in FORMATS:
            y = ops.pool(_inputs(x, fmt), 2, kind=kind, data_format=fmt)
            if fmt == "channels_first":
                y = np.moveaxis(y, 1, -1)
            assert np.isnan(y[1, 1, 1, 1])
            assert np.isnan(y).sum() == 1
    g = ops.POOL.reference(xps.asarray(x), 2, kind=kind)
    assert bool(xps.isnan(g[1, 1, 1, 1]))


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pool_matches_loop(rank, kind, fmt, keepdims, monkeypatch):
    x = np.random.default_rng(rank).uniform(-1, 1, (2, *(5, 4, 3)[:rank], 3))
    expected = ref.global_pool(x, kind, keepdims)
    if keepdims:
        expected = _expected(expected, fmt)
    for _ in _native_modes(monkeypatch):
        for run in op_runners():
            y, _ = run("global_pool", _inputs(x, fmt), data_format=fmt, kind=kind,
                       keepdims=keepdims)
            assert y.shape == expected.shape, run
            np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12, err_msg=repr(run))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("kind", ["max", "average"])
def test_global_pool_dtypes(dtype, kind, monkeypatch):
    x = np.random.default_rng(5).uniform(0, 1, (2, 40, 30, 6)).astype(dtype)
    expected = ref.global_pool(x, kind)
    for _ in _native_modes(monkeypatch):
        for fmt in FORMATS:
            y = ops.global_pool(_inputs(x, fmt), kind=kind, data_format=fmt)
            assert y.dtype == dtype and y.shape == (2, 6)
            np.testing.assert_allclose(y.astype(np.float64), expected, **_tol(dtype))


def test_global_pool_without_positions_is_tensorflows_reduction():
    x = np.zeros((2, 0, 3), np.float32)
    assert np.all(ops.global_pool(x) == -np.inf)
    assert np.all(np.isnan(ops.global_pool(x, kind="average")))


def test_pool_of_an_empty_batch_has_the_right_shape():
    y = ops.pool(np.zeros((0, 6, 6, 2), np.float32), 2, padding="same")
    assert y.shape == (0, 3, 3, 2) and y.dtype == np.float32


# -- laws ---------------------------------------------------------------------------------

@st.composite
def _configs(draw):
    rank = draw(st.integers(1, 3))
    pool_size = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    padding = draw(st.sampled_from(["valid", "same"]))
    spatial = tuple(draw(st.integers(k if padding == "valid" else 1, 6)) for k in pool_size)
    return rank, spatial, pool_size, strides, padding


@settings(max_examples=30)
@given(config=_configs(), kind=st.sampled_from(["max", "average"]),
       fmt=st.sampled_from(FORMATS), value=st.floats(-100, 100, width=32))
def test_law_pooling_a_constant_gives_the_constant(config, kind, fmt, value):
    _, spatial, pool_size, strides, padding = config
    x = np.full((2, *spatial, 3), value, np.float32)
    for xin in (_inputs(x, fmt), xps.asarray(_inputs(x, fmt))):
        y = np.asarray(ops.pool(xin, pool_size, strides=strides, padding=padding, kind=kind,
                                data_format=fmt))
        np.testing.assert_allclose(y, value, rtol=1e-6)


@settings(max_examples=30)
@given(config=_configs(), kind=st.sampled_from(["max", "average"]),
       fmt=st.sampled_from(FORMATS))
def test_law_global_pooling_is_pooling_with_the_whole_window(config, kind, fmt):
    rank, spatial, _, _, _ = config
    x = np.random.default_rng(sum(spatial)).uniform(-1, 1, (2, *spatial, 3))
    xin = _inputs(x, fmt)
    whole = ops.pool(xin, spatial, kind=kind, data_format=fmt)
    g = ops.global_pool(xin, kind=kind, data_format=fmt, keepdims=True)
    np.testing.assert_allclose(g, whole, rtol=1e-12, atol=1e-12)


@settings(max_examples=30)
@given(config=_configs(), fmt=st.sampled_from(FORMATS))
def test_law_max_pool_bounds_and_average_between_min_and_max(config, fmt):
    _, spatial, pool_size, strides, padding = config
    x = np.random.default_rng(len(spatial)).uniform(-1, 1, (1, *spatial, 2))
    xin = _inputs(x, fmt)
    mx = ops.pool(xin, pool_size, strides=strides, padding=padding, data_format=fmt)
    av = ops.pool(xin, pool_size, strides=strides, padding=padding, data_format=fmt,
                  kind="average")
    mn = -ops.pool(-xin, pool_size, strides=strides, padding=padding, data_format=fmt)
    assert np.all(av <= mx + 1e-12) and np.all(av >= mn - 1e-12)
    assert mx.max() <= x.max() and mx.min() >= x.min()


# -- bad arguments -----------------------------------------------------------------------

@pytest.mark.parametrize("args, kwargs, error, words", [
    ((np.zeros((1, 4, 4, 1), np.float32), 0), {}, ValueError, ["ops.pool", "pool_size"]),
    ((np.zeros((1, 4, 4, 1), np.float32), 2), {"strides": 0}, ValueError,
     ["ops.pool", "strides"]),
    ((np.zeros((1, 4, 4, 1), np.float32), 2), {"padding": "full"}, ValueError,
     ["ops.pool", "full"]),
    ((np.zeros((1, 4, 4, 1), np.float32), 2), {"kind": "min"}, ValueError,
     ["ops.pool", "kind", "min"]),
    ((np.zeros((1, 4, 4, 1), np.float32), 2), {"data_format": "NHWC"}, ValueError,
     ["ops.pool", "NHWC"]),
    ((np.zeros((1, 4, 1), np.float32), 3), {"padding": ((3, 0),)}, ValueError,
     ["ops.pool", "pool_size"]),
    ((np.zeros((1, 2, 2, 1), np.float32), 3), {}, ValueError, ["ops.pool"]),
    ((np.zeros((4, 4), np.float32), 2), {}, ValueError, ["ops.pool", "dimensions"]),
    ((np.zeros((1, 4, 4, 1), np.int32), 2), {}, TypeError, ["ops.pool"]),
    (([1.0, 2.0], 2), {}, TypeError, ["ops.pool", "list"]),
])
def test_pool_bad_arguments(args, kwargs, error, words):
    with pytest.raises(error) as info:
        ops.pool(*args, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_global_pool_bad_arguments():
    with pytest.raises(TypeError, match="ops.global_pool.*keepdims"):
        ops.global_pool(np.zeros((1, 4, 2), np.float32), keepdims=1)
    with pytest.raises(ValueError, match="ops.global_pool.*kind.*'sum'"):
        ops.global_pool(np.zeros((1, 4, 2), np.float32), kind="sum")
    with pytest.raises(ValueError, match="ops.global_pool.*dimensions"):
        ops.global_pool(np.zeros((1, 4), np.float32))


# -- the native kernels: the same numbers on every thread count and instruction set ------

def _isas():
    from cthulhu.devices.numpy_ import _native

    lib = _native.library()
    if lib is None:
        pytest.skip("no native kernels here (no C compiler)")
    return lib, _native.ISAS[:_native.ISAS.index(lib.best_isa()) + 1]


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_native_pool_is_the_same_on_every_thread_count_and_isa(kind, fmt):
    from cthulhu.devices.numpy_ import threads

    lib, isas = _isas()
    x = np.random.default_rng(6).standard_normal((3, 33, 41, 19)).astype(np.float32)
    xin = _inputs(x, fmt)
    results = []
    saved = lib.isa()
    try:
        for isa in isas:
            lib.set_isa(isa)
            for n in (1, 3):
                with threads.limit(n):
                    results.append(ops.pool(xin, (3, 2), strides=(2, 1), padding="same",
                                            kind=kind, data_format=fmt))
                    results.append(ops.global_pool(xin, kind=kind, data_format=fmt))
    finally:
        lib.set_isa(saved)
    for i in range(2, len(results)):
        np.testing.assert_array_equal(results[i], results[i % 2])
    expected = _expected(ref.pool(x, (3, 2), (2, 1), "same", kind), fmt)
    np.testing.assert_allclose(results[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["max", "average"])
def test_native_strided_channels_first_lines_equal_the_loop_wherever_a_window_sits(kind,
                                                                                 dtype):
    """channels_first lines of stride 2 and 4 are split into phases by shuffles, a vector
    of outputs at a time, with a last block moved back over outputs already done and
    scalar outputs at the ends. Every window against the loop (NaNs where they fall, a
    vertical pass in 2D), and each window's number bitwise the same wherever it sits in
    its line: cutting the line's start moves outputs between blocks and scalar ends."""
    _isas()
    rng = np.random.default_rng(11)
    for s, sizes in ((2, (2, 3, 5)), (4, (3, 4, 5, 9))):
        for k in sizes:
            x = rng.standard_normal((2, 83, 3)).astype(dtype)
            x[1, 17, 2] = np.nan
            first = np.ascontiguousarray(ref.to_first(x))
            for padding in ("valid", "same"):
                y = ops.pool(first, k, strides=s, padding=padding, kind=kind,
                             data_format="channels_first")
                expected = ref.to_first(ref.pool(x, (k,), (s,), padding, kind))
                np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
            y = ops.pool(first, k, strides=s, kind=kind, data_format="channels_first")
            for a in (1, 2, 3):
                cut = ops.pool(first[:, :, a * s:], k, strides=s, kind=kind,
                               data_format="channels_first")
                np.testing.assert_array_equal(cut, y[:, :, a:a + cut.shape[2]])
            x2 = rng.standard_normal((1, 3, 83, 2)).astype(dtype)
            y2 = ops.pool(np.ascontiguousarray(ref.to_first(x2)), (2, k), strides=(1, s),
                          padding="same", kind=kind, data_format="channels_first")
            expected = ref.to_first(ref.pool(x2, (2, k), (1, s), "same", kind))
            np.testing.assert_allclose(y2, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["max", "average"])
def test_native_channels_last_windows_equal_the_loop_wherever_they_sit(kind, dtype):
    """channels_last rows of at least a vector of channels read every tap from the input:
    windows of 1-4 rows and 2-4 columns unrolled, any other (clipped at a border, 3x5,
    3x3x3) out of line, channels past the last whole vector one by one. Each against the
    loop (NaNs where they fall), and each window's number bitwise the same wherever it
    sits: cutting the input's start moves windows, and a window clipped by the padding
    (out of line) equals the whole window of its size (unrolled)."""
    _isas()
    rng = np.random.default_rng(12)
    cases = [((13, 17), (2, 2), (2, 2)), ((13, 17), (3, 3), (2, 2)), ((13, 17), (1, 4), (1, 3)),
             ((13, 17), (3, 5), (2, 1)), ((7, 6, 9), (2, 2, 2), (2, 2, 2)),
             ((7, 6, 9), (3, 3, 3), (2, 2, 2))]
    for channels in (8, 11, 19):
        for spatial, pool_size, strides in cases:
            x = rng.standard_normal((2, *spatial, channels)).astype(dtype)
            x[(1, *(n // 2 for n in spatial), channels - 1)] = np.nan
            for padding in ("valid", "same"):
                y = ops.pool(x, pool_size, strides=strides, padding=padding, kind=kind)
                expected = ref.pool(x, pool_size, strides, padding, kind)
                np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
            y = ops.pool(x, pool_size, strides=strides, kind=kind)
            for axis, s in enumerate(strides, start=1):
                index = [slice(None)] * x.ndim
                index[axis] = slice(s, None)
                cut = ops.pool(x[tuple(index)], pool_size, strides=strides, kind=kind)
                index[axis] = slice(1, 1 + cut.shape[axis])
                np.testing.assert_array_equal(cut, y[tuple(index)])
        # a 4x4 window clipped to 3x3 by the padding (out of line) is the 3x3 window
        x = rng.standard_normal((2, 9, 10, channels)).astype(dtype)
        clipped = ops.pool(x, 4, strides=4, padding=((1, 0), (1, 1)), kind=kind)
        whole = ops.pool(x[:, :3, :3], 3, kind=kind)
        np.testing.assert_array_equal(clipped[:, :1, :1], whole)


@pytest.mark.parametrize("kind", ["max", "average"])
def test_same_pooling_of_an_empty_axis_is_empty_as_the_layers_say(kind):
    """Found by the layer fuzzer: 'same' over a zero-length axis gives a zero-length axis
    (ceil(0 / s)), from the op as from the layer's shape."""
    from cthulhu import layers

    for shape in ((2, 0, 3), (0, 0, 0, 0, 0)):
        rank = len(shape) - 2
        y = ops.pool(np.zeros(shape, np.float32), 2, padding="same", kind=kind)
        assert y.shape == shape
        layer = layers.AveragePooling3D if rank == 3 else layers.MaxPooling1D
        assert layer(padding="same")(np.zeros(shape, np.float32)).shape == shape


@pytest.mark.parametrize("kind", ["max", "average"])
def test_pool_calls_from_many_threads_equal_the_loop(kind):
    """Dask runs block tasks on threads: concurrent calls each get their own answer (the
    native call once read its geometry from freed memory, which other threads' allocations
    overwrote: wrong blocks, then heap corruption)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((1, 9 + i % 5, 7, 6 + i % 3, 2)).astype(np.float32)
          for i in range(32)]
    pads = [((i % 2, 0), (0, i % 2), (1, 1)) for i in range(32)]

    def run(i):
        return ops.pool(xs[i], 2, strides=2, padding=pads[i], kind=kind)

    for _ in range(3):
        with ThreadPoolExecutor(16) as pool:
            got = list(pool.map(run, range(32)))
        for i, y in enumerate(got):
            np.testing.assert_allclose(y, ref.pool(xs[i], (2, 2, 2), (2, 2, 2), pads[i], kind),
                                       rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("channels", [8, 33])
@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_native_global_pool_over_many_blocks_is_the_same_on_every_thread_count_and_isa(
        channels, kind, fmt):
    """9000 positions: the native reduction runs over several blocks of positions, several
    blocks to an item (8 channels: the 32 register lanes; 33: the generic lanes;
    channels_first: one channel per line), a NaN in a late block of one channel."""
    from cthulhu.devices.numpy_ import threads

    lib, isas = _isas()
    x = np.random.default_rng(channels).uniform(0, 1, (2, 90, 100, channels)).astype(np.float32)
    x[1, 85, 7, 3] = np.nan
    xin = _inputs(x, fmt)
    results = []
    saved = lib.isa()
    try:
        for isa in isas:
            lib.set_isa(isa)
            for n in (1, 2, 3):
                with threads.limit(n):
                    results.append(ops.global_pool(xin, kind=kind, data_format=fmt))
    finally:
        lib.set_isa(saved)
    for y in results[1:]:
        np.testing.assert_array_equal(y, results[0])
    y = results[0]
    assert np.isnan(y[1, 3]) and np.isnan(y).sum() == 1
    y[1, 3] = 0
    expected = ref.global_pool(np.nan_to_num(x, nan=0.0), kind)
    expected[1, 3] = 0
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-7)
