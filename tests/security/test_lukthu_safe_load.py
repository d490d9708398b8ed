"""LuKthu in saved models: nothing named in the file is called while loading."""

import numpy as np
import pytest

from cthulhu import activations
from cthulhu.layers import Daoloth, Input, LuKthu
from cthulhu.models import Lump, Pile, load_model, model_from_json
from cthulhu.names import register_function

CALLS = []


@register_function(name="tests.security.counted_double")
def counted_double(x):
    CALLS.append("function")
    return 2 * x


@register_function(name="tests.security.counted_shape")
def counted_shape(input_shape):
    CALLS.append("output_shape")
    return input_shape


def plain_module_function(x):
    return x + 1


def test_lukthu_without_output_shape_refused_with_how_to_opt_in(tmp_path):
    model = Pile([LuKthu(counted_double, input_shape=(3,), name="twice")])
    model.save(tmp_path / "m")
    CALLS.clear()
    with pytest.raises(ValueError) as info:
        load_model(tmp_path / "m")
    message = str(info.value)
    assert "LuKthu 'twice'" in message and "output_shape" in message
    assert "safe_mode=False" in message
    assert CALLS == []
    trusted = load_model(tmp_path / "m", safe_mode=False)  # the probe runs the function
    np.testing.assert_array_equal(trusted.predict(np.ones((1, 3))), np.full((1, 3), 2.0))


def test_declared_output_shape_loads_without_calling_anything(tmp_path):
    model = Pile([Daoloth(3, input_shape=(2,)),
                  LuKthu(counted_double, output_shape=(3,)),
                  LuKthu(activations.relu, output_shape=counted_shape)])
    model.save(tmp_path / "m")
    for safe_mode in (True, False):
        CALLS.clear()
        loaded = load_model(tmp_path / "m", safe_mode=safe_mode)
        assert "function" not in CALLS  # the output_shape function is allow-listed and may run
        x = np.ones((2, 2), dtype=np.float32)
        np.testing.assert_allclose(loaded.predict(x), model.predict(x))


def test_callable_output_shape_must_be_on_the_allow_list(tmp_path):
    def shape_of(input_shape):
        return input_shape

    model = Pile([LuKthu(activations.relu, output_shape=shape_of, input_shape=(3,))])
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match="output_shape: refusing .*shape_of"):
        load_model(tmp_path / "m", custom_objects={})
    loaded = load_model(tmp_path / "m", custom_objects={"shape_of": shape_of})
    assert loaded.layers[0]._output_shape is shape_of


def test_module_function_needs_opt_in(tmp_path):
    model = Pile([LuKthu(plain_module_function, output_shape=(3,), input_shape=(3,))])
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match="plain_module_function is not on the safe-mode allow-list"):
        load_model(tmp_path / "m")
    for loaded in (load_model(tmp_path / "m", custom_objects={"plain_module_function":
                                                                  plain_module_function}),
                   load_model(tmp_path / "m", safe_mode=False)):
        np.testing.assert_array_equal(loaded.predict(np.zeros((1, 3))), np.ones((1, 3)))


def test_model_from_json_follows_the_same_rules():
    a = Input(shape=(3,))
    text = Lump(a, LuKthu(counted_double)(a)).to_json()
    with pytest.raises(ValueError, match="output_shape"):
        model_from_json(text)
    assert model_from_json(text, safe_mode=False).predict(np.ones((1, 3))).tolist() == [[2.0] * 3]
    deep = "[" * 50_000 + "]" * 50_000
    with pytest.raises(ValueError, match="nested"):
        model_from_json(deep)
