"""The native convolution engine (``native/engine.h`` through ``_engine``) against plain loops.

Judges: the loop references of ``ops_reference`` (conv, depthwise, separable) and, for
transposed convolutions with explicit pads (negative ones crop), their definition: a
stride-1 convolution of the zero-stuffed input with the flipped kernel. Hypothesis
draws ranks, kernel sizes, strides, dilations, pads, both data formats, float32 and
float64, channel counts from 1 to past several vector widths, every instruction set
this machine has, and 1 or 3 threads; the epilogue (bias, scale, shift, relu, relu6)
goes through the engine's own API. Laws: bit-identical results whatever the thread
count, concurrent calls from several Python threads, Dask block tasks, a forked child,
and a machine without any C compiler (a subprocess).
"""

import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import ops, shapes
from cthulhu.devices import Epilogue
from cthulhu.devices.numpy_ import _engine, _native, threads
from tests.support import ops_reference as ref

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("CTHULHU_NATIVE", "1") == "0" or _native.compiler() is None
    and _native.prebuilt() is None, reason="no native code on this machine (tested below "
    "in test_no_compiler_still_runs_with_one_warning)")


def _isas():
    lib = _native.library()
    best = _native.ISAS.index(lib.best_isa())
    return _native.ISAS[:best + 1]


