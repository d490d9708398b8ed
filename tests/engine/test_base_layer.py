"""The Layer base class: names, keywords, weights, conversion, masks, losses, checks."""

import array_api_strict as xs
import numpy as np
import pytest

from cthulhu import constraints, regularizers
from cthulhu.engine.base_layer import Layer, to_snake_case
from cthulhu.engine.input_layer import Input
from tests.support.engine_toy_layers import ToyAdd, ToyDense, ToyMasking, ToyScale


def test_layer_snake_case_names():
    assert to_snake_case("Cthalpa2D") == "cthalpa2d"
    assert to_snake_case("SeparableCthalpa2D") == "separable_cthalpa2d"
    assert to_snake_case("Cthalpa2DTranspose") == "cthalpa2d_transpose"
    assert to_snake_case("LuKthu") == "lu_kthu"


def test_layer_automatic_names_are_unique_and_counted():
    a, b = ToyScale(), ToyScale()
    assert a.name.startswith("toy_scale_") and b.name.startswith("toy_scale_")
    assert int(b.name.rsplit("_", 1)[1]) == int(a.name.rsplit("_", 1)[1]) + 1
    assert ToyScale(name="mine").name == "mine"


def test_layer_unknown_keyword_names_class_and_keyword():
    with pytest.raises(TypeError, match=r"ToyScale.*'bogus'"):
        ToyScale(bogus=3)


@pytest.mark.parametrize("kwargs, expected", [
    ({"input_shape": (4, 5)}, (None, 4, 5)),
    ({"input_shape": (4,), "batch_size": 8}, (8, 4)),
    ({"input_dim": 7}, (None, 7)),
    ({"batch_input_shape": (2, None, 3)}, (2, None, 3)),
    ({}, None),
])
def test_layer_batch_input_shape_from_keywords(kwargs, expected):
    layer = ToyScale(**kwargs)
    assert layer.batch_input_shape == expected
    cfg = layer.get_config()
    assert ("batch_input_shape" in cfg) == (expected is not None)


@pytest.mark.parametrize("kwargs", [{"input_shape": (4, -1)}, {"input_shape": "abc"},
                                    {"input_shape": (2,), "batch_size": 0}, {"name": 3}])
def test_layer_bad_keywords_raise_naming_layer(kwargs):
    with pytest.raises(ValueError, match="ToyScale"):
        ToyScale(**kwargs)


def test_layer_weights_in_creation_order_and_copies():
    layer = ToyDense(3)
    layer(np.ones((2, 4), dtype=np.float32))
    w = layer.get_weights()
    assert [a.shape for a in w] == [(4, 3), (3,)]
    w[0][...] = 99.0
    assert not np.any(layer.get_weights()[0] == 99.0)
    assert len(layer.weights) == 2 and len(layer.trainable_weights) == 2
    assert layer.non_trainable_weights == []
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2


def test_layer_set_weights_errors_name_layer_weight_and_shapes():
    layer = ToyDense(3, name="dd")
    layer.build((None, 4))
    with pytest.raises(ValueError, match=r"'dd'.*'kernel'.*\(4, 3\).*\(3, 4\)"):
        layer.set_weights([np.zeros((3, 4)), np.zeros(3)])
    with pytest.raises(ValueError, match=r"'dd'.*expected 2.*received 1"):
        layer.set_weights([np.zeros((4, 3))])


def test_layer_set_weights_then_call_matches_numpy():
    rng = np.random.default_rng(0)
    k, b = rng.normal(size=(4, 3)), rng.normal(size=3)
    x = rng.normal(size=(5, 4))
    layer = ToyDense(3)
    layer.build((None, 4))
    layer.set_weights([k, b])
    y = layer(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, x @ k.astype(np.float32) + b.astype(np.float32), rtol=1e-6)


def test_layer_initial_weights_keyword():
    k = np.arange(12.0).reshape(4, 3)
    layer = ToyDense(3, weights=[k, np.ones(3)])
    layer(np.zeros((1, 4)))
    np.testing.assert_array_equal(layer.get_weights()[0], k)


def test_layer_weight_as_follows_namespace_dtype_and_cache_invalidation():
    layer = ToyDense(2)
    layer.build((None, 3))
    x = xs.asarray(np.ones((1, 3)), dtype=xs.float64)
    k1 = layer.weight_as(x, "kernel")
    assert k1.dtype == xs.float64 and type(k1) is type(x)
    assert layer.weight_as(x, "kernel") is k1  # cached
    k16 = layer.weight_as(xs.asarray(np.ones((1, 3)), dtype=xs.float32), "kernel")
    assert k16.dtype == xs.float32
    layer.set_weights([np.full((3, 2), 5.0), np.zeros(2)])
    k2 = layer.weight_as(x, "kernel")
    assert k2 is not k1
    assert np.all(np.asarray(k2) == 5.0)
    y = layer(x)
    assert type(y) is type(x) and y.dtype == xs.float64
    with pytest.raises(KeyError, match="nope"):
        layer.weight_as(x, "nope")


def test_layer_weight_as_integer_input_uses_layer_dtype():
    layer = ToyDense(2)
    layer.build((None, 3))
    assert layer.weight_as(np.ones((1, 3), dtype=np.int64), "kernel").dtype == np.float32


