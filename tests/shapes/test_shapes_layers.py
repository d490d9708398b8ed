"""Whole-layer shapes of the spatial layers against results actually computed by NumPy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import ShapeError
from tests.support.shape_refs import conv_nd, depthwise_nd

FORMATS = st.sampled_from(["channels_last", "channels_first"])


@st.composite
def conv_case(draw, max_rank=3, paddings=("valid", "same", "causal")):
    rank = draw(st.integers(1, max_rank))
    top = {1: 12, 2: 7, 3: 5}[rank]
    spatial = tuple(draw(st.lists(st.integers(1, top), min_size=rank, max_size=rank)))
    kernel = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    if draw(st.booleans()):
        strides = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
        dilation = (1,) * rank
    else:
        strides = (1,) * rank
        dilation = tuple(draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank)))
    allowed = [p for p in paddings if p != "causal" or rank == 1]
    padding = draw(st.sampled_from(allowed))
    data_format = "channels_last" if rank == 1 and padding == "causal" else draw(FORMATS)
    channels = draw(st.integers(1, 3))
    return rank, spatial, kernel, strides, dilation, padding, data_format, channels


def _input(spatial, channels, data_format, rng):
    shape = (2, channels, *spatial) if data_format == "channels_first" else (2, *spatial, channels)
    return rng.normal(size=shape)


def _pads(spatial, kernel, strides, dilation, padding):
    return tuple(shapes.conv_padding(n, k, s, padding, d)
                 for n, k, s, d in zip(spatial, kernel, strides, dilation, strict=True))


def _fits(spatial, kernel, dilation, padding):
    return padding != "valid" or all(
        n >= (k - 1) * d + 1 for n, k, d in zip(spatial, kernel, dilation, strict=True))


@settings(max_examples=250)
@given(conv_case(), st.integers(1, 3))
def test_conv_shape_equals_computed_conv(case, filters):
    rank, spatial, kernel, strides, dilation, padding, fmt, channels = case
    args = ((2, *spatial, channels) if fmt == "channels_last" else (2, channels, *spatial),
            filters, kernel, strides, padding, dilation, fmt)
    if not _fits(spatial, kernel, dilation, padding):
        with pytest.raises(ShapeError):
            shapes.conv(*args)
        return
    rng = np.random.default_rng(0)
    x = _input(spatial, channels, fmt, rng)
    w = rng.normal(size=(*kernel, channels, filters))
    y = conv_nd(x, w, strides, dilation, _pads(spatial, kernel, strides, dilation, padding),
                channels_first=fmt == "channels_first")
    assert shapes.conv(*args) == y.shape
    assert shapes.conv(*args[:-1], data_format=fmt, owner="test") == y.shape


@settings(max_examples=200)
@given(conv_case(max_rank=2, paddings=("valid", "same")), st.integers(1, 3))
def test_depthwise_and_separable_shapes_equal_computed(case, multiplier):
    rank, spatial, kernel, strides, dilation, padding, fmt, channels = case
    in_shape = (2, *spatial, channels) if fmt == "channels_last" else (2, channels, *spatial)
    if not _fits(spatial, kernel, dilation, padding):
        with pytest.raises(ShapeError):
            shapes.depthwise_conv(in_shape, kernel, strides, padding, multiplier, dilation, fmt)
        return
    rng = np.random.default_rng(1)
    x = _input(spatial, channels, fmt, rng)
    dw = rng.normal(size=(*kernel, channels, multiplier))
    pads = _pads(spatial, kernel, strides, dilation, padding)
    first = fmt == "channels_first"
    y = depthwise_nd(x, dw, strides, dilation, pads, channels_first=first)
    assert shapes.depthwise_conv(in_shape, kernel, strides, padding, multiplier, dilation,
                                 fmt) == y.shape
    pw = rng.normal(size=(*(1,) * rank, channels * multiplier, 5))
    z = conv_nd(y, pw, (1,) * rank, (1,) * rank, ((0, 0),) * rank, channels_first=first)
    assert shapes.separable_conv(in_shape, 5, kernel, strides, padding, multiplier, dilation,
                                 fmt) == z.shape


@st.composite
def transpose_case(draw):
    rank = draw(st.integers(1, 3))
    spatial = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    kernel = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    strides = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    dilation = (1,) * rank
    if all(s == 1 for s in strides) and draw(st.booleans()):
        dilation = tuple(draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank)))
    padding = draw(st.sampled_from(["valid", "same"]))
    output_padding = None
    if draw(st.booleans()):
        output_padding = tuple(draw(st.integers(0, s - 1)) for s in strides)
    return rank, spatial, kernel, strides, dilation, padding, output_padding, draw(FORMATS)


def _zero_insert(x, strides, axes):
    for axis, s in zip(axes, strides, strict=True):
        shape = list(x.shape)
        shape[axis] = (shape[axis] - 1) * s + 1
        z = np.zeros(shape)
        index = [slice(None)] * x.ndim
        index[axis] = slice(None, None, s)
        z[tuple(index)] = x
        x = z
    return x


def _crop_negative(x, pads, axes):
    """np.pad with negative entries meaning crop."""
    for axis, (lo, hi) in zip(axes, pads, strict=True):
        width = [(0, 0)] * x.ndim
        width[axis] = (max(lo, 0), max(hi, 0))
        x = np.pad(x, width)
        index = [slice(None)] * x.ndim
        index[axis] = slice(max(-lo, 0), x.shape[axis] - max(-hi, 0))
        x = x[tuple(index)]
    return x


@settings(max_examples=200)
@given(transpose_case())
def test_conv_transpose_shape_equals_computed_transpose(case):
    rank, spatial, kernel, strides, dilation, padding, output_padding, fmt = case
    channels, filters = 2, 3
    in_shape = (2, *spatial, channels) if fmt == "channels_last" else (2, channels, *spatial)
    args = (in_shape, filters, kernel, strides, padding, output_padding, dilation, fmt)
    ops = output_padding or (None,) * rank
    try:
        expected = shapes.conv_transpose(*args)
    except ShapeError as exc:   # only the empty-output corner of 'same' + even kernel
        assert "empty output" in str(exc)
        return
    rng = np.random.default_rng(2)
    x = _input(spatial, channels, "channels_last", rng)
    w = rng.normal(size=(*kernel, filters, channels))           # Keras transpose layout
    axes = tuple(range(1, rank + 1))
    z = _zero_insert(x, strides, axes)
    pads = tuple(shapes.conv_transpose_padding(k, s, padding, p, d)
                 for k, s, p, d in zip(kernel, strides, ops, dilation, strict=True))
    z = _crop_negative(z, pads, axes)
    flipped = np.flip(w, axis=tuple(range(rank))).swapaxes(-1, -2)    # (*k, C, F)
    y = conv_nd(z, flipped, (1,) * rank, dilation, ((0, 0),) * rank)
    if fmt == "channels_first":
        y = np.moveaxis(y, -1, 1)
    assert expected == y.shape


@settings(max_examples=200)
@given(st.integers(1, 3), FORMATS, st.data())
def test_cropping_zero_padding_upsampling_equal_numpy(rank, fmt, data):
    if rank == 1:
        fmt = "channels_last"
    spatial = tuple(data.draw(st.lists(st.integers(1, 9), min_size=rank, max_size=rank)))
    pairs = tuple(tuple(data.draw(st.lists(st.integers(0, 3), min_size=2, max_size=2)))
                  for _ in range(rank))
    sizes = tuple(data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    x = _input(spatial, 2, fmt, np.random.default_rng(3))
    axes = range(2, rank + 2) if fmt == "channels_first" else range(1, rank + 1)

    # Each argument form the docs allow, all meaning the same pairs.
    forms = [pairs]
    if rank == 1:
        forms.append(pairs[0])
    if all(lo == hi for lo, hi in pairs):
        forms.append(tuple(lo for lo, _ in pairs) if rank > 1 else pairs[0][0])
        if len({lo for lo, _ in pairs}) == 1:
            forms.append(pairs[0][0])

    width = [(0, 0)] * x.ndim
    for axis, pair in zip(axes, pairs, strict=True):
        width[axis] = pair
    padded = np.pad(x, width)
    for form in forms:
        assert shapes.zero_padding(x.shape, form, fmt) == padded.shape

    index = [slice(None)] * x.ndim
    for axis, (lo, hi) in zip(axes, pairs, strict=True):
        n = x.shape[axis]
        index[axis] = np.array([i for i in range(n) if lo <= i < n - hi], dtype=int)
    cropped = x[np.ix_(*(np.arange(n) if isinstance(i, slice) else i
                         for n, i in zip(x.shape, index, strict=True)))]
    for form in forms:
        if all(n > 0 for n in cropped.shape):
            assert shapes.cropping(x.shape, form, fmt) == cropped.shape
        else:
            with pytest.raises(ShapeError, match="cropped"):
                shapes.cropping(x.shape, form, fmt)

    up = x
    for axis, f in zip(axes, sizes, strict=True):
        up = np.repeat(up, f, axis=axis)
    assert shapes.upsampling(x.shape, sizes, fmt) == up.shape
    if len(set(sizes)) == 1:
        assert shapes.upsampling(x.shape, sizes[0], fmt) == up.shape


def test_zero_padding_dict_forms():
    assert shapes.zero_padding((None, 10, 3), {"left_pad": 2, "right_pad": 1}) == (None, 13, 3)
    assert shapes.zero_padding((None, 4, 5, 3), {"top_pad": 1, "bottom_pad": 2, "left_pad": 3},
                               "channels_last") == (None, 7, 8, 3)
    assert shapes.zero_padding((None, 1, 4, 4, 4), {"left_dim2_pad": 1, "right_dim3_pad": 2},
                               "channels_first") == (None, 1, 4, 5, 6)


def test_mixed_int_and_pair_entries_like_keras():
    assert shapes.normalize_cropping(((1, 2), 3), 2) == ((1, 2), (3, 3))


def test_documented_examples():
    assert shapes.cropping((None, 28, 28, 3), ((2, 2), (4, 4)), "channels_last") == (None, 24, 20, 3)
    after = shapes.conv((None, 24, 20, 3), 64, (3, 3), 1, "same", 1, "channels_last")
    assert shapes.cropping(after, ((2, 2), (2, 2)), "channels_last") == (None, 20, 16, 64)
    assert shapes.conv((None, 224, 224, 3), 64, 3, 2, "same", 1, None) == (None, 112, 112, 64)
    assert shapes.conv((None, 3, 32, 32), 64, (3, 3), 1, "same", 1,
                       "channels_first") == (None, 64, 32, 32)
    assert shapes.conv((None, 10, 32), 64, 3, 1, "same", 1, "channels_last") == (None, 10, 64)


@settings(max_examples=150)
@given(st.integers(1, 3), FORMATS, st.data())
def test_pooling_equals_numpy_windows(rank, fmt, data):
    spatial = tuple(data.draw(st.lists(st.integers(2, 8), min_size=rank, max_size=rank)))
    pool = tuple(data.draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank)))
    padding = data.draw(st.sampled_from(["valid", "same"]))
    x = _input(spatial, 2, fmt, np.random.default_rng(4))
    ones = np.ones((*pool, 2, 2))
    pads = _pads(spatial, pool, pool, (1,) * rank, padding)
    y = conv_nd(x, ones, pool, (1,) * rank, pads, channels_first=fmt == "channels_first")
    assert shapes.pooling(x.shape, pool, None, padding, fmt) == y.shape
    assert shapes.global_pooling(x.shape, rank, fmt) == (2, 2)


def test_none_sizes_propagate():
    assert shapes.conv((None, None, 32, 3), 8, 3, 2, "valid", 1,
                       "channels_last") == (None, None, 15, 8)
    assert shapes.conv_transpose((None, 8, None, None), 4, 3, 2, "same", None, 1,
                                 "channels_first") == (None, 4, None, None)
    assert shapes.depthwise_conv((None, 5, 5, None), 3, 1, "valid", 2, 1,
                                 "channels_last") == (None, 3, 3, None)
    assert shapes.cropping((None, None, 5, 2), 1, "channels_last") == (None, None, 3, 2)
    assert shapes.upsampling((None, None, 3), 2, None) == (None, None, 3)


def test_data_format_none_is_channels_last_whatever_the_config(tmp_path, monkeypatch):
    # cthulhu.shapes reads no configuration file: the layers, the ops and `cthulhu shape`
    # resolve the user's image_data_format and pass it (tests/test_config.py).
    monkeypatch.setenv("CTHULHU_HOME", str(tmp_path))
    (tmp_path / "cthulhu.json").write_text('{"image_data_format": "channels_first"}')
    assert shapes.normalize_data_format(None) == "channels_last"
    assert shapes.normalize_data_format(None, default="channels_first") == "channels_first"
    assert shapes.conv((None, 8, 8, 3), 4, 3, 1, "valid", 1, None) == (None, 6, 6, 4)
    assert shapes.channels_axis(4, None) == -1
    assert shapes.spec_from_config("Cthalpa2D", {"filters": 1, "kernel_size": 1})[
        "data_format"] == "channels_last"
    assert shapes.spec_from_config("Cthalpa2D", {"filters": 1, "kernel_size": 1},
                                   default_data_format="channels_first")[
        "data_format"] == "channels_first"
    # the 1D rule wins over any default
    assert shapes.spatial_data_format(1, None, default="channels_first") == "channels_last"