class _Isa:
    """Use at most one instruction set, restored on exit (usable inside Hypothesis)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.lib = _native.library()
        self.saved = self.lib.isa()
        assert self.lib.set_isa(self.name) == self.name

    def __exit__(self, *exc):
        self.lib.set_isa(self.saved)


def _tol(dtype):
    return dict(rtol=3e-5, atol=3e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def _act(y, activation):
    if activation == "relu":
        return np.maximum(y, 0)
    if activation == "relu6":
        return np.minimum(np.maximum(y, 0), 6)
    return y


@st.composite
def _geometry(draw, transposed=False):
    # transposed: pads of the stride-1 convolution over the zero-stuffed input
    rank = draw(st.integers(1, 3))
    ksize = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    # an axis with a stride takes no dilation (as Keras; cthulhu.shapes refuses both)
    dilation = tuple(1 if s > 1 else draw(st.integers(1, 2)) for s in strides)
    pads = tuple((draw(st.integers(-2, 3)), draw(st.integers(-2, 3))) for _ in range(rank))
    extra = 6 if rank < 3 else 3
    spatial = []
    for k, s, d, (lo, hi) in zip(ksize, strides, dilation, pads, strict=True):
        span = d * (k - 1) + 1
        if transposed:       # stuffed length (n-1)*s + 1 + lo + hi must cover the span
            least = max(1, -(-(span - 1 - lo - hi) // s) + 1)
        else:                # padded length n + lo + hi, and a crop may not eat the input
            least = max(1, span - lo - hi, 1 + max(0, -lo) + max(0, -hi))
        spatial.append(draw(st.integers(least, least + extra)))
    return rank, ksize, strides, dilation, pads, tuple(spatial)


def _channels(data):
    return data.draw(st.sampled_from([1, 2, 3, 5, 8, 9, 16, 17, 33, 40]))


def _stuffed_reference(x, kernel, strides, pads, dilation):
    """Transposed convolution by definition: zeros between the samples, then the
    stride-1 convolution with the flipped, (F, C)-swapped kernel and ``pads``."""
    n, *spatial, c = x.shape
    rank = len(spatial)
    stuffed = np.zeros((n, *((m - 1) * s + 1 for m, s in zip(spatial, strides, strict=True)), c))
    stuffed[(slice(None), *(slice(None, None, s) for s in strides))] = x
    flipped = np.swapaxes(np.flip(kernel, axis=tuple(range(rank))), -1, -2)
    return ref.conv(stuffed, flipped, (1,) * rank, pads, dilation)


def _inputs(data, rank, spatial, c):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    scale = data.draw(st.sampled_from([1, 4]))       # 4: sums past relu6's clip
    x = rng.uniform(-scale, scale, (data.draw(st.integers(1, 2)), *spatial, c)).astype(dtype)
    return dtype, rng, x


def _epilogue(data, rng, f, dtype):
    pick = data.draw(st.sampled_from(["none", "bias", "bn", "all"]))
    bias = rng.uniform(-1, 1, f).astype(dtype) if pick in ("bias", "all") else None
    scale = rng.uniform(-2, 2, f).astype(dtype) if pick in ("bn", "all") else None
    shift = rng.uniform(-1, 1, f).astype(dtype) if pick in ("bn", "all") else None
    activation = data.draw(st.sampled_from([None, "linear", "relu", "relu6"]))
    return dict(bias=bias, scale=scale, shift=shift, activation=activation)


def _as_epilogue(ep):
    return Epilogue(**{**ep, "activation": None if ep["activation"] == "linear"
                       else ep["activation"]})


def _apply(y, ep):
    if ep["bias"] is not None:
        y = y + ep["bias"]
    if ep["scale"] is not None:
        y = y * ep["scale"] + ep["shift"]
    return _act(y, ep["activation"])


def _layout(x, fmt):
    return x if fmt == "channels_last" else np.moveaxis(x, -1, 1)


def _run(data, func, *args, **kwargs):
    isa = data.draw(st.sampled_from(_isas()))
    n = data.draw(st.sampled_from([1, 3]))
    with _Isa(isa), threads.limit(n):
        return func(*args, **kwargs)


@settings(max_examples=120, deadline=None)
@given(geo=_geometry(), data=st.data())
def test_conv_matches_loop_reference(geo, data):
    rank, ksize, strides, dilation, pads, spatial = geo
    c, f = _channels(data), _channels(data)
    dtype, rng, x = _inputs(data, rank, spatial, c)
    kernel = rng.uniform(-1, 1, (*ksize, c, f)).astype(dtype)
    ep = _epilogue(data, rng, f, dtype)
    expected = _apply(ref.conv(x, kernel, strides, pads, dilation), ep)
    fmt = data.draw(st.sampled_from(["channels_last", "channels_first"]))
    xf = _layout(x, fmt)
    geometry = shapes.conv_geometry("conv", xf.shape, ksize, filters=f, strides=strides,
                                    dilation=dilation, padding=pads, data_format=fmt)
    y = _run(data, _engine.conv, xf, kernel, geometry, _as_epilogue(ep))
    assert y.dtype == dtype
    y = y if fmt == "channels_last" else np.moveaxis(y, 1, -1)
    np.testing.assert_allclose(y, expected, **_tol(dtype))


@settings(max_examples=100, deadline=None)
@given(geo=_geometry(transposed=True), data=st.data())
def test_conv_transpose_matches_stuffed_definition(geo, data):
    rank, ksize, strides, dilation, pads, spatial = geo
    c, f = _channels(data), _channels(data)
    dtype, rng, x = _inputs(data, rank, spatial, c)
    kernel = rng.uniform(-1, 1, (*ksize, f, c)).astype(dtype)
    bias = rng.uniform(-1, 1, f).astype(dtype)
    expected = np.maximum(_stuffed_reference(x, kernel, strides, pads, dilation) + bias, 0)
    fmt = data.draw(st.sampled_from(["channels_last", "channels_first"]))
    y = _run(data, ops.conv_transpose, _layout(x, fmt), kernel, strides=strides, padding=pads,
             dilation=dilation, data_format=fmt, bias=bias, activation="relu")
    y = y if fmt == "channels_last" else np.moveaxis(y, 1, -1)
    assert y.shape == expected.shape and y.dtype == dtype
    np.testing.assert_allclose(y, expected, **_tol(dtype))


@pytest.mark.parametrize("f", [5, 8, 16])
def test_transposed_phases_of_different_lengths(f):
    """Phases with 0 or 1 taps and 8 or 9 outputs, whose tile plans would differ on their
    own, share one input layout (a bug once: only the first phase's kind was set up)."""
    rng = np.random.default_rng(f)
    x = rng.uniform(-1, 1, (2, 8, 8, 1)).astype(np.float32)
    kernel = rng.uniform(-1, 1, (2, 1, f, 1)).astype(np.float32)
    expected = _stuffed_reference(x, kernel, (2, 2), ((1, 1), (1, 1)), (1, 1))
    for isa in _isas():
        with _Isa(isa):
            y = ops.conv_transpose(x, kernel, strides=2, padding=((1, 1), (1, 1)))
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5, err_msg=isa)


