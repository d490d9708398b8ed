"""The NumPy plugin's native code as the ops see it (engine, few-channel kernel, build).

Judges: the plain-loop references of ``ops_reference`` (tiny sizes) and the generic
Array API code (medium sizes), with Hypothesis drawing ranks, kernel sizes, strides,
dilations, paddings (explicit pairs, negative ones cropping), channel counts around
the kernels' vector widths, tiny chunks for the NumPy paths and 1 or 2 threads, with
the native kernels on and forced off. Then the build: a failing compiler falls back
to the NumPy paths with one warning, the cache file appears atomically and is reused.
The engine's own laws (every ISA, epilogues, thread-count independence, no compiler
at all) are in ``test_native_engine.py``.
"""

import logging
import os
import shutil
import subprocess
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import devices, ops
from cthulhu.devices.numpy_ import NumpyPlugin, _common, _engine, _native, _native_ops
from tests.support import ops_reference as ref

needs_compiler = pytest.mark.skipif(_native.compiler() is None,
                                    reason="no C compiler here (CI machines have gcc)")


@pytest.fixture
def native_runs(monkeypatch):
    """The native kernels must be built here; counts the calls that reach them (engine
    entry points by name, the few-channel kernel as ``cthulhu_conv_thin``)."""
    monkeypatch.setenv("CTHULHU_NATIVE", "1")
    assert _native.library() is not None, _native.describe()
    calls = []
    engine_call, thin = _engine._call, _native_ops.conv_thin

    def counting_engine(lib, name, *args, **kwargs):
        calls.append(name)
        return engine_call(lib, name, *args, **kwargs)

    def counting_thin(*args, **kwargs):
        y = thin(*args, **kwargs)
        if y is not None:
            calls.append("cthulhu_conv_thin")
        return y

    monkeypatch.setattr(_engine, "_call", counting_engine)
    monkeypatch.setattr(_native_ops, "conv_thin", counting_thin)
    return calls


class _Setting:
    """Tiny chunks, a thread count and the native switch, restored on exit (usable
    inside Hypothesis tests, where function-scoped fixtures are not)."""

    def __init__(self, chunk_bytes, threads, native):
        self.new = chunk_bytes, threads, native

    def __enter__(self):
        self.saved = (_common.CHUNK_BYTES, os.environ.get("CTHULHU_NUM_THREADS"),
                      os.environ.get("CTHULHU_NATIVE"))
        _common.CHUNK_BYTES = self.new[0]
        os.environ["CTHULHU_NUM_THREADS"] = self.new[1]
        os.environ["CTHULHU_NATIVE"] = self.new[2]

    def __exit__(self, *exc):
        _common.CHUNK_BYTES = self.saved[0]
        for name, value in zip(("CTHULHU_NUM_THREADS", "CTHULHU_NATIVE"), self.saved[1:],
                               strict=True):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@st.composite
