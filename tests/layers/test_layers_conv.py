"""The convolution family against the loop references of ``layer_refs``.

Hypothesis draws the configuration (rank, sizes, kernel, strides or dilation,
padding, data format, dtype); the layer gets random weights in the Keras layout
through ``set_weights`` and must give the reference's numbers, with the output
shape equal to ``cthulhu.shapes``' and the input's dtype kept.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cthulhu import layers, shapes
from tests.support import layer_refs as ref
from tests.support.backends import eager_xps

FORMATS = ("channels_last", "channels_first")
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
CONV = {1: layers.Cthalpa1D, 2: layers.Cthalpa2D, 3: layers.Cthalpa3D}
TRANSPOSE = {1: layers.Cthalpa1DTranspose, 2: layers.Cthalpa2DTranspose,
             3: layers.Cthalpa3DTranspose}
SEPARABLE = {1: layers.SeparableCthalpa1D, 2: layers.SeparableCthalpa2D,
             3: layers.SeparableCthalpa3D}
DEPTHWISE = {1: layers.DepthwiseCthalpa1D, 2: layers.DepthwiseCthalpa2D,
             3: layers.DepthwiseCthalpa3D}


@st.composite
def window(draw, rank, paddings=("valid", "same")):
    """(spatial sizes, kernel, strides, dilation, padding) with Keras' rules respected."""
    small = 4 if rank == 3 else 6
    sizes = tuple(draw(st.integers(1, small)) for _ in range(rank))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    if draw(st.booleans()):
        strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
        dilation = (1,) * rank
    else:
        strides = (1,) * rank
        dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    padding = draw(st.sampled_from(paddings))
    if padding == "valid":
        assume(all(n >= d * (k - 1) + 1 for n, k, d in zip(sizes, kernel, dilation, strict=True)))
    return sizes, kernel, strides, dilation, padding


def _input(rng, batch, sizes, channels, data_format, dtype):
    shape = (batch, *sizes, channels) if data_format == "channels_last" else (batch, channels, *sizes)
    return rng.normal(size=shape).astype(dtype)


def _stored(layer, use_bias):
    """The weights as the layer stores them (float32 by default): the reference uses these."""
    weights = layer.get_weights()
    return (weights[0], weights[1]) if use_bias else (weights[0], None)


def _check(layer, x, expected, dtype):
    """Input of every eager backend (the NumPy plugin, the generic Array API code on
    array-api-strict's two devices, CuPy) must give the reference's numbers, in the
    input's library, device and dtype."""
    y = layer(x)
    assert isinstance(y, np.ndarray) and y.dtype == dtype
    assert y.shape == expected.shape
    assert y.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected, **TOL[dtype])
    for xp in eager_xps():
        ys = layer(xp.asarray(x))
        assert ys.dtype == getattr(xp, np.dtype(dtype).name)
        np.testing.assert_allclose(xp.to_numpy(ys), expected, **TOL[dtype])


@settings(max_examples=250)
@given(data=st.data(), rank=st.sampled_from([1, 2, 3]), fmt=st.sampled_from(FORMATS),
       dtype=st.sampled_from([np.float32, np.float64]), use_bias=st.booleans())
def test_conv_matches_loop_reference(data, rank, fmt, dtype, use_bias):
    paddings = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
    sizes, kernel, strides, dilation, padding = data.draw(window(rank, paddings))
    cin, filters = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = _input(rng, 2, sizes, cin, fmt, dtype)
    layer = CONV[rank](filters, kernel, strides=strides, padding=padding, data_format=fmt,
                       dilation_rate=dilation, use_bias=use_bias)
    layer.build(x.shape)
    w = rng.normal(size=(*kernel, cin, filters))
    b = rng.normal(size=(filters,))
    layer.set_weights([w, b] if use_bias else [w])
    w, b = _stored(layer, use_bias)
    expected = ref.conv(x, w, b if use_bias else None, strides, padding, dilation, fmt)
    _check(layer, x, expected.astype(dtype), dtype)
    assert layer.compute_output_shape(x.shape) == shapes.conv(
        x.shape, filters, kernel, strides, padding, dilation, fmt)


@settings(max_examples=200)
@given(data=st.data(), rank=st.sampled_from([1, 2, 3]), fmt=st.sampled_from(FORMATS),
       dtype=st.sampled_from([np.float32, np.float64]), with_op=st.booleans())