@settings(max_examples=100, deadline=None)
@given(geo=_geometry(), data=st.data())
def test_depthwise_and_separable_match_loop_reference(geo, data):
    rank, ksize, strides, dilation, pads, spatial = geo
    c, m, f = _channels(data), data.draw(st.integers(1, 3)), _channels(data)
    dtype, rng, x = _inputs(data, rank, spatial, c)
    dk = rng.uniform(-1, 1, (*ksize, c, m)).astype(dtype)
    pk = rng.uniform(-1, 1, (*(1,) * rank, c * m, f)).astype(dtype)
    fmt = data.draw(st.sampled_from(["channels_last", "channels_first"]))
    xf = _layout(x, fmt)
    cfg = dict(strides=strides, dilation=dilation, padding=pads, data_format=fmt,
               depth_multiplier=m)
    depthwise = shapes.conv_geometry("depthwise_conv", xf.shape, ksize, **cfg)
    separable = shapes.conv_geometry("separable_conv", xf.shape, ksize, filters=f, **cfg)
    ep = _epilogue(data, rng, c * m, dtype)
    y = _run(data, _engine.depthwise_conv, xf, dk, depthwise, _as_epilogue(ep))
    expected = _apply(ref.depthwise(x, dk, strides, pads, dilation), ep)
    y = y if fmt == "channels_last" else np.moveaxis(y, 1, -1)
    np.testing.assert_allclose(y, expected, **_tol(dtype))
    ep = _epilogue(data, rng, f, dtype)
    y = _run(data, _engine.separable_conv, xf, dk, pk, separable, _as_epilogue(ep))
    expected = _apply(ref.separable(x, dk, pk, strides, pads, dilation), ep)
    y = y if fmt == "channels_last" else np.moveaxis(y, 1, -1)
    np.testing.assert_allclose(y, expected, **_tol(dtype))


_LAST = "channels_last"


class _Through:
    """Call the engine through the extension's ``engine`` function (``direct``) or through
    ``ctypes``, restored on exit (usable inside Hypothesis)."""

    def __init__(self, direct):
        self.direct = direct

    def __enter__(self):
        self.lib = _native.library()
        self.saved = self.lib.engine
        self.lib.__dict__["engine"] = self.saved if self.direct else None

    def __exit__(self, *exc):
        self.lib.__dict__["engine"] = self.saved


def _extension_engine():
    engine = _native.library().engine
    if engine is None:      # kernels.c alone: the library was built without Python's headers
        pytest.skip(f"{_native.library().path} is not the extension module")
    return engine


def _strided(rng, x, how):
    """``x``'s values in a view with other strides: every other channel of a wider
    array, or the spatial axes stored reversed."""
    if how == "every other channel":
        wide = rng.uniform(-1, 1, (*x.shape[:-1], 2 * x.shape[-1])).astype(x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    if how == "reversed":
        axes = tuple(range(1, x.ndim - 1))
        return np.flip(np.ascontiguousarray(np.flip(x, axes)), axes)
    return x


@settings(max_examples=80, deadline=None)
@given(geo=_geometry(), data=st.data())
def test_extension_and_ctypes_calls_give_the_same_bits(geo, data):
    """The extension's ``engine`` (the arrays themselves) and the ``ctypes`` call (their
    data pointers) reach the same C function with the same arguments: the same bits,
    on contiguous and strided inputs (whose first element each path must find), every
    engine, every epilogue, float32 and float64; and both match the loop reference."""
    _extension_engine()
    rank, ksize, strides, dilation, pads, spatial = geo
    c, f = _channels(data), _channels(data)
    dtype, rng, x = _inputs(data, rank, spatial, c)
    xs = _strided(rng, x, data.draw(st.sampled_from(["contiguous", "every other channel",
                                                      "reversed"])))
    assert np.array_equal(xs, x)
    kind = data.draw(st.sampled_from(["conv", "conv_transpose", "depthwise", "separable"]))
    m = data.draw(st.integers(1, 2))
    if kind == "conv":
        kernel = rng.uniform(-1, 1, (*ksize, c, f)).astype(dtype)
        g = shapes.conv_geometry("conv", x.shape, ksize, filters=f, strides=strides,
                                 dilation=dilation, padding=pads, data_format=_LAST)
        call, args, out = _engine.conv, (kernel,), f
        expected = ref.conv(x, kernel, strides, pads, dilation)
    elif kind == "conv_transpose":
        kernel = rng.uniform(-1, 1, (*ksize, f, c)).astype(dtype)
        g = shapes.conv_geometry("conv_transpose", x.shape, ksize, filters=f, strides=strides,
                                 dilation=(1,) * rank, padding="valid", data_format=_LAST)
        call, args, out = _engine.conv_transpose, (kernel,), f
        expected = _stuffed_reference(x, kernel, strides, g.pads, (1,) * rank)
    else:
        dk = rng.uniform(-1, 1, (*ksize, c, m)).astype(dtype)
        cfg = dict(strides=strides, dilation=dilation, padding=pads, depth_multiplier=m,
                   data_format=_LAST)
        if kind == "depthwise":
            g = shapes.conv_geometry("depthwise_conv", x.shape, ksize, **cfg)
            call, args, out = _engine.depthwise_conv, (dk,), c * m
            expected = ref.depthwise(x, dk, strides, pads, dilation)
        else:
            pk = rng.uniform(-1, 1, (*(1,) * rank, c * m, f)).astype(dtype)
            g = shapes.conv_geometry("separable_conv", x.shape, ksize, filters=f, **cfg)
            call, args, out = _engine.separable_conv, (dk, pk), f
            expected = ref.separable(x, dk, pk, strides, pads, dilation)
    ep = _epilogue(data, rng, out, dtype)
    n = data.draw(st.sampled_from([1, 3]))
    results = []
    for direct in (True, False):
        with _Through(direct), threads.limit(n):
            results.append(call(xs, *args, g, _as_epilogue(ep)))
    assert results[0] is not None, "the engine declined"
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], _apply(expected, ep), **_tol(dtype))