def _window(draw, max_extra):
    """Rank, kernel size, strides, dilation, padding and spatial sizes that give >= 1 output."""
    rank = draw(st.integers(1, 3))
    ksize = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strided = draw(st.booleans())
    strides = tuple(draw(st.integers(1, 3)) if strided else 1 for _ in range(rank))
    dilation = tuple(1 if strided else draw(st.integers(1, 2)) for _ in range(rank))
    extra = max_extra if rank < 3 else max(2, max_extra // 3)
    kind = draw(st.sampled_from(["valid", "same", "pairs"] + (["causal"] if rank == 1 else [])))
    if kind == "pairs":
        padding = tuple((draw(st.integers(-1, 3)), draw(st.integers(-1, 3))) for _ in range(rank))
    else:
        padding = kind
    spatial = []
    for k, d, pair in zip(ksize, dilation, padding if kind == "pairs" else [(0, 0)] * rank,
                          strict=True):
        least = max(1, d * (k - 1) + 1 - pair[0] - pair[1], 1 + max(0, -pair[0]) + max(0, -pair[1]))
        spatial.append(draw(st.integers(least, least + extra)))
    return dict(rank=rank, ksize=ksize, strides=strides, dilation=dilation, padding=padding,
                spatial=tuple(spatial))


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def _setting(draw):
    return (draw(st.sampled_from([64, 4096, 1 << 20])), draw(st.sampled_from(["1", "2"])))


@needs_compiler
@settings(max_examples=150)
@given(win=_window(max_extra=6), data=st.data())
def test_native_depthwise_matches_loop_reference(win, data):
    c = data.draw(st.sampled_from([1, 3, 4, 8, 9, 33, 37]))     # around 1, 4 vector widths
    m = data.draw(st.integers(1, 3))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    native = data.draw(st.sampled_from(["1", "0"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 999)))
    x = rng.uniform(-1, 1, (data.draw(st.integers(1, 2)), *win["spatial"], c)).astype(dtype)
    kernel = rng.uniform(-1, 1, (*win["ksize"], c, m)).astype(dtype)
    bias = rng.uniform(-1, 1, c * m).astype(dtype)
    padding = win["padding"]
    if padding == "causal":
        # 'causal' is a rank-1 conv's padding only (the kind's rule): the same zeros as pairs
        padding = tuple((d * (k - 1), 0) for k, d in zip(win["ksize"], win["dilation"],
                                                         strict=True))
    cfg = dict(strides=win["strides"], padding=padding, dilation=win["dilation"])
    expected = np.maximum(ref.depthwise(x, kernel, **cfg) + bias, 0)
    with _Setting(*_setting(data.draw), native):
        y = ops.depthwise_conv(x, kernel, bias=bias, activation="relu", **cfg)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, expected, **_tol(dtype))


@needs_compiler
@settings(max_examples=150)
@given(win=_window(max_extra=6), data=st.data())
def test_native_thin_conv_matches_loop_reference(win, data):
    c = data.draw(st.integers(1, 15))
    f = data.draw(st.sampled_from([1, 2, 3, 4, 5, 8, 9, 13]))   # filter blocks of 4 and tails
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    native = data.draw(st.sampled_from(["1", "0"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 999)))
    x = rng.uniform(-1, 1, (data.draw(st.integers(1, 2)), *win["spatial"], c)).astype(dtype)
    kernel = rng.uniform(-1, 1, (*win["ksize"], c, f)).astype(dtype)
    use_bias = data.draw(st.booleans())
    bias = rng.uniform(-1, 1, f).astype(dtype) if use_bias else None
    cfg = dict(strides=win["strides"], padding=win["padding"], dilation=win["dilation"])
    expected = ref.conv(x, kernel, **cfg) + (bias if use_bias else 0)
    with _Setting(*_setting(data.draw), native):
        y = ops.conv(x, kernel, bias=bias, **cfg)
        # the kernel itself, whatever the speed thresholds say
        z = _native_ops.conv_thin(x, kernel, win["strides"], win["dilation"],
                                  _pads(x, kernel, cfg), y.shape[1:-1], np.dtype(dtype), bias,
                                  False, force=True)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, expected, **_tol(dtype))
    if native == "1":
        np.testing.assert_allclose(z, expected, **_tol(dtype))
    else:
        assert z is None                           # switched off: the kernel declines


def _pads(x, kernel, cfg):
    return ops.CONV.geometry(x, kernel, **cfg).pads


