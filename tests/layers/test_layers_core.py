"""Daoloth, Azatoth, Flatten, Reshape, Permute, RepeatVector, LuKthu, ActivityRegularization,
Masking: numbers from plain loops / hand values, shapes from ``cthulhu.shapes``."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers, shapes
from cthulhu.models import Pile
from cthulhu.names import register_function

# --------------------------------------------------------------------------- Daoloth


def _dense_loops(x, kernel, bias):
    """out[..., j] = sum_i x[..., i] * kernel[i, j] + bias[j], one output element at a time."""
    out = np.zeros((*x.shape[:-1], kernel.shape[1]))
    for idx in np.ndindex(*x.shape[:-1]):
        for j in range(kernel.shape[1]):
            out[idx + (j,)] = sum(float(x[idx + (i,)]) * float(kernel[i, j])
                                  for i in range(kernel.shape[0])) + float(bias[j])
    return out


@settings(max_examples=40)
@given(lead=st.lists(st.integers(1, 3), min_size=1, max_size=3), din=st.integers(1, 4),
       units=st.integers(1, 4), dtype=st.sampled_from([np.float32, np.float64]))
def test_daoloth_acts_on_last_axis_of_any_rank(lead, din, units, dtype):
    rng = np.random.default_rng(len(lead) * 100 + din * 10 + units)
    x = rng.normal(size=(*lead, din)).astype(dtype)
    layer = layers.Daoloth(units)
    layer.build(x.shape)
    layer.set_weights([rng.normal(size=(din, units)), rng.normal(size=(units,))])
    kernel, bias = layer.get_weights()
    y = layer(x)
    assert y.dtype == dtype and y.shape == shapes.dense(x.shape, units)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, _dense_loops(x, kernel, bias), rtol=tol, atol=tol)


def test_daoloth_activation_and_no_bias():
    x = np.array([[1.0, -2.0]])
    layer = layers.Daoloth(1, activation="relu", use_bias=False)
    layer.build(x.shape)
    layer.set_weights([np.array([[1.0], [1.0]])])
    np.testing.assert_array_equal(layer(x), [[0.0]])
    assert [w.shape for w in layer.get_weights()] == [(2, 1)]


def test_daoloth_follows_new_weights_and_input_dtypes():
    """Each call uses the weights and the input dtype of that call (the layer keeps the
    last converted pair): set_weights, an in-place change announced with changed(), a
    float64 input after float32 ones, and back."""
    rng = np.random.default_rng(4)
    layer = layers.Daoloth(3, activation="relu")
    x = rng.standard_normal((2, 5)).astype(np.float32)
    layer(x)

    def expected(inp):
        kernel, bias = layer.get_weights()
        return np.maximum(inp.astype(np.float64) @ kernel + bias, 0)

    for step in range(3):
        if step == 1:
            layer.set_weights([w + 1 for w in layer.get_weights()])
        if step == 2:
            record = layer._weight_by_name["bias"]
            record.value[...] = -5.0
            record.changed()
        for inp in (x, x.astype(np.float64), x):
            y = layer(inp)
            assert y.dtype == inp.dtype
            np.testing.assert_allclose(y, expected(inp), rtol=1e-5, atol=1e-5)


def test_daoloth_wrong_feature_count_names_layer():
    layer = layers.Daoloth(3, name="dense_x")
    layer(np.ones((2, 4)))
    with pytest.raises(ValueError, match="Daoloth 'dense_x'.*4.*5"):
        layer(np.ones((2, 5)))


# --------------------------------------------------------------------------- Azatoth


@pytest.mark.parametrize("name, fn", [
    ("relu", lambda v: max(v, 0.0)),
    ("tanh", np.tanh),
    ("sigmoid", lambda v: 1 / (1 + np.exp(-v))),
    ("linear", lambda v: v),
    ("hard_sigmoid", lambda v: min(max(0.2 * v + 0.5, 0.0), 1.0)),
])
def test_azatoth_applies_activation_elementwise(name, fn):
    x = np.linspace(-3, 3, 7).reshape(1, 7)
    expected = [[fn(v) for v in x[0]]]
    np.testing.assert_allclose(layers.Azatoth(name)(x), expected, rtol=1e-12)


def test_azatoth_softmax_and_callable():
    x = np.array([[1.0, 2.0, 3.0]])
    e = np.exp(x[0])
    np.testing.assert_allclose(layers.Azatoth("softmax")(x)[0], e / e.sum())
    np.testing.assert_allclose(layers.Azatoth(lambda t: 2 * t)(x), 2 * x)


def test_azatoth_unknown_name_names_layer():
    with pytest.raises(ValueError, match="Azatoth.*relux"):
        layers.Azatoth("relux")


# --------------------------------------------------------------------------- Flatten


def test_flatten_channels_last_is_plain_ravel():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(layers.Flatten("channels_last")(x), x.reshape(2, 12))


def test_flatten_channels_first_moves_channels_last_like_keras2():
    # (batch, C, H, W) is flattened in (H, W, C) order so Daoloth weights match channels_last.
    x = np.arange(48.0).reshape(2, 3, 2, 4)
    y = layers.Flatten("channels_first")(x)
    expected = np.array([[x[b, c, i, j] for i in range(2) for j in range(4) for c in range(3)]
                         for b in range(2)])
    np.testing.assert_array_equal(y, expected)


def test_flatten_rank2_and_rank1():
    assert layers.Flatten()(np.ones((3, 5))).shape == (3, 5)
    assert layers.Flatten()(np.ones((3,))).shape == (3, 1)


# --------------------------------------------------------------------------- Reshape / Permute / RepeatVector


def test_reshape_infers_minus_one():
    x = np.arange(24.0).reshape(2, 12)
    y = layers.Reshape((-1, 2, 2))(x)
    assert y.shape == (2, 3, 2, 2)
    np.testing.assert_array_equal(y.reshape(2, 12), x)


@pytest.mark.parametrize("target", [(5,), (-1, -1), (0, 3), "12", (2.0, 6)])
def test_reshape_bad_targets_name_layer(target):
    with pytest.raises((ValueError, TypeError), match="Reshape"):
        layer = layers.Reshape(target)
        layer(np.ones((1, 12)))


def test_permute_matches_transpose():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    np.testing.assert_array_equal(layers.Permute((3, 1, 2))(x), x.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("dims", [(1, 1), (0, 1), (1, 3), 5])
def test_permute_bad_dims_name_layer(dims):
    with pytest.raises((ValueError, TypeError), match="Permute"):
        layers.Permute(dims)


def test_repeat_vector():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = layers.RepeatVector(3)(x)
    assert y.shape == (2, 3, 2)
    for b in range(2):
        for t in range(3):
            np.testing.assert_array_equal(y[b, t], x[b])


def test_repeat_vector_rank_checked():
    with pytest.raises(ValueError, match="RepeatVector"):
        layers.RepeatVector(2)(np.ones((2, 3, 4)))


# --------------------------------------------------------------------------- LuKthu


def test_lukthu_single_input_and_inferred_shape():
    layer = layers.LuKthu(lambda t: t ** 2)
    x = np.array([[1.0, -3.0]])
    np.testing.assert_array_equal(layer(x), [[1.0, 9.0]])
    assert layer.compute_output_shape((None, 7)) == (None, 7)


def test_lukthu_inferred_shape_marks_unknown_axes():
    layer = layers.LuKthu(lambda t: t[:, :2] * 1.0)
    assert layer.compute_output_shape((None, 5, 3)) == (None, 2, 3)
    concat = layers.LuKthu(lambda t: np.concatenate([t, t], axis=-1))
    assert concat.compute_output_shape((None, None, 3)) == (None, None, 6)


def test_lukthu_output_shape_tuple_and_function_and_arguments():
    def antirectifier_shape(shape):
        return (shape[0], shape[1] * 2)

    layer = layers.LuKthu(lambda t, k: np.concatenate([t * k, -t * k], axis=1),
                          output_shape=antirectifier_shape, arguments={"k": 2.0})
    x = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(layer(x), [[2.0, 4.0, -2.0, -4.0]])
    assert layer.compute_output_shape((None, 2)) == (None, 4)
    tup = layers.LuKthu(lambda t: t.reshape(t.shape[0], 2, 1), output_shape=(2, 1))
    assert tup.compute_output_shape((8, 2)) == (8, 2, 1)


def test_lukthu_list_input_list_output():
    def hadamard_product_sum(tensors):
        out1 = tensors[0] * tensors[1]
        return [out1, out1.sum(axis=-1)]

    def hadamard_shape(input_shapes):
        return [tuple(input_shapes[0]), tuple(input_shapes[1][:-1])]

    layer = layers.LuKthu(hadamard_product_sum, hadamard_shape)
    a, b = np.full((2, 3), 2.0), np.full((2, 3), 3.0)
    prod, total = layer([a, b])
    np.testing.assert_array_equal(prod, np.full((2, 3), 6.0))
    np.testing.assert_array_equal(total, [18.0, 18.0])
    assert layer.compute_output_shape([(None, 3), (None, 3)]) == [(None, 3), (None,)]


def test_lukthu_mask_callable_and_fixed():
    x = np.ones((1, 3, 2))
    layer = layers.LuKthu(lambda t: t, mask=lambda t, m: np.array([[True, False, True]]))
    np.testing.assert_array_equal(layer.compute_mask(x, None), [[True, False, True]])
    fixed = np.array([[False, True, True]])
    assert layers.LuKthu(lambda t: t, mask=fixed).compute_mask(x, None) is fixed


def test_lukthu_function_receives_mask_when_it_asks():
    seen = {}

    def fn(t, mask=None):
        seen["mask"] = mask
        return t

    mask = np.array([[True, False]])
    layers.LuKthu(fn, mask=lambda t, m: m)(np.ones((1, 2, 1)), mask=mask)
    assert seen["mask"] is mask


@register_function(name="tests.layers.double")
def _double(t):
    return 2 * t


def test_lukthu_config_round_trip_registered_function():
    layer = layers.LuKthu(_double, output_shape=(3,))
    clone = layers.LuKthu.from_config(layer.get_config())
    np.testing.assert_array_equal(clone(np.ones((1, 3))), [[2.0, 2.0, 2.0]])
    assert clone.compute_output_shape((None, 3)) == (None, 3)


def test_lukthu_lambda_config_refused_in_safe_mode():
    config = layers.LuKthu(lambda t: t + 1).get_config()
    with pytest.raises(ValueError, match="safe mode"):
        layers.LuKthu.from_config(config)


def test_lukthu_result_must_match_declared_output_shape():
    x = np.ones((1, 3))
    with pytest.raises(ValueError, match=r"LuKthu 'cut'.*returned shape \(1, 2\).*declares \(1, 3\)"):
        layers.LuKthu(lambda t: t[:, :2], output_shape=(3,), name="cut")(x)
    with pytest.raises(ValueError, match="LuKthu 'same'"):
        layers.LuKthu(lambda t: t[:, :2], output_shape=lambda s: s, name="same")(x)
    with pytest.raises(ValueError, match="LuKthu 'pair'.*list"):
        layers.LuKthu(lambda t: [t, t], output_shape=lambda s: [s], name="pair")(x)
    with pytest.raises(ValueError, match="LuKthu 'one'.*a list of shapes"):
        layers.LuKthu(lambda t: [t], output_shape=(3,), name="one")(x)
    with pytest.raises(ValueError, match="LuKthu 'scalar'.*a float"):
        layers.LuKthu(lambda t: 1.0, output_shape=(3,), name="scalar")(x)
    # Unknown declared sizes accept any size; the batch axis is the input's.
    assert layers.LuKthu(lambda t: t, output_shape=(None,))(np.ones((2, 5))).shape == (2, 5)
    model = Pile([layers.LuKthu(lambda t: t[:, :2], output_shape=(3,), input_shape=(3,),
                                name="in_model")])
    with pytest.raises(ValueError, match="LuKthu 'in_model'"):
        model.predict(np.ones((4, 3)))


def test_lukthu_declared_shape_checked_lazily_on_dask():
    da = pytest.importorskip("dask.array")
    x = da.ones((4, 3), chunks=(2, 3))
    y = layers.LuKthu(lambda t: 2 * t, output_shape=(3,))(x)
    assert isinstance(y, da.Array) and y.shape == (4, 3)
    with pytest.raises(ValueError, match="LuKthu"):
        layers.LuKthu(lambda t: t[:, :1], output_shape=(3,))(x)


def test_lukthu_bad_function_names_layer():
    with pytest.raises(TypeError, match="LuKthu"):
        layers.LuKthu(3)


# --------------------------------------------------------------------------- ActivityRegularization


def test_activity_regularization_losses():
    x = np.array([[1.0, -2.0, 3.0]])
    layer = layers.ActivityRegularization(l1=0.1, l2=0.01)
    y = layer(x)
    np.testing.assert_array_equal(y, x)
    expected = 0.1 * (1 + 2 + 3) + 0.01 * (1 + 4 + 9)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), expected)


@pytest.mark.parametrize("bad", [-0.1, "x", None])
def test_activity_regularization_bad_factor_names_layer(bad):
    with pytest.raises((ValueError, TypeError), match="ActivityRegularization.*l1"):
        layers.ActivityRegularization(l1=bad)


# --------------------------------------------------------------------------- Masking


def test_masking_mask_and_zeroed_output():
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]]])
    layer = layers.Masking(0.0)
    np.testing.assert_array_equal(layer.compute_mask(x), [[True, False, True]])
    np.testing.assert_array_equal(layer(x), x)
    x2 = np.array([[[5.0, 5.0], [1.0, 5.0]]])
    np.testing.assert_array_equal(layers.Masking(5.0)(x2), [[[0.0, 0.0], [1.0, 5.0]]])


def test_masking_mask_keeps_the_input_library(xp):
    mask = layers.Masking().compute_mask(xp.asarray([[[1.0], [0.0]]]))
    assert xp.to_numpy(mask).tolist() == [[True, False]]


def test_layer_without_mask_support_refuses_a_mask():
    with pytest.raises(TypeError, match="does not support masking"):
        layers.Flatten()(np.ones((1, 2, 2)), mask=np.array([[True, False]]))


def test_core_layers_keep_the_input_library_device_and_dtype(xp):
    x = np.random.default_rng(3).normal(size=(2, 3, 4)).astype(np.float32)
    x[0, 1] = 0.0  # a masked step
    for layer in (layers.Daoloth(5), layers.Azatoth("relu"), layers.Flatten(),
                  layers.Reshape((12,)), layers.Permute((2, 1)), layers.Masking()):
        y = layer(xp.asarray(x))
        assert y.dtype == xp.float32, type(layer).__name__
        np.testing.assert_allclose(xp.to_numpy(y), layer(x), rtol=1e-6, atol=1e-6)
    y = layers.RepeatVector(2)(xp.asarray(np.ones((2, 3))))
    assert y.dtype == xp.float64
    np.testing.assert_array_equal(xp.to_numpy(y), np.ones((2, 2, 3)))