@pytest.mark.parametrize("batch", [1, 2])
def test_length_one_axes_with_any_stride_reach_the_engine(batch):
    """A view whose length-1 axes carry odd strides (NumPy calls ``(1, 1, 1)`` of every
    other channel contiguous, so nothing copies it) is read in place: the depthwise
    and separable kernels, which need contiguous channels, do not decline it."""
    wide = np.arange(batch * 2, dtype=np.float32).reshape(batch, 1, 2) + 1
    x = wide[..., ::2]
    dk, pk = np.full((1, 1, 2), 3, np.float32), np.full((1, 2, 1), 0.5, np.float32)
    cfg = dict(strides=(1,), dilation=(1,), padding="valid", data_format=_LAST,
               depth_multiplier=2)
    depthwise = shapes.conv_geometry("depthwise_conv", x.shape, (1,), **cfg)
    separable = shapes.conv_geometry("separable_conv", x.shape, (1,), filters=1, **cfg)
    y = _engine.depthwise_conv(x, dk, depthwise, Epilogue())
    assert y is not None
    np.testing.assert_array_equal(y, np.repeat(3 * x, 2, axis=-1))
    y = _engine.separable_conv(x, dk, pk, separable, Epilogue())
    assert y is not None
    np.testing.assert_array_equal(y, 3 * x)
    assert _engine._elements(x) == ([1, 1, 1] if batch == 1 else [2, 1, 1])


def test_extension_engine_refuses_bad_arguments():
    """The extension's ``engine`` checks what ``ctypes``' argtypes would, and the item
    sizes: a clear error, never a call with the wrong pointers."""
    engine = _extension_engine()
    kinds = _native.ENGINE_KINDS
    x = np.ones((1, 4, 4, 2), np.float32)
    w = np.ones((1, 1, 2, 3), np.float32)
    y = np.empty((1, 4, 4, 3), np.float32)
    g = shapes.conv_geometry("conv", x.shape, (1, 1), filters=3, strides=(1, 1),
                             dilation=(1, 1), padding="valid", data_format=_LAST)
    geom = _engine.vector(x, y, "channels_last", "channels_last", g, 2, 3, 1)

    def call(*, kind=kinds["cthulhu_conv"], itemsize=4, x=x, w=w, pw=None, bias=None,
             act=0, y=y, geom=geom, threads=1):
        return engine(kind, itemsize, x, w, pw, bias, None, None, act, y, geom, threads)

    assert call() == 0
    np.testing.assert_array_equal(y, np.full((1, 4, 4, 3), 2, np.float32))
    frozen_x, frozen_w = x.copy(), w.copy()          # read-only inputs (a memory map 'r')
    frozen_x.flags.writeable = frozen_w.flags.writeable = False
    y[...] = 0
    assert call(x=frozen_x, w=frozen_w) == 0
    np.testing.assert_array_equal(y, np.full((1, 4, 4, 3), 2, np.float32))
    with pytest.raises(TypeError, match="12 arguments"):
        engine(0, 4, x)
    with pytest.raises(ValueError, match="out of range"):
        call(kind=len(kinds))
    with pytest.raises(ValueError, match="out of range"):
        call(itemsize=2)
    with pytest.raises(ValueError, match="out of range"):
        call(threads=0)
    with pytest.raises(ValueError, match="out of range"):
        call(act=3)
    with pytest.raises(TypeError, match="x has the wrong item size"):
        call(x=x.astype(np.float64))
    with pytest.raises(TypeError, match="bias has the wrong item size"):
        call(bias=np.zeros(3, np.float64))
    with pytest.raises(TypeError, match="geometry has the wrong item size"):
        call(geom=geom.astype(np.int32))
    with pytest.raises(TypeError, match="pw is needed"):
        call(kind=kinds["cthulhu_separable_conv"])
    with pytest.raises(TypeError, match="pw is only for the separable engine"):
        call(pw=w)
    with pytest.raises(TypeError):
        call(w=None)                            # only pw, bias, scale and shift are optional
    with pytest.raises(TypeError):
        call(w=[1.0, 2.0])                      # not a buffer
    frozen = y.copy()
    frozen.flags.writeable = False
    with pytest.raises((BufferError, ValueError)):
        call(y=frozen)                          # the result must be writable
    assert sys.getrefcount(x) == sys.getrefcount(w)       # no export left behind
    grown = np.ones(8, np.float32)
    before = sys.getrefcount(grown)
    with pytest.raises(TypeError):
        call(x=grown, bias=np.zeros(3, np.float64))
    assert sys.getrefcount(grown) == before
    grown.resize(16, refcheck=False)                      # possible: nothing holds it