@needs_compiler
@pytest.mark.parametrize("threads", ["1", "2"])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_native_kernels_equal_generic_on_medium_sizes(native_runs, monkeypatch, threads, fmt):
    """Rows longer than a register block (partial blocks), many partial chunks."""
    monkeypatch.setattr(_common, "CHUNK_BYTES", 4096)
    monkeypatch.setenv("CTHULHU_NUM_THREADS", threads)
    rng = np.random.default_rng(7)
    cases = [((2, 23, 37, 70), (3, 3, 70, 1), dict(padding="same")),
             ((1, 9, 10, 45, 13), (3, 3, 3, 13, 1), dict(padding="same", dilation=(1, 2, 2))),
             ((2, 19, 61, 5), (3, 5, 5, 2), dict(padding="valid", strides=(2, 3)))]
    for xs, ks, cfg in cases:
        x = rng.uniform(-1, 1, xs).astype(np.float32)
        k = rng.uniform(-1, 1, ks).astype(np.float32)
        x = x if fmt == "channels_last" else np.moveaxis(x, -1, 1)
        cfg = dict(cfg, data_format=fmt)
        np.testing.assert_allclose(ops.depthwise_conv(x, k, **cfg),
                                   ops.DEPTHWISE_CONV.reference(x, k, **cfg), rtol=1e-4, atol=1e-4)
        p = rng.uniform(-1, 1, (*(1,) * (x.ndim - 2), ks[-2] * ks[-1], 6)).astype(np.float32)
        np.testing.assert_allclose(ops.separable_conv(x, k, p, **cfg),
                                   ops.SEPARABLE_CONV.reference(x, k, p, **cfg), rtol=1e-4, atol=1e-4)
    for xs, ks, cfg in [((1, 20, 21, 66, 1), (3, 3, 3, 1, 1), dict(padding="valid")),
                        ((2, 30, 41, 3), (3, 3, 3, 16), dict(padding="same")),
                        ((3, 200, 8), (5, 8, 6), dict(padding="causal", dilation=3))]:
        x = rng.uniform(-1, 1, xs).astype(np.float32)
        k = rng.uniform(-1, 1, ks).astype(np.float32)
        x = x if fmt == "channels_last" else np.moveaxis(x, -1, 1)
        cfg = dict(cfg, data_format=fmt)
        np.testing.assert_allclose(ops.conv(x, k, **cfg), ops.CONV.reference(x, k, **cfg),
                                   rtol=1e-4, atol=1e-4)
    assert native_runs.count("cthulhu_depthwise_conv") == 3
    assert native_runs.count("cthulhu_separable_conv") == 3
    assert native_runs.count("cthulhu_conv_thin") == 1          # the 1 -> 1 case
    assert native_runs.count("cthulhu_conv") == 2


@needs_compiler
@pytest.mark.parametrize("filters", [2, 4])
def test_native_conv_reads_strided_and_flipped_views(native_runs, filters):
    """Inputs are read in place whatever their strides (also negative), in either
    layout: the few-channel kernel (2 filters) and the engine (4) see the same values."""
    rng = np.random.default_rng(8)
    big = rng.uniform(-1, 1, (2, 5, 13, 12, 20))               # (N, C, H, W, D) + extra
    k = rng.uniform(-1, 1, (3, 2, 3, 5, filters))
    views = [big[:, :, ::-1, 1:, ::2], big[:, ::-1, 2:9, ::-2, 3:17]]
    for x in views:
        cfg = dict(padding="same", data_format="channels_first")
        np.testing.assert_allclose(ops.conv(x, k, **cfg), ops.CONV.reference(x, k, **cfg),
                                   rtol=1e-12, atol=1e-12)
        xl = np.moveaxis(x, 1, -1)                              # a channels_last view
        np.testing.assert_allclose(ops.conv(xl, k, padding="same"),
                                   ops.CONV.reference(xl, k, padding="same"), rtol=1e-12, atol=1e-12)
    name = "cthulhu_conv_thin" if filters <= _native_ops.THIN_MAX_FILTERS else "cthulhu_conv"
    assert native_runs == [name] * 4


