"""The convolution family's additions (issue 10) on every device against loop references.

``Cthalpa1DTranspose``, ``DepthwiseCthalpa1D``, ``DepthwiseCthalpa3D``,
``SeparableCthalpa3D`` and ``UbboSathla3D(interpolation='trilinear')``: Hypothesis
draws the configuration (sizes, kernel, strides or dilation, padding, data format,
float16/32/64), the layer gets random Keras-layout weights, and NumPy (native engine),
array-api-strict (the generic Array API code, on its second device) and Dask (odd
chunks that divide nothing: the per-op halos; nothing computed when called) must all
give the numbers of the plain-loop references of ``tests/support/layer_refs.py``.
"""

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from cthulhu import layers, shapes
from tests.support import layer_refs as ref
from tests.support.layer_devices import devices_for, run

FORMATS = ("channels_last", "channels_first")
DTYPES = (np.float16, np.float32, np.float64)
# float16 inputs are computed in float32 and rounded once; the references are float64
TOL = {np.dtype(np.float16): dict(rtol=2e-2, atol=2e-2),
       np.dtype(np.float32): dict(rtol=2e-4, atol=2e-5),
       np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12)}


@st.composite
def window(draw, rank, small):
    """(sizes, kernel, strides, dilation, padding), Keras' rules respected."""
    sizes = tuple(draw(st.integers(1, small)) for _ in range(rank))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    if draw(st.booleans()):
        strides, dilation = tuple(draw(st.integers(1, 3)) for _ in range(rank)), (1,) * rank
    else:
        strides, dilation = (1,) * rank, tuple(draw(st.integers(1, 2)) for _ in range(rank))
    padding = draw(st.sampled_from(("valid", "same")))
    if padding == "valid":
        assume(all(n >= d * (k - 1) + 1 for n, k, d in zip(sizes, kernel, dilation, strict=True)))
    return sizes, kernel, strides, dilation, padding


def _input(rng, batch, sizes, channels, fmt, dtype):
    shape = (batch, *sizes, channels) if fmt == "channels_last" else (batch, channels, *sizes)
    return rng.normal(size=shape).astype(dtype)


def _on_every_device(layer, x, expected):
    dtype = x.dtype
    for device in devices_for(dtype):
        y = run(layer, x, device)
        assert y.shape == expected.shape == layer.compute_output_shape(x.shape), device
        np.testing.assert_allclose(y.astype(np.float64), expected, **TOL[dtype],
                                   err_msg=device)


@settings(max_examples=60)
@given(data=st.data(), fmt=st.sampled_from(FORMATS), dtype=st.sampled_from(DTYPES),
       with_op=st.booleans())