def test_conv_transpose_matches_scatter_add_reference(data, rank, fmt, dtype, with_op):
    sizes, kernel, strides, dilation, padding = data.draw(window(rank))
    output_padding = None
    if with_op:
        output_padding = tuple(data.draw(st.integers(0, s - 1)) for s in strides)
        k_eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
        # the output must still be positive and TF needs ceil(out / s) == n for 'same'
        outs = [(n - 1) * s + ke - 2 * (ke // 2 if padding == "same" else 0) + p
                for n, s, ke, p in zip(sizes, strides, k_eff, output_padding, strict=True)]
        assume(all(o >= 1 for o in outs))
        if padding == "same":
            assume(all(-(-o // s) == n for o, s, n in zip(outs, strides, sizes, strict=True)))
    cin, filters = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = _input(rng, 1, sizes, cin, fmt, dtype)
    kwargs = dict(strides=strides, padding=padding, output_padding=output_padding,
                  data_format=fmt, dilation_rate=dilation)
    layer = TRANSPOSE[rank](filters, kernel, **kwargs)
    layer.build(x.shape)
    w = rng.normal(size=(*kernel, filters, cin))  # Keras: (*k, filters, in_channels)
    b = rng.normal(size=(filters,))
    layer.set_weights([w, b])
    w, b = layer.get_weights()
    expected = ref.conv_transpose(x, w, b, strides, padding, output_padding, dilation, fmt)
    _check(layer, x, expected.astype(dtype), dtype)


@settings(max_examples=120)
@given(data=st.data(), rank=st.sampled_from([1, 2, 3]), fmt=st.sampled_from(FORMATS),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_depthwise_matches_loop_reference(data, rank, fmt, dtype):
    sizes, kernel, strides, dilation, padding = data.draw(window(rank))
    cin, mult = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = _input(rng, 2, sizes, cin, fmt, dtype)
    layer = DEPTHWISE[rank](kernel, strides=strides, padding=padding, depth_multiplier=mult,
                            data_format=fmt, dilation_rate=dilation)
    layer.build(x.shape)
    w = rng.normal(size=(*kernel, cin, mult))
    b = rng.normal(size=(cin * mult,))
    layer.set_weights([w, b])
    w, b = layer.get_weights()
    expected = ref.depthwise_conv(x, w, b, strides, padding, dilation, fmt)
    _check(layer, x, expected.astype(dtype), dtype)


@settings(max_examples=120)
@given(data=st.data(), rank=st.sampled_from([1, 2, 3]), fmt=st.sampled_from(FORMATS),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_separable_matches_loop_reference(data, rank, fmt, dtype):
    sizes, kernel, strides, dilation, padding = data.draw(window(rank))
    cin, mult, filters = (data.draw(st.integers(1, 3)) for _ in range(3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = _input(rng, 2, sizes, cin, fmt, dtype)
    layer = SEPARABLE[rank](filters, kernel, strides=strides, padding=padding,
                            data_format=fmt, dilation_rate=dilation, depth_multiplier=mult)
    layer.build(x.shape)
    dw = rng.normal(size=(*kernel, cin, mult))
    pw = rng.normal(size=((1,) * rank + (cin * mult, filters)))
    b = rng.normal(size=(filters,))
    layer.set_weights([dw, pw, b])
    dw, pw, b = layer.get_weights()
    expected = ref.separable_conv(x, dw, pw, b, strides, padding, dilation, fmt)
    _check(layer, x, expected.astype(dtype), dtype)


def test_conv_same_padding_puts_odd_extra_at_the_end_like_tensorflow():
    # A 2x2 kernel of ones on 3x3 'same': the last row/column sees the zero padding.
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    layer = layers.Cthalpa2D(1, 2, padding="same", use_bias=False)
    layer.build(x.shape)
    layer.set_weights([np.ones((2, 2, 1, 1))])
    expected = [[8, 12, 7], [20, 24, 13], [13, 15, 8]]
    np.testing.assert_array_equal(layer(x)[0, :, :, 0], expected)


def test_conv_is_cross_correlation_not_flipped():
    # kernel [1, 0] picks x[t] (cross-correlation); a flipped kernel would pick x[t + 1].
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1)
    layer = layers.Cthalpa1D(1, 2, use_bias=False)
    layer.build(x.shape)
    layer.set_weights([np.array([1.0, 0.0]).reshape(2, 1, 1)])
    np.testing.assert_array_equal(layer(x).ravel(), [1.0, 2.0])


def test_causal_output_does_not_depend_on_the_future():
    rng = np.random.default_rng(3)
    layer = layers.Cthalpa1D(2, 3, padding="causal", dilation_rate=2)
    x = rng.normal(size=(1, 9, 2))
    y1 = layer(x)
    x2 = x.copy()
    x2[:, 5:] = rng.normal(size=(1, 4, 2))
    y2 = layer(x2)
    np.testing.assert_array_equal(y1[:, :5], y2[:, :5])
    assert not np.allclose(y1[:, 5:], y2[:, 5:])


@pytest.mark.parametrize("fmt", FORMATS)
def test_conv_keeps_the_input_library_device_and_dtype(xp, fmt):
    rng = np.random.default_rng(0)
    x_np = rng.normal(size=(1, 5, 5, 2) if fmt == "channels_last" else (1, 2, 5, 5))
    layer = layers.Cthalpa2D(3, 3, padding="same", data_format=fmt, activation="relu")
    y_np = layer(x_np.astype(np.float32))
    y = layer(xp.asarray(x_np, dtype=np.float32))
    assert y.dtype == xp.float32
    np.testing.assert_allclose(xp.to_numpy(y), y_np, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls, args, wshape", [
    (layers.Cthalpa2D, (3, 3), (3, 3, 2, 3)),
    (layers.Cthalpa2DTranspose, (3, 3), (3, 3, 3, 2)),
])
def test_float16_input_stays_float16(cls, args, wshape):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, 5, 5, 2)).astype(np.float16)
    layer = cls(*args, strides=2, padding="same", use_bias=False)
    layer.build(x.shape)
    w = rng.normal(size=wshape) * 0.3
    layer.set_weights([w])
    y = layer(x)
    assert y.dtype == np.float16
    if cls is layers.Cthalpa2D:
        expected = ref.conv(x, w, None, (2, 2), "same", (1, 1), "channels_last")
    else:
        expected = ref.conv_transpose(x, w, None, (2, 2), "same", None, (1, 1), "channels_last")
    np.testing.assert_allclose(y.astype(np.float64), expected, rtol=2e-2, atol=2e-2)


def test_activation_is_applied_after_bias():
    x = np.array([[[1.0], [-1.0]]])
    layer = layers.Cthalpa1D(1, 1, activation="tanh")
    layer.build(x.shape)
    layer.set_weights([np.full((1, 1, 1), 2.0), np.array([0.5])])
    np.testing.assert_allclose(layer(x).ravel(), np.tanh([2.5, -1.5]))