def test_layer_count_params_unbuilt_raises():
    with pytest.raises(ValueError, match="isn't built"):
        ToyDense(2).count_params()
    layer = ToyDense(2)
    layer.build((None, 5))
    assert layer.count_params() == 5 * 2 + 2


def test_layer_add_weight_unknown_size_raises():
    with pytest.raises(ValueError, match=r"ToyDense.*kernel.*fully known"):
        ToyDense(2).build((None, None))


def test_layer_wrong_channel_count_after_build_names_layer_and_value():
    layer = ToyDense(2, name="chan")
    layer(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"'chan'.*expected 3.*got 5"):
        layer(np.ones((1, 5)))


def test_layer_wrong_rank_raises():
    layer = ToyDense(2, name="rk")
    with pytest.raises(ValueError, match=r"'rk'.*rank >= 2.*got rank 1"):
        layer(np.ones(3))


def test_layer_expected_rank_tuple():
    class Rank3or4(Layer):
        expected_rank = (3, 4)

    with pytest.raises(ValueError, match=r"rank 3 or 4, got rank 2"):
        Rank3or4()(np.ones((2, 2)))
    assert Rank3or4()(np.ones((1, 2, 2))).shape == (1, 2, 2)


def test_layer_regularizer_losses_and_activity_losses():
    k = np.array([[1.0, -2.0], [3.0, 0.5]])
    layer = ToyDense(2, kernel_regularizer=regularizers.l1_l2(l1=0.1, l2=0.01), use_bias=False,
                     activity_regularizer="l1")
    layer.build((None, 2))
    layer.set_weights([k])
    assert len(layer.losses) == 1
    assert float(layer.losses[0]) == pytest.approx(0.1 * np.abs(k).sum() + 0.01 * (k ** 2).sum(), rel=1e-6)
    x = np.array([[1.0, 1.0]])
    y = layer(x)
    assert len(layer.losses) == 2
    assert float(layer.losses[1]) == pytest.approx(0.01 * np.abs(y).sum(), rel=1e-6)
    layer(np.zeros((1, 2)))
    assert float(layer.losses[1]) == 0.0  # activity losses are those of the last call


def test_layer_apply_constraints_in_place():
    layer = ToyDense(2, kernel_constraint=constraints.non_neg())
    layer.build((None, 2))
    layer.set_weights([np.array([[-1.0, 2.0], [3.0, -4.0]]), np.array([-1.0, 1.0])])
    x = np.ones((1, 2))
    before = layer(x)
    layer.apply_constraints()
    np.testing.assert_array_equal(layer.get_weights()[0], [[0.0, 2.0], [3.0, 0.0]])
    np.testing.assert_array_equal(layer.get_weights()[1], [-1.0, 1.0])  # no constraint on bias
    assert not np.allclose(layer(x), before)  # cached conversion was invalidated


def test_layer_mask_to_non_masking_layer_raises_keras_typeerror():
    x = np.ones((2, 3, 4))
    mask = np.ones((2, 3), dtype=bool)
    with pytest.raises(TypeError, match="does not support masking"):
        ToyScale().call_and_mask(x, mask=mask)
    y, m = ToyMasking().call_and_mask(x, mask=mask)
    assert m.shape == (2, 3)


def test_layer_training_reaches_call():
    layer = ToyScale(3.0)
    assert layer(np.ones(2))[0] == 3.0
    assert layer(np.ones(2), training=True)[0] == -3.0


def test_layer_config_round_trip():
    layer = ToyDense(4, activation="relu", input_shape=(3,), name="cfg", trainable=False)
    cfg = layer.get_config()
    assert cfg["name"] == "cfg" and cfg["trainable"] is False and cfg["dtype"] == "float32"
    assert cfg["batch_input_shape"] == (None, 3) and cfg["activation"] == "relu"
    clone = ToyDense.from_config(cfg)
    assert clone.get_config() == cfg


def test_layer_symbolic_call_records_node_and_shape():
    t = Input(shape=(5,))
    layer = ToyDense(3)
    out = layer(t)
    assert out.shape == (None, 3)
    assert out._cthulhu_history == (layer, 0, 0)
    assert out.node.inputs == [t]
    assert layer.built and layer.input_shape == (None, 5) and layer.output_shape == (None, 3)
    with pytest.raises(ValueError, match="expected 5"):
        layer(Input(shape=(6,)))


def test_layer_symbolic_list_inputs_and_mixed_refused():
    a, b = Input(shape=(2,)), Input(shape=(2,))
    out = ToyAdd()([a, b])
    assert out.shape == (None, 2) and out.node.input_is_list
    with pytest.raises(TypeError, match="mix"):
        ToyAdd()([a, np.ones((1, 2))])


def test_layer_input_shape_before_use_raises_attribute_error():
    with pytest.raises(AttributeError, match="never been called"):
        _ = ToyScale().input_shape


def test_layer_bad_dtype_names_layer():
    with pytest.raises(ValueError, match=r"ToyScale.*dtype.*'floaty'"):
        ToyScale(dtype="floaty")


def test_layer_explicit_numbered_name_advances_counter():
    ToyScale(name="toy_scale_900")
    assert ToyScale().name == "toy_scale_901"