@example(data=None, fmt="channels_first", dtype=np.float32, with_op=True).via("hand-picked")
def test_conv1d_transpose_matches_scatter_add(data, fmt, dtype, with_op):
    if data is None:           # the example: stride 3, output_padding 2, 'same'
        sizes, kernel, strides, dilation, padding = (4,), (4,), (3,), (1,), "same"
        cin, filters, seed, output_padding = 2, 3, 5, (2,)
    else:
        sizes, kernel, strides, dilation, padding = data.draw(window(1, 7))
        cin, filters = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
        seed = data.draw(st.integers(0, 2**16))
        output_padding = (data.draw(st.integers(0, strides[0] - 1)),) if with_op else None
    if output_padding is not None:
        k_eff = dilation[0] * (kernel[0] - 1) + 1
        out = ((sizes[0] - 1) * strides[0] + k_eff - 2 * (k_eff // 2 if padding == "same" else 0)
               + output_padding[0])
        assume(out >= 1 and (padding != "same" or -(-out // strides[0]) == sizes[0]))
    rng = np.random.default_rng(seed)
    x = _input(rng, 2, sizes, cin, fmt, dtype)
    layer = layers.Cthalpa1DTranspose(filters, kernel, strides=strides, padding=padding,
                                      output_padding=output_padding, data_format=fmt,
                                      dilation_rate=dilation)
    layer.build(x.shape)
    layer.set_weights([rng.normal(size=(*kernel, filters, cin)), rng.normal(size=(filters,))])
    w, b = layer.get_weights()
    expected = ref.conv_transpose(x, w, b, strides, padding, output_padding, dilation, fmt)
    _on_every_device(layer, x, expected)


@settings(max_examples=60)
@given(data=st.data(), rank=st.sampled_from([1, 3]), fmt=st.sampled_from(FORMATS),
       dtype=st.sampled_from(DTYPES), use_bias=st.booleans())
def test_depthwise_1d_3d_match_loops(data, rank, fmt, dtype, use_bias):
    sizes, kernel, strides, dilation, padding = data.draw(window(rank, 7 if rank == 1 else 4))
    cin, mult = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = _input(rng, 2, sizes, cin, fmt, dtype)
    cls = layers.DepthwiseCthalpa1D if rank == 1 else layers.DepthwiseCthalpa3D
    layer = cls(kernel, strides=strides, padding=padding, depth_multiplier=mult,
                data_format=fmt, dilation_rate=dilation, use_bias=use_bias)
    layer.build(x.shape)
    weights = [rng.normal(size=(*kernel, cin, mult))]
    if use_bias:
        weights.append(rng.normal(size=(cin * mult,)))
    layer.set_weights(weights)
    stored = layer.get_weights()
    expected = ref.depthwise_conv(x, stored[0], stored[1] if use_bias else None, strides,
                                  padding, dilation, fmt)
    _on_every_device(layer, x, expected)


@settings(max_examples=50)
@given(data=st.data(), fmt=st.sampled_from(FORMATS), dtype=st.sampled_from(DTYPES))
def test_separable_3d_matches_loops(data, fmt, dtype):
    sizes, kernel, strides, dilation, padding = data.draw(window(3, 4))
    cin, mult, filters = (data.draw(st.integers(1, 3)) for _ in range(3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = _input(rng, 2, sizes, cin, fmt, dtype)
    layer = layers.SeparableCthalpa3D(filters, kernel, strides=strides, padding=padding,
                                      data_format=fmt, dilation_rate=dilation,
                                      depth_multiplier=mult, activation="relu")
    layer.build(x.shape)
    layer.set_weights([rng.normal(size=(*kernel, cin, mult)),
                       rng.normal(size=(1, 1, 1, cin * mult, filters)),
                       rng.normal(size=(filters,))])
    dw, pw, b = layer.get_weights()
    expected = np.maximum(ref.separable_conv(x, dw, pw, b, strides, padding, dilation, fmt), 0)
    _on_every_device(layer, x, expected)


@settings(max_examples=50)
@given(sizes=st.tuples(*[st.integers(1, 4)] * 3), size=st.tuples(*[st.integers(1, 3)] * 3),
       fmt=st.sampled_from(FORMATS), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 99))
def test_trilinear_matches_eight_corner_formula(sizes, size, fmt, dtype, seed):
    x = _input(np.random.default_rng(seed), 2, sizes, 3, fmt, dtype)
    layer = layers.UbboSathla3D(size, data_format=fmt, interpolation="trilinear")
    _on_every_device(layer, x, ref.resize_trilinear(x, size, fmt))


def test_trilinear_hand_numbers_tf2_convention():
    # along each axis TF2's half-pixel rule: [0, 4] up by 2 -> [0, 1, 3, 4]; the three
    # axes combine as the product of their weights (8 corners)
    x = np.zeros((1, 2, 2, 2, 1))
    x[0, 1, 1, 1, 0] = 8.0
    y = layers.UbboSathla3D(2, interpolation="trilinear")(x)[0, ..., 0]
    line = np.array([0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(y, 8.0 * line[:, None, None] * line[None, :, None] * line)


def test_trilinear_reduces_to_bilinear_on_a_flat_axis():
    # one depth slice up-sampled by 1 in depth: UbboSathla2D's bilinear numbers, per slice
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5, 2))
    y3 = layers.UbboSathla3D((1, 2, 3), interpolation="trilinear")(x)
    y2 = layers.UbboSathla2D((2, 3), interpolation="bilinear")(x.reshape(6, 4, 5, 2))
    np.testing.assert_allclose(y3, y2.reshape(2, 3, 8, 15, 2), rtol=1e-13, atol=1e-13)


def test_upsampling3d_keeps_nearest_by_default_and_keras_config():
    layer = layers.UbboSathla3D(2)
    assert layer.interpolation == "nearest"
    assert set(layer.get_config()) == {"name", "trainable", "dtype", "size", "data_format"}
    trilinear = layers.UbboSathla3D(2, interpolation="trilinear")
    config = trilinear.get_config()
    assert config["interpolation"] == "trilinear"
    assert layers.UbboSathla3D.from_config(config).interpolation == "trilinear"
    x = np.arange(8.0).reshape(1, 2, 2, 2, 1)
    np.testing.assert_array_equal(layer(x), ref.upsample_nearest(x, (2, 2, 2), "channels_last"))


@pytest.mark.parametrize("interpolation", ["bilinear", "cubic", "NEAREST", None])
def test_upsampling3d_refuses_other_interpolations_naming_the_layer(interpolation):
    with pytest.raises(ValueError, match=r"UbboSathla3D .*interpolation.*trilinear"):
        layers.UbboSathla3D(2, interpolation=interpolation)


def test_upsampling3d_interpolation_is_keyword_only():
    with pytest.raises(TypeError):
        layers.UbboSathla3D(2, None, "trilinear")


def test_trilinear_spec_clamps_and_the_halo_is_one_input_sample():
    # the range map: a trilinear block reads one input sample beyond its own on each side
    # (the half-pixel neighbours), clamped at the volume's ends, as bilinear does in 2D
    layer = layers.UbboSathla3D(2, interpolation="trilinear")
    chain = shapes.chain([layer], (None, 8, 8, 8, 1))
    nearest = shapes.chain([layers.UbboSathla3D(2)], (None, 8, 8, 8, 1))
    assert chain.output_shape == nearest.output_shape == (None, 16, 16, 16, 1)
    assert chain.halo == ((1, 1),) * 3 and chain.receptive_field == (3, 3, 3)
    assert nearest.halo == ((0, 0),) * 3
    bilinear = shapes.chain([layers.UbboSathla2D(2, interpolation="bilinear")], (None, 8, 8, 1))
    assert bilinear.halo == ((1, 1),) * 2


@pytest.mark.parametrize("cls, kwargs", [
    (layers.Cthalpa1DTranspose, dict(filters=2, kernel_size=3, padding="causal")),
    (layers.DepthwiseCthalpa1D, dict(kernel_size=3, padding="causal")),
    (layers.DepthwiseCthalpa3D, dict(kernel_size=(3, 3))),
    (layers.SeparableCthalpa3D, dict(filters=2, kernel_size=3, strides=2, dilation_rate=2)),
    (layers.DepthwiseCthalpa3D, dict(kernel_size=3, depth_multiplier=0)),
    (layers.Cthalpa1DTranspose, dict(filters=2, kernel_size=3, strides=2, output_padding=2)),
    (layers.SeparableCthalpa3D, dict(filters=2, kernel_size=3, kernel_initializer="ones")),
])
def test_bad_arguments_name_the_layer(cls, kwargs):
    with pytest.raises((ValueError, TypeError), match=cls.__name__):
        cls(**kwargs)


@pytest.mark.parametrize("layer, shape", [
    (layers.DepthwiseCthalpa1D(3), (1, 5, 5, 2)),
    (layers.DepthwiseCthalpa3D(2), (1, 5, 5, 2)),
    (layers.SeparableCthalpa3D(2, 2), (1, 5, 5, 5, 5, 2)),
    (layers.Cthalpa1DTranspose(2, 2), (1, 5, 5, 2)),
])
def test_wrong_input_rank_names_the_layer(layer, shape):
    with pytest.raises(ValueError, match=type(layer).__name__):
        layer(np.ones(shape, dtype=np.float32))