@st.composite
def _wide_rows(draw):
    """Multiplier-1 depthwise geometries with rows long enough for the kernel's blocks of
    8 and 4 outputs, its edge outputs and the leftovers between them."""
    rank = draw(st.integers(1, 2))
    k2 = draw(st.integers(1, 5))
    s2 = draw(st.integers(1, 2))
    d2 = 1 if s2 > 1 else draw(st.integers(1, 2))
    lo, hi = draw(st.integers(-1, 4)), draw(st.integers(-1, 4))
    width = draw(st.integers(max(1, d2 * (k2 - 1) + 1 - lo - hi, 1 + max(0, -lo) + max(0, -hi)),
                             45))
    ksize, strides, dilation, pads, spatial = (k2,), (s2,), (d2,), ((lo, hi),), (width,)
    if rank == 2:
        ksize, strides, dilation = (2, *ksize), (1, *strides), (1, *dilation)
        pads, spatial = ((1, 0), *pads), (2, *spatial)
    return rank, ksize, strides, dilation, pads, spatial


@settings(max_examples=60, deadline=None)
@given(geo=_wide_rows(), data=st.data())
def test_depthwise_rows_in_blocks_match_loop_reference(geo, data):
    """Multiplier 1: blocks of outputs whose windows are inside the row, edges and the
    channels past the last whole vector one output at a time, every data format, dtype,
    instruction set and epilogue."""
    rank, ksize, strides, dilation, pads, spatial = geo
    c = data.draw(st.sampled_from([1, 3, 8, 16, 20, 37, 64]))
    dtype, rng, x = _inputs(data, rank, spatial, c)
    dk = rng.uniform(-1, 1, (*ksize, c, 1)).astype(dtype)
    fmt = data.draw(st.sampled_from(["channels_last", "channels_first"]))
    geometry = shapes.conv_geometry("depthwise_conv", _layout(x, fmt).shape, ksize,
                                    strides=strides, dilation=dilation, padding=pads,
                                    data_format=fmt)
    ep = _epilogue(data, rng, c, dtype)
    y = _run(data, _engine.depthwise_conv, _layout(x, fmt), dk, geometry, _as_epilogue(ep))
    expected = _apply(ref.depthwise(x, dk, strides, pads, dilation), ep)
    y = y if fmt == "channels_last" else np.moveaxis(y, 1, -1)
    np.testing.assert_allclose(y, expected, **_tol(dtype))