@needs_compiler
def test_native_float16_computes_in_float32(native_runs):
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (2, 12, 13, 3)).astype(np.float16)
    k = rng.uniform(-1, 1, (3, 3, 3, 4)).astype(np.float16)
    kd = rng.uniform(-1, 1, (3, 3, 3, 2)).astype(np.float16)
    y, yd = ops.conv(x, k, padding="same"), ops.depthwise_conv(x, kd, padding="same")
    assert y.dtype == yd.dtype == np.float16
    np.testing.assert_allclose(y, ref.conv(x, k, (1, 1), "same", (1, 1)), rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(yd, ref.depthwise(x, kd, (1, 1), "same", (1, 1)),
                               rtol=1e-2, atol=1e-2)
    assert native_runs == ["cthulhu_conv", "cthulhu_depthwise_conv"]


@needs_compiler
def test_native_calls_from_two_threads_at_once(native_runs):
    """ctypes drops the GIL: concurrent calls must not share any state."""
    rng = np.random.default_rng(3)
    xs = [rng.uniform(-1, 1, (1, 20, 22, 24, 2)) for _ in range(2)]
    k = rng.uniform(-1, 1, (3, 3, 3, 2, 3))
    expected = [ops.CONV.reference(x, k, padding="same") for x in xs]
    results = [None, None]
    gate = threading.Barrier(2)

    def run(i):
        gate.wait()
        for _ in range(3):
            results[i] = ops.conv(xs[i], k, padding="same")

    workers = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_native_switch_off_uses_numpy_and_says_so(monkeypatch):
    monkeypatch.setenv("CTHULHU_NATIVE", "0")
    assert _native.library() is None
    ok, reason = NumpyPlugin().available()
    assert ok and "native kernels: no (CTHULHU_NATIVE=0)" in reason
    x = np.random.default_rng(0).uniform(-1, 1, (1, 6, 7, 2))
    k = np.ones((3, 3, 2, 1))
    np.testing.assert_allclose(ops.depthwise_conv(x, k, padding="same"),
                               ref.depthwise(x, k, (1, 1), "same", (1, 1)), rtol=1e-12)


@needs_compiler
def test_devices_listing_mentions_native_kernels(monkeypatch):
    monkeypatch.setenv("CTHULHU_NATIVE", "1")
    row = next(p for p in devices.plugins() if p.key == "numpy")
    assert row.available and "native kernels: yes (" in row.reason


def test_explain_mentions_native_kernels():
    why = str(devices.explain(np.ones((1, 8, 3)), "conv"))
    assert "plugin 'numpy'" in why and "native kernels: " in why


@pytest.fixture
def fresh_load(monkeypatch, tmp_path):
    """An empty cache folder and a forgotten library (the install-time build ignored);
    the real one comes back after."""
    monkeypatch.setenv("CTHULHU_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CTHULHU_NATIVE", "build")
    _native._load.cache_clear()
    yield tmp_path / "cache" / "native"
    _native._load.cache_clear()


def test_failed_compilation_falls_back_with_one_warning(fresh_load, monkeypatch, caplog,
                                                       tmp_path):
    bogus = tmp_path / "cc"
    bogus.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'bogus cc 1.0'; exit 0; fi\n"
                     "echo 'cc: internal error' >&2\nexit 1\n")
    bogus.chmod(0o755)
    monkeypatch.setenv("CC", str(bogus))
    x = np.random.default_rng(1).uniform(-1, 1, (2, 7, 8, 3))
    k = np.random.default_rng(2).uniform(-1, 1, (3, 3, 3, 2))
    with caplog.at_level(logging.DEBUG, logger="cthulhu.devices.numpy_.native"), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = ops.conv(x, k, padding="same")
        yd = ops.depthwise_conv(x, k, padding="same")
        reason = NumpyPlugin().available()[1]
    said = [w for w in caught if issubclass(w.category, _native.NativeCodeWarning)]
    assert len(said) == 1 and len(caught) == 1                 # once, and nothing else
    assert "internal error" in str(said[0].message) and "slower" in str(said[0].message)
    np.testing.assert_allclose(y, ref.conv(x, k, (1, 1), "same", (1, 1)), rtol=1e-12)
    np.testing.assert_allclose(yd, ref.depthwise(x, k, (1, 1), "same", (1, 1)), rtol=1e-12)
    assert _native.library() is None
    assert "native kernels: no (" in reason and "internal error" in reason
    logged = [r for r in caplog.records if r.name == "cthulhu.devices.numpy_.native"]
    assert logged and all(r.levelno == logging.DEBUG for r in logged)
    assert sum("using the NumPy code paths" in r.getMessage() for r in logged) == 1   # once
    assert not fresh_load.exists() or not list(fresh_load.iterdir())   # no half-built file


