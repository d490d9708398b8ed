"""The engine with the real layers of cthulhu.layers: summaries, masks, saving."""

import numpy as np
import pytest

layers = pytest.importorskip("cthulhu.layers")
from cthulhu.models import Lump, Pile, load_model  # noqa: E402


def hadamard(tensors):
    """Module-level, so a saved model refers to it by name (allowed in safe mode)."""
    return tensors[0] * tensors[1]


def _conv_pile():
    return Pile([
        layers.Cthalpa2D(8, (3, 3), input_shape=(16, 16, 3), activation="relu", name="conv"),
        layers.Flatten(name="flat"),
        layers.Daoloth(10, activation="softmax", name="dense"),
    ], name="convnet")


def test_real_pile_summary_numbers_by_hand():
    lines = []
    _conv_pile().summary(print_fn=lines.append)
    text = "\n".join(lines)
    conv_params = 3 * 3 * 3 * 8 + 8          # kernel (3, 3, 3, 8) + bias
    dense_params = 14 * 14 * 8 * 10 + 10     # 'valid' 3x3 on 16x16 gives 14x14
    assert any(line.startswith("conv (Cthalpa2D)") and "(None, 14, 14, 8)" in line
               and line.endswith(f"{conv_params:,}") for line in lines)
    assert any(line.startswith("flat (Flatten)") and "(None, 1568)" in line for line in lines)
    assert any(line.startswith("dense (Daoloth)") and line.endswith(f"{dense_params:,}")
               for line in lines)
    assert f"Total params: {conv_params + dense_params:,}" in text


def test_real_pile_save_load_round_trip(tmp_path):
    model = _conv_pile()
    x = np.random.default_rng(0).random((5, 16, 16, 3), dtype=np.float32)
    y = model.predict(x, batch_size=2)
    path = tmp_path / "convnet.cthulhu"
    model.save(path)
    loaded = load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == ["Cthalpa2D", "Flatten", "Daoloth"]
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict(x, batch_size=2), y)  # same weights, same batches
    np.testing.assert_allclose(loaded.predict(x), y, rtol=1e-5)       # batching changes only rounding
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def test_real_masking_makes_laldagorth_skip_timesteps():
    rng = np.random.default_rng(1)
    model = Pile([layers.Masking(0.0, input_shape=(None, 3)), layers.Laldagorth(4)])
    x = rng.normal(size=(1, 6, 3))
    masked = x.copy()
    masked[0, 2, :] = 0.0
    # A masked step carries the state over unchanged, so it is as if it were not there.
    without_step = np.delete(x, 2, axis=1)
    np.testing.assert_allclose(model.predict(masked), model.predict(without_step), rtol=1e-6)
    assert not np.allclose(model.predict(masked), model.predict(x))


def test_real_lump_lukthu_list_inputs_shared_daoloth(tmp_path):
    a, b = layers.Input(shape=(4,)), layers.Input(shape=(4,))
    shared = layers.Daoloth(3)
    product = layers.LuKthu(hadamard, output_shape=(3,))
    out = product([shared(a), shared(b)])
    model = Lump([a, b], out)
    assert model.count_params() == 4 * 3 + 3
    rng = np.random.default_rng(2)
    xa, xb = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    k, bias = shared.get_weights()
    want = (xa @ k + bias) * (xb @ k + bias)
    np.testing.assert_allclose(model.predict([xa, xb]), want, rtol=1e-5)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m", custom_objects={"hadamard": hadamard})
    np.testing.assert_allclose(loaded.predict([xa, xb]), want, rtol=1e-5)


def test_real_lukthu_lambda_needs_unsafe_load(tmp_path):
    model = Pile([layers.LuKthu(lambda x: x * 2 + 1, input_shape=(3,))])
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match="safe mode"):
        load_model(tmp_path / "m")
    np.testing.assert_array_equal(load_model(tmp_path / "m", safe_mode=False).predict(np.ones((1, 3))),
                                  np.full((1, 3), 3.0))


def test_real_set_weights_error_names_layer():
    layer = layers.Daoloth(2, name="dd")
    layer.build((None, 3))
    with pytest.raises(ValueError, match=r"'dd'.*'kernel'.*\(3, 2\).*\(2, 3\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])