@pytest.mark.parametrize("c", [16, 37])
def test_depthwise_bits_do_not_depend_on_segments_or_threads(c):
    """One image alone (its rows cut in segments, several threads) and the same image
    among 45 (135 whole rows, two per item, the last item one): the same bits, every
    instruction set."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (1, 3, 301, c)).astype(np.float32)
    kd = rng.uniform(-1, 1, (2, 3, c, 1)).astype(np.float32)
    bias = rng.uniform(-1, 1, c).astype(np.float32)
    many = np.concatenate([rng.uniform(-1, 1, x.shape).astype(np.float32) for _ in range(44)]
                          + [x])
    for isa in _isas():
        with _Isa(isa):
            with threads.limit(1):
                one = ops.depthwise_conv(x, kd, padding="same", bias=bias, activation="relu")
                among = ops.depthwise_conv(many, kd, padding="same", bias=bias,
                                           activation="relu")[-1:]
            np.testing.assert_array_equal(among, one, err_msg=isa)
            for n in (2, 3):
                with threads.limit(n):
                    np.testing.assert_array_equal(
                        ops.depthwise_conv(x, kd, padding="same", bias=bias,
                                           activation="relu"), one, err_msg=isa)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_and_tiny_channel_counts(dtype):
    """Hundreds of channels and filters (many filter blocks, long reductions) and one."""
    rng = np.random.default_rng(5)
    for c, f, shape in [(300, 260, (1, 5, 6)), (1, 1, (2, 40, 9)), (257, 1, (1, 4, 7)),
                        (1, 300, (1, 6, 5))]:
        x = rng.uniform(-1, 1, (*shape, c)).astype(dtype)
        k = rng.uniform(-1, 1, (3, 2, c, f)).astype(dtype)
        for isa in _isas():
            with _Isa(isa):
                y = ops.conv(x, k, padding="same", strides=(1, 2))
            expected = ref.conv(x, k, (1, 2), "same", (1, 1))
            np.testing.assert_allclose(y, expected, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                       atol=1e-3 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_medium_sizes_equal_the_generic_code(fmt):
    """Rows of many tiles with a partial last one, rows split in segments (1D, batch
    1), filter counts past several vector blocks, every instruction set."""
    rng = np.random.default_rng(12)
    cases = [("conv", (1, 1500, 7), (4, 7, 70), dict(padding="same", dilation=2)),
             ("conv", (2, 13, 59, 24), (3, 3, 24, 49), dict(padding="same")),
             ("conv", (1, 6, 7, 45, 9), (3, 3, 3, 9, 17), dict(strides=(1, 2, 3))),
             # few filters (pair tiles): the input's planar copy, 8 x 8 transposes of
             # 19 channels (two blocks and 3 left) by 21 positions (two and 5 left)
             ("conv", (2, 5, 21, 19), (3, 3, 19, 12), dict(padding="same")),
             ("conv_transpose", (1, 5, 6, 13, 16), (3, 3, 3, 8, 16), dict(strides=2,
                                                                        padding="same")),
             ("conv_transpose", (2, 40, 33), (4, 19, 33), dict(strides=3)),
             ("depthwise_conv", (1, 3, 300, 37), (3, 3, 37, 1), dict(padding="same")),
             ("depthwise_conv", (2, 9, 44, 6), (2, 3, 6, 3), dict(strides=(2, 1)))]
    for op, xs, ks, cfg in cases:
        x = _layout(rng.uniform(-1, 1, xs).astype(np.float32), fmt)
        k = rng.uniform(-1, 1, ks).astype(np.float32)
        expected = ops.OPS[op].reference(x, k, data_format=fmt, **cfg)
        for isa in _isas():
            with _Isa(isa), threads.limit(2):
                y = getattr(ops, op)(x, k, data_format=fmt, **cfg)
            np.testing.assert_allclose(y, expected, rtol=2e-4, atol=2e-4, err_msg=f"{op} {isa}")


def test_no_input_channels_give_the_epilogue_of_zero():
    """Zero input channels: every sum is empty, the output is act(bias)."""
    x = np.ones((2, 5, 6, 0), np.float32)
    bias = np.arange(-2, 2, dtype=np.float32)
    relu_bias = np.maximum(bias, 0)
    for isa in _isas():
        with _Isa(isa):
            y = ops.conv(x, np.ones((3, 3, 0, 4), np.float32), padding="same", bias=bias,
                         activation="relu")
            yt = ops.conv_transpose(x, np.ones((3, 3, 4, 0), np.float32), strides=2, bias=bias)
            ys = ops.separable_conv(x, np.ones((3, 3, 0, 2), np.float32),
                                    np.ones((1, 1, 0, 4), np.float32), bias=bias)
        assert y.shape == (2, 5, 6, 4) and yt.shape == (2, 11, 13, 4) and ys.shape == (2, 3, 4, 4)
        np.testing.assert_array_equal(y, np.broadcast_to(relu_bias, y.shape))
        np.testing.assert_array_equal(yt, np.broadcast_to(bias, yt.shape))
        np.testing.assert_array_equal(ys, np.broadcast_to(bias, ys.shape))


def _thread_cases():
    rng = np.random.default_rng(11)
    x2 = rng.uniform(-1, 1, (3, 23, 29, 20)).astype(np.float32)
    x3 = rng.uniform(-1, 1, (1, 9, 14, 21, 6))
    x1 = rng.uniform(-1, 1, (2, 700, 12)).astype(np.float32)
    k2 = rng.uniform(-1, 1, (3, 3, 20, 37)).astype(np.float32)
    k3 = rng.uniform(-1, 1, (3, 2, 3, 6, 9))
    k1 = rng.uniform(-1, 1, (5, 12, 24)).astype(np.float32)
    kd = rng.uniform(-1, 1, (3, 3, 20, 2)).astype(np.float32)
    kp = rng.uniform(-1, 1, (1, 1, 40, 19)).astype(np.float32)
    # few filters: pair or planar tiles, whose planar input copy runs on several threads
    x16 = rng.uniform(-1, 1, (4, 24, 40, 16)).astype(np.float32)
    k16 = rng.uniform(-1, 1, (3, 3, 16, 16)).astype(np.float32)
    return [
        lambda: ops.conv(x16, k16, padding="same", activation="relu"),
        lambda: ops.conv(x2, k2, padding="same", activation="relu"),
        lambda: ops.conv(x3, k3, strides=(1, 2, 1), padding="valid"),
        lambda: ops.conv(x1, k1, padding="causal", dilation=3),
        lambda: ops.conv_transpose(x2, np.swapaxes(k2, -1, -2).copy(), strides=2,
                                   padding="same"),
        lambda: ops.conv_transpose(x3, np.swapaxes(k3, -1, -2).copy(), strides=(2, 1, 3)),
        lambda: ops.depthwise_conv(x2, kd, padding="same"),
        lambda: ops.separable_conv(x2, kd, kp, padding="same", data_format="channels_last"),
    ]


def test_results_do_not_depend_on_the_thread_count():
    """Bit for bit: work is split over outputs only, never inside a reduction."""
    for isa in _isas():
        with _Isa(isa):
            for case in _thread_cases():
                with threads.limit(1):
                    one = case()
                for n in (2, 3, 5, 8):
                    with threads.limit(n):
                        np.testing.assert_array_equal(case(), one)


def test_concurrent_calls_from_python_threads():
    """Several Python threads, each with its own limit, share the engine's pool."""
    cases = _thread_cases()
    with threads.limit(1):
        expected = [case() for case in cases]
    errors = []
    gate = threading.Barrier(4)

    def work(n):
        try:
            gate.wait()
            with threads.limit(n):
                for _ in range(3):
                    for case, want in zip(cases, expected, strict=True):
                        np.testing.assert_array_equal(case(), want)
        except Exception as exc:          # reported by the main thread
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in (1, 2, 3, 4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors[0]


def test_engine_inside_dask_block_tasks():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (1, 24, 26, 22, 5)).astype(np.float32)
    k = rng.uniform(-1, 1, (3, 3, 3, 5, 11)).astype(np.float32)
    kt = rng.uniform(-1, 1, (3, 3, 3, 4, 5)).astype(np.float32)
    lazy = da.from_array(x, chunks=(1, 9, 13, 11, 5))
    got = ops.conv(lazy, k, padding="same").compute(scheduler="threads", num_workers=3)
    np.testing.assert_allclose(got, ops.conv(x, k, padding="same"), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, ref.conv(x, k, (1, 1, 1), "same", (1, 1, 1)),
                               rtol=1e-4, atol=1e-4)
    got = ops.conv_transpose(lazy, kt, strides=2, padding="same").compute(
        scheduler="threads", num_workers=3)
    np.testing.assert_allclose(got, ops.conv_transpose(x, kt, strides=2, padding="same"),
                               rtol=1e-5, atol=1e-5)