def test_missing_compiler_falls_back(fresh_load, monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    with pytest.warns(_native.NativeCodeWarning, match="native CPU kernels are off"):
        assert _native.library() is None
    assert _native.describe().startswith("no (")


@needs_compiler
def test_cache_file_is_written_atomically_and_reused(fresh_load, monkeypatch):
    moves, compiles = [], []
    real_replace, real_run = os.replace, subprocess.run

    def replace(src, dst):
        assert not os.path.exists(dst)          # the target appears only when complete
        assert os.path.dirname(src) == os.path.dirname(dst)
        assert os.path.getsize(src) > 0
        moves.append((src, dst))
        real_replace(src, dst)

    def run(cmd, *args, **kwargs):
        if "-shared" in cmd:
            compiles.append(cmd)
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(_native.os, "replace", replace)
    monkeypatch.setattr(_native.subprocess, "run", run)
    path, version = _native.build()
    assert path.parent == fresh_load and path.exists() and version
    assert len(compiles) == 1 and len(moves) == 1 and moves[0][1] == path
    assert [p.name for p in fresh_load.iterdir()] == [path.name]   # no temporary left
    for flag in ("-O3", "-fPIC", "-shared", "-std=c11", "-pthread"):
        assert flag in compiles[0]
    assert "-march=native" not in compiles[0] and "-ffast-math" not in compiles[0]
    again, _ = _native.build()
    assert again == path and len(compiles) == 1           # reused, not rebuilt
    assert _native.library().path == path                 # and loaded from there


@needs_compiler
def test_simd_clone_and_baseline_build_agree_bitwise(monkeypatch):
    """The few-channel kernel has no FMA contraction and no reassociation: its AVX2
    clone and the baseline x86-64 build (what a machine without AVX2 runs) give the
    same bits. Also: other flags, another cache file. (Both builds go to the user's
    cache, so only a first run pays for compiling them.)"""
    clones = _native.Library(*_native.build())
    baseline = _native.Library(*_native.build(cc=[*_native.compiler(), "-DCTHULHU_CLONES="]))
    assert clones.path != baseline.path and clones.path.exists() and baseline.path.exists()
    rng = np.random.default_rng(9)
    x = rng.uniform(-1, 1, (2, 9, 10, 21, 5)).astype(np.float32)
    k = rng.uniform(-1, 1, (3, 3, 3, 5, 2)).astype(np.float32)
    x64 = rng.uniform(-1, 1, (2, 11, 40, 3))
    k64 = rng.uniform(-1, 1, (3, 3, 3, 1))
    results = []
    for lib in (clones, baseline):
        monkeypatch.setattr(_native, "library", lambda lib=lib: lib)
        results.append([ops.conv(x, k, padding="same"), ops.conv(x, k, strides=2),
                        ops.conv(x64, k64, padding="same", dilation=2)])
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@needs_compiler
def test_pooling_simd_clone_and_baseline_build_agree_bitwise(monkeypatch):
    """Pooling's shuffled channels_first lines (strides 2 and 4) and its channels_last
    windows (unrolled and out of line) fold lane by lane: the AVX2 clone and the
    baseline x86-64 build give the same bits, NaNs included."""
    clones = _native.Library(*_native.build())
    baseline = _native.Library(*_native.build(cc=[*_native.compiler(), "-DCTHULHU_CLONES="]))
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 13, 70, 11)).astype(np.float32)
    x[1, 5, 33, 2] = np.nan
    first = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    cases = [((2, 2), (2, 2), "valid"), ((3, 3), (2, 2), "same"), ((1, 4), (1, 4), "valid"),
             ((3, 5), (2, 1), "same")]
    results = []
    for lib in (clones, baseline):
        monkeypatch.setattr(_native, "library", lambda lib=lib: lib)
        results.append([ops.pool(a, size, strides=strides, padding=padding, kind=kind,
                                 data_format=fmt)
                        for a, fmt in ((x, "channels_last"), (first, "channels_first"),
                                       (x.astype(np.float64), "channels_last"))
                        for size, strides, padding in cases
                        for kind in ("max", "average")])
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@needs_compiler
def test_build_without_python_headers_is_the_plain_library(monkeypatch):
    """Where Python's headers are missing the first-use build is ``kernels.c`` alone, in
    its own cache file: it loads, has no ``engine``, and the ops run through ``ctypes``
    with the extension's bits."""
    if _native.python_include() is None:
        pytest.skip("no Python headers here: every build is the plain library")
    extension = _native.Library(*_native.build())
    monkeypatch.setattr(_native, "python_include", lambda: None)
    plain = _native.Library(*_native.build())
    assert plain.path != extension.path
    assert plain.engine is None and extension.engine is not None
    rng = np.random.default_rng(11)
    x = rng.uniform(-1, 1, (2, 9, 10, 6)).astype(np.float32)
    k = rng.uniform(-1, 1, (3, 3, 6, 5)).astype(np.float32)
    kt = rng.uniform(-1, 1, (3, 3, 5, 6)).astype(np.float32)
    kd = rng.uniform(-1, 1, (3, 3, 6, 2)).astype(np.float32)
    kp = rng.uniform(-1, 1, (1, 1, 12, 7)).astype(np.float32)
    bias = rng.uniform(-1, 1, 5).astype(np.float32)
    results = []
    for lib in (extension, plain):
        monkeypatch.setattr(_native, "library", lambda lib=lib: lib)
        results.append([ops.conv(x, k, padding="same", bias=bias, activation="relu"),
                        ops.conv(x.astype(np.float64), k.astype(np.float64), strides=2),
                        ops.conv_transpose(x, kt, strides=2, padding="same"),
                        ops.depthwise_conv(x, kd, padding="same"),
                        ops.separable_conv(x, kd, kp, strides=2)])
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(results[1][0], np.maximum(
        ref.conv(x, k, (1, 1), "same", (1, 1)) + bias, 0), rtol=1e-5, atol=1e-5)


