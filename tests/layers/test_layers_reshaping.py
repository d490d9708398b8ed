"""Cropping, up-sampling (nearest and bilinear) and zero padding against references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers, shapes
from tests.support import layer_refs as ref

FORMATS = ("channels_last", "channels_first")
CROP = {1: layers.Cropping1D, 2: layers.Cropping2D, 3: layers.Cropping3D}
PAD = {1: layers.Xexanoth1D, 2: layers.Xexanoth2D, 3: layers.Xexanoth3D}
UP = {1: layers.UbboSathla1D, 2: layers.UbboSathla2D, 3: layers.UbboSathla3D}


def _x(rng, sizes, channels, fmt, dtype=np.float64):
    shape = (2, *sizes, channels) if fmt == "channels_last" else (2, channels, *sizes)
    return rng.normal(size=shape).astype(dtype)


def _kwargs(rank, fmt):
    return {} if rank == 1 else {"data_format": fmt}


@settings(max_examples=60)
@given(data=st.data(), rank=st.sampled_from([1, 2, 3]), fmt=st.sampled_from(FORMATS))
def test_cropping_matches_slicing(data, rank, fmt):
    fmt = "channels_last" if rank == 1 else fmt
    pairs = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
                  for _ in range(rank))
    sizes = tuple(lo + hi + data.draw(st.integers(1, 3)) for lo, hi in pairs)
    x = _x(np.random.default_rng(0), sizes, 2, fmt)
    arg = pairs[0] if rank == 1 else pairs
    layer = CROP[rank](arg, **_kwargs(rank, fmt))
    y = layer(x)
    np.testing.assert_array_equal(y, ref.crop(x, pairs, fmt))
    assert y.shape == shapes.cropping(x.shape, pairs, fmt, rank=rank)


@settings(max_examples=60)
@given(data=st.data(), rank=st.sampled_from([1, 2, 3]), fmt=st.sampled_from(FORMATS))
def test_zero_padding_matches_np_pad(data, rank, fmt):
    fmt = "channels_last" if rank == 1 else fmt
    pairs = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
                  for _ in range(rank))
    sizes = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    x = _x(np.random.default_rng(1), sizes, 2, fmt)
    arg = pairs[0] if rank == 1 else pairs
    y = PAD[rank](arg, **_kwargs(rank, fmt))(x)
    np.testing.assert_array_equal(y, ref.zero_pad(x, pairs, fmt))


@settings(max_examples=60)
@given(data=st.data(), rank=st.sampled_from([1, 2, 3]), fmt=st.sampled_from(FORMATS),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_nearest_upsampling_repeats(data, rank, fmt, dtype):
    fmt = "channels_last" if rank == 1 else fmt
    size = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    sizes = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    x = _x(np.random.default_rng(2), sizes, 2, fmt, dtype)
    arg = size[0] if rank == 1 else size
    layer = UP[rank](arg, **_kwargs(rank, fmt))
    y = layer(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, ref.upsample_nearest(x, size, fmt))
    assert y.shape == layer.compute_output_shape(x.shape)


@settings(max_examples=60)
@given(h=st.integers(1, 4), w=st.integers(1, 4), sh=st.integers(1, 4), sw=st.integers(1, 4),
       fmt=st.sampled_from(FORMATS), dtype=st.sampled_from([np.float32, np.float64]))
def test_bilinear_matches_half_pixel_formula(h, w, sh, sw, fmt, dtype):
    x = _x(np.random.default_rng(h * 10 + w), (h, w), 3, fmt, dtype)
    y = layers.UbboSathla2D((sh, sw), data_format=fmt, interpolation="bilinear")(x)
    assert y.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, ref.resize_bilinear(x, (sh, sw), fmt), **tol)


def test_bilinear_hand_numbers_tf2_convention():
    # TF2 tf.image.resize(bilinear) of [0, 4] to width 4 gives [0, 1, 3, 4]
    # (half-pixel centres; align_corners would give [0, 4/3, 8/3, 4]).
    x = np.array([0.0, 4.0]).reshape(1, 1, 2, 1)
    y = layers.UbboSathla2D((1, 2), interpolation="bilinear")(x)
    np.testing.assert_allclose(y.ravel(), [0.0, 1.0, 3.0, 4.0])


def test_reshaping_layers_keep_the_input_library_device_and_dtype(xp):
    x = np.random.default_rng(4).normal(size=(1, 4, 4, 2)).astype(np.float32)
    for layer in (layers.Cropping2D(1), layers.Xexanoth2D(1), layers.UbboSathla2D(2),
                  layers.UbboSathla2D(2, interpolation="bilinear")):
        y = layer(xp.asarray(x))
        assert y.dtype == xp.float32, type(layer).__name__
        np.testing.assert_allclose(xp.to_numpy(y), layer(x), rtol=1e-6, atol=1e-6)


def test_cropping_docs_forms():
    x = np.zeros((1, 10, 12, 3))
    assert layers.Cropping2D(2)(x).shape == (1, 6, 8, 3)
    assert layers.Cropping2D((1, 2))(x).shape == (1, 8, 8, 3)
    assert layers.Cropping2D(((1, 0), (0, 3)))(x).shape == (1, 9, 9, 3)
    assert layers.Cropping3D((1, 0, 2))(np.zeros((1, 5, 5, 5, 1))).shape == (1, 3, 5, 1, 1)


def test_zero_padding_dict_form():
    y = layers.Xexanoth1D({"left_pad": 2, "right_pad": 0})(np.ones((1, 3, 1)))
    np.testing.assert_array_equal(y.ravel(), [0, 0, 1, 1, 1])


@pytest.mark.parametrize("interpolation", ["bicubic", "NEAREST", None])
def test_upsampling_bad_interpolation_names_layer(interpolation):
    with pytest.raises(ValueError, match=r"UbboSathla2D .*interpolation"):
        layers.UbboSathla2D(interpolation=interpolation)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_refuses_integer_input_naming_the_layer(interpolation):
    x = np.arange(4).reshape(1, 2, 2, 1)
    with pytest.raises(TypeError, match="UbboSathla2D .*int64"):
        layers.UbboSathla2D(2, interpolation=interpolation)(x)


def test_cropping_and_padding_move_integers_unchanged():
    x = np.arange(16).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(layers.Cropping2D(1)(x), x[:, 1:3, 1:3])
    assert layers.Xexanoth2D(1)(x).dtype == x.dtype


@settings(max_examples=40)
@given(data=st.data(), rank=st.sampled_from([1, 2, 3]), fmt=st.sampled_from(FORMATS))
def test_cropping_undoes_zero_padding(data, rank, fmt):
    fmt = "channels_last" if rank == 1 else fmt
    pairs = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
                  for _ in range(rank))
    x = _x(np.random.default_rng(3), (2,) * rank, 1, fmt)
    arg = pairs[0] if rank == 1 else pairs
    padded = PAD[rank](arg, **_kwargs(rank, fmt))(x)
    np.testing.assert_array_equal(CROP[rank](arg, **_kwargs(rank, fmt))(padded), x)