def _child_conv(args):
    x, k = args
    with threads.limit(2):
        return ops.conv(x, k, padding="same")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
def test_engine_works_in_a_forked_child():
    """The parent's pool threads do not exist in a child: it must start its own."""
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (2, 30, 31, 16)).astype(np.float32)
    k = rng.uniform(-1, 1, (3, 3, 16, 16)).astype(np.float32)
    with threads.limit(2):
        parent = ops.conv(x, k, padding="same")
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.map(_child_conv, [(x, k)])[0]
    np.testing.assert_array_equal(child, parent)


def test_devices_listing_names_the_fast_paths():
    """``cthulhu devices``: the instruction set, where the library came from, the
    threads an op would use and the BLAS with its thread count."""
    from cthulhu import devices
    from cthulhu.devices.numpy_ import _threads

    row = next(p for p in devices.plugins() if p.key == "numpy")
    lib = _native.library()
    assert f"native kernels: yes ({lib.isa()}, " in row.reason
    calls = "ctypes" if lib.engine is None else "direct"
    assert f"engine calls: {calls})" in row.reason
    assert f"threads: {threads.current()}" in row.reason
    assert f"BLAS: {_threads.describe_blas()}" in row.reason
    with _Isa("generic"):
        row = next(p for p in devices.plugins() if p.key == "numpy")
        assert "native kernels: yes (generic, " in row.reason


def test_prebuilt_library_from_other_sources_is_not_loaded(monkeypatch, tmp_path):
    """An install-time build whose source hash differs (an edited checkout) is ignored."""
    lib = _native.library()
    monkeypatch.setattr(_native, "prebuilt", lambda: lib.path)
    monkeypatch.setenv("CTHULHU_NATIVE", "1")
    assert _native._open_prebuilt(lib.source_hash) is not None
    assert _native._open_prebuilt("0" * 24) is None