@needs_compiler
def test_extension_that_does_not_compile_falls_back_to_the_plain_library(
        monkeypatch, tmp_path, caplog):
    """Headers that do not compile (a broken or foreign ``Python.h``) cost the direct
    engine calls, not the native kernels: the plain library is built and loads."""
    headers = tmp_path / "include"
    headers.mkdir()
    (headers / "Python.h").write_text("#error these headers are broken\n")
    monkeypatch.setattr(_native, "python_include", lambda: str(headers))
    with caplog.at_level(logging.DEBUG, logger="cthulhu.devices.numpy_.native"):
        path, _ = _native.build()
    assert any("the extension does not build" in r.getMessage() and "broken" in r.getMessage()
               for r in caplog.records)
    lib = _native.Library(path, "test")       # (the cache's plain build, if made before)
    assert lib.engine is None
    monkeypatch.setattr(_native, "library", lambda: lib)
    x = np.random.default_rng(12).uniform(-1, 1, (1, 6, 7, 4))
    k = np.random.default_rng(13).uniform(-1, 1, (3, 3, 4, 5))
    np.testing.assert_allclose(ops.conv(x, k, padding="same"),
                               ref.conv(x, k, (1, 1), "same", (1, 1)), rtol=1e-10, atol=1e-10)


def test_compiler_lookup_prefers_cc_env(monkeypatch):
    monkeypatch.setenv("CC", "my-cc -m64")
    assert _native.compiler() == ["my-cc", "-m64"]
    monkeypatch.delenv("CC")
    found = _native.compiler()
    assert found is None or shutil.which(found[0])


def test_thin_thresholds_follow_the_measured_table():
    wins = _native_ops.thin_wins
    assert wins(3, 1, 1) and wins(3, 15, 2) and wins(1, 3, 2) and wins(2, 1, 1)
    assert not wins(3, 16, 1) and not wins(3, 1, 3) and not wins(2, 8, 8)


@needs_compiler
def test_depthwise_with_very_tall_kernels(native_runs):
    """More than 64 kernel rows before the last axis (the old kernel's table size)."""
    x = np.random.default_rng(4).uniform(-1, 1, (1, 70, 3, 2))
    k = np.random.default_rng(5).uniform(-1, 1, (65, 1, 2, 1))
    y = ops.depthwise_conv(x, k)
    assert native_runs == ["cthulhu_depthwise_conv"]
    np.testing.assert_allclose(y, ops.DEPTHWISE_CONV.reference(x, k), rtol=1e-12, atol=1e-12)