def _no_compiler_env(tmp_path):
    """An environment where no C compiler can be found and no earlier build is used."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "CTHULHU_NATIVE")}
    env.update(CC="/nonexistent/cc", PATH=str(bin_dir), CTHULHU_CACHE=str(tmp_path / "cache"),
               CTHULHU_NATIVE="build", PYTHONPATH=str(ROOT))
    return env


_NO_COMPILER_SCRIPT = """
import numpy as np
from tests.support import ops_reference as ref
from cthulhu import ops
from cthulhu.devices.numpy_ import _native
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (2, 7, 8, 3))
k = rng.uniform(-1, 1, (3, 3, 3, 4))
np.testing.assert_allclose(ops.conv(x, k, padding="same"),
                           ref.conv(x, k, (1, 1), "same", (1, 1)), rtol=1e-10, atol=1e-10)
kd = rng.uniform(-1, 1, (3, 3, 3, 2))
np.testing.assert_allclose(ops.depthwise_conv(x, kd, strides=2),
                           ref.depthwise(x, kd, (2, 2), "valid", (1, 1)), rtol=1e-10, atol=1e-10)
kt = rng.uniform(-1, 1, (3, 3, 5, 3))
np.testing.assert_allclose(ops.conv_transpose(x, kt, strides=2, padding="same"),
                           ref.conv_transpose(x, kt, (2, 2), "same", None, (1, 1)),
                           rtol=1e-10, atol=1e-10)
assert _native.library() is None
print("describe:", _native.describe())
"""


def test_no_compiler_still_runs_with_one_warning(tmp_path):
    env = _no_compiler_env(tmp_path)
    done = subprocess.run([sys.executable, "-c", _NO_COMPILER_SCRIPT], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "describe: no (" in done.stdout
    assert done.stderr.count("NativeCodeWarning") == 1, done.stderr
    assert "native CPU kernels are off" in done.stderr and "slower" in done.stderr
    listing = subprocess.run([sys.executable, "-m", "cthulhu", "devices"], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert listing.returncode == 0 and "native kernels: no (" in listing.stdout


@pytest.mark.slow
def test_no_compiler_passes_the_op_tests(tmp_path):
    """The conv op tests pass on the NumPy paths alone when no compiler exists."""
    env = _no_compiler_env(tmp_path)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "ops" / "test_conv.py"),
                           str(ROOT / "tests" / "layers" / "test_layers_conv.py")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.slow
def test_install_without_compiler_builds_a_wheel(tmp_path):
    """``pip`` still builds and installs the package when the optional extension
    cannot be compiled; the wheel then has no ``_kernels`` library."""
    env = _no_compiler_env(tmp_path)
    env["PATH"] = os.pathsep.join([env["PATH"], os.path.dirname(sys.executable)])
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-w", str(tmp_path / "dist"), str(ROOT)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    import zipfile

    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "cthulhu/devices/numpy_/native/kernels.c" in names
    assert not any("_kernels" in n for n in names)


def test_geometry_vector_is_remembered_per_geometry_and_layout():
    """_engine.vector caches by the geometry object and the arrays' strides: the same
    geometry read from a view with other strides gets its own vector (and the right
    result), and a cached vector cannot be written."""
    rng = np.random.default_rng(21)
    big = rng.uniform(-1, 1, (2, 9, 11, 10)).astype(np.float32)
    view = big[:, :, ::-1, ::2]                    # other strides, same shape as its copy
    copy = np.ascontiguousarray(view)
    k = rng.uniform(-1, 1, (3, 3, 5, 7)).astype(np.float32)
    with threads.limit(2):
        from_copy = ops.conv(copy, k, padding="same")
        from_view = ops.conv(view, k, padding="same")
    np.testing.assert_array_equal(from_view, from_copy)
    np.testing.assert_allclose(from_copy, ref.conv(copy, k, (1, 1), "same", (1, 1)),
                               rtol=1e-4, atol=1e-4)
    g = shapes.conv_geometry("conv", copy.shape, (3, 3), filters=7, strides=(1, 1),
                             dilation=(1, 1), padding="same", data_format="channels_last")
    y = np.empty((2, 9, 11, 7), np.float32)
    first = _engine.vector(copy, y, "channels_last", "channels_last", g, 5, 7, 1)
    assert _engine.vector(copy, y, "channels_last", "channels_last", g, 5, 7, 1) is first
    other = _engine.vector(view, y, "channels_last", "channels_last", g, 5, 7, 1)
    assert other is not first and not np.array_equal(other, first)
    assert not first.flags.writeable
