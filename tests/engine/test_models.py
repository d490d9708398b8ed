"""Pile and Lump: shapes, running, masks, shared layers, predict, summary, config."""

import array_api_strict as xs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu.engine.input_layer import Input, InputLayer
from cthulhu.models import Lump, Pile
from cthulhu.names import deserialize_layer, serialize_layer
from tests.support.engine_toy_layers import (
    ToyAdd,
    ToyDense,
    ToyMaskedMean,
    ToyMasking,
    ToyScale,
    ToySplit,
)


def _dense_ref(layer, x):
    k, b = layer.get_weights()
    return x @ k.astype(x.dtype) + b.astype(x.dtype)


def test_pile_output_shape_known_from_first_layer():
    model = Pile()
    with pytest.raises(AttributeError, match="no output shape"):
        _ = model.output_shape
    model.add(ToyDense(32, input_shape=(16,)))
    assert model.output_shape == (None, 32) and model.input_shape == (None, 16)
    model.add(ToyDense(8))
    assert model.output_shape == (None, 8)
    assert model.count_params() == 16 * 32 + 32 + 32 * 8 + 8


def test_pile_add_input_tensor_and_input_not_listed():
    model = Pile()
    model.add(Input(shape=(4,)))
    model.add(ToyDense(2))
    assert model.output_shape == (None, 2)
    assert len(model.layers) == 1 and not isinstance(model.layers[0], InputLayer)


def test_pile_add_errors():
    model = Pile([ToyDense(3, input_shape=(2,), name="dup")])
    with pytest.raises(ValueError, match="unique names"):
        model.add(ToyDense(3, name="dup"))
    with pytest.raises(TypeError, match="expects a Layer"):
        model.add("dense")
    with pytest.raises(ValueError, match="one output"):
        model.add(ToySplit())
    assert len(model.layers) == 1  # a failed add leaves the model unchanged


def test_pile_deferred_build_from_data():
    model = Pile([ToyDense(3), ToyDense(2)])
    assert not model.built
    x = np.random.default_rng(0).normal(size=(4, 5))
    y = model(x)
    a, b = model.layers
    np.testing.assert_allclose(y, _dense_ref(b, _dense_ref(a, x)), rtol=1e-6)
    assert model.input_shape == (None, 5) and model.output_shape == (None, 2)


def test_pile_predict_batches_equal_whole_and_keep_namespace():
    calls = []

    class Spy(ToyScale):
        def call(self, x, training=False):
            calls.append(x.shape[0])
            return super().call(x, training)

    model = Pile([ToyDense(3, input_shape=(4,)), Spy(1.0)])
    x = np.random.default_rng(1).normal(size=(70, 4)).astype(np.float32)
    y = model.predict(x)
    assert calls == [32, 32, 6]
    np.testing.assert_allclose(y, _dense_ref(model.layers[0], x), rtol=1e-5)
    calls.clear()
    model.predict(x, batch_size=50)
    assert calls == [50, 20]
    ys = model.predict(xs.asarray(x), batch_size=16)
    assert type(ys) is type(xs.asarray(x)) and ys.dtype == xs.float32
    np.testing.assert_allclose(np.asarray(ys), y, rtol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(x, batch_size=0)


def test_pile_masks_flow_from_masking_to_consumer():
    x = np.random.default_rng(2).normal(size=(2, 5, 3))
    x[0, 3, :] = 0.0
    x[1, 0, :] = 0.0
    model = Pile([ToyMasking(0.0, input_shape=(5, 3)), ToyMaskedMean()])
    y = model.predict(x)
    expected = np.stack([np.delete(x[0], 3, axis=0).mean(0), np.delete(x[1], 0, axis=0).mean(0)])
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert not np.allclose(y, x.mean(axis=1))


def test_pile_mask_into_non_masking_layer_raises():
    model = Pile([ToyMasking(0.0, input_shape=(5, 3)), ToyScale()])
    with pytest.raises(TypeError, match="does not support masking"):
        model.predict(np.ones((1, 5, 3)))


def test_pile_weights_round_trip_and_count_errors():
    model = Pile([ToyDense(3, input_shape=(2,)), ToyDense(1)])
    w = model.get_weights()
    assert [a.shape for a in w] == [(2, 3), (3,), (3, 1), (1,)]
    new = [np.full_like(a, i) for i, a in enumerate(w)]
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="expected 4 arrays, received 3"):
        model.set_weights(new[:3])


def test_pile_summary_text():
    model = Pile([ToyDense(32, input_shape=(16,), name="d1"), ToyDense(32, name="d2")], name="seq")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert lines[0] == 'Model: "seq"'
    assert "Layer (type)" in lines[2] and "Output Shape" in lines[2] and "Param #" in lines[2]
    assert any(line.startswith("d1 (ToyDense)") and "(None, 32)" in line and line.endswith("544")
               for line in lines)
    assert any(line.startswith("d2 (ToyDense)") and line.endswith("1,056") for line in lines)
    assert "Total params: 1,600" in text and "Trainable params: 1,600" in text
    assert "Non-trainable params: 0" in text


def test_pile_summary_counts_non_trainable():
    frozen = ToyDense(2, input_shape=(3,), trainable=False)
    model = Pile([frozen, ToyDense(1)])
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 11" in lines and "Trainable params: 3" in lines
    assert "Non-trainable params: 8" in lines


def test_pile_summary_unbuilt_raises():
    with pytest.raises(ValueError, match="not yet been built"):
        Pile([ToyDense(2)]).summary(print_fn=lambda s: None)


def test_pile_config_round_trip_keras2_format():
    model = Pile([ToyDense(3, input_shape=(2,), activation="tanh"), ToyDense(1)], name="p")
    cfg = model.get_config()
    assert cfg["name"] == "p" and [layer["class_name"] for layer in cfg["layers"]] == ["ToyDense"] * 2
    clone = Pile.from_config(cfg)
    assert clone.output_shape == (None, 1) and clone.get_config() == cfg
    old_style = Pile.from_config(cfg["layers"])  # Keras 2.0's list form
    assert old_style.output_shape == (None, 1)


def test_pile_config_of_deferred_model_keeps_build_shape():
    model = Pile([ToyDense(3)])
    model(np.ones((1, 4)))
    clone = Pile.from_config(model.get_config())
    assert clone.built and clone.input_shape == (None, 4)


def test_lump_multi_input_output_shared_layer():
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    shared = ToyDense(3, name="shared")
    sa, sb = shared(a), shared(b)
    total = ToyAdd(name="add")([sa, sb])
    model = Lump(inputs=[a, b], outputs=[total, sa])
    assert [layer.name for layer in model.layers] == ["a", "b", "shared", "add"]
    assert model.count_params() == 4 * 3 + 3  # the shared layer counts once
    assert len(model.get_weights()) == 2
    assert model.output_shape == [(None, 3), (None, 3)]
    rng = np.random.default_rng(3)
    xa, xb = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    y_total, y_a = model.predict([xa, xb])
    np.testing.assert_allclose(y_a, _dense_ref(shared, xa), rtol=1e-6)
    np.testing.assert_allclose(y_total, _dense_ref(shared, xa) + _dense_ref(shared, xb), rtol=1e-6)


def test_lump_multi_output_layer_and_keras_keywords():
    x = Input(shape=(6,))
    left, right = ToySplit()(x)
    model = Lump(input=x, output=ToyAdd()([left, right]))
    data = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(model.predict(data), data[:, :3] + data[:, 3:])


def test_lump_graph_disconnected_and_bad_inputs():
    a, b = Input(shape=(2,)), Input(shape=(2,))
    out = ToyAdd()([a, b])
    with pytest.raises(ValueError, match="disconnected"):
        Lump(a, out)
    with pytest.raises(ValueError, match="Input"):
        Lump(ToyScale()(a), out)
    model = Lump([a, b], out)
    with pytest.raises(ValueError, match=r"expects shape \(None, 2\).*\(1, 3\)"):
        model.predict([np.ones((1, 2)), np.ones((1, 3))])
    with pytest.raises(ValueError, match="expects 2 inputs"):
        model([np.ones((1, 2))])


def test_lump_training_flag_recorded_at_symbolic_call():
    x = Input(shape=(2,))
    model = Lump(x, ToyScale(2.0)(x, training=True))
    assert model.predict(np.ones((1, 2)))[0, 0] == -2.0
    clone = Lump.from_config(model.get_config())
    assert clone.predict(np.ones((1, 2)))[0, 0] == -2.0


def test_lump_config_round_trip_and_weights():
    a, b = Input(shape=(4,)), Input(shape=(4,))
    shared = ToyDense(3)
    out = ToyAdd()([shared(a), shared(b)])
    model = Lump([a, b], [out, ToySplit()(out)[1]])
    cfg = model.get_config()
    layer_cfg = {entry["name"]: entry for entry in cfg["layers"]}
    assert len(layer_cfg[shared.name]["inbound_nodes"]) == 2
    assert cfg["input_layers"] == [[a.layer.name, 0, 0], [b.layer.name, 0, 0]]
    clone = deserialize_layer(serialize_layer(model))
    clone.set_weights(model.get_weights())
    data = [np.ones((2, 4)), np.full((2, 4), 2.0)]
    for got, want in zip(clone.predict(data), model.predict(data), strict=True):
        np.testing.assert_allclose(got, want)
    assert clone.get_config() == cfg


def test_lump_summary_has_connections():
    a = Input(shape=(3,), name="inp")
    model = Lump(a, ToyDense(2, name="dd")(a), name="fun")
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[0] == 'Model: "fun"' and "Connected to" in lines[2]
    assert any(line.startswith("dd (ToyDense)") and "inp[0][0]" in line for line in lines)
    assert "Total params: 8" in lines


def test_models_nest_as_layers():
    inner = Pile([ToyDense(3, input_shape=(2,)), ToyScale(2.0)])
    x = Input(shape=(2,))
    outer = Lump(x, ToyDense(1)(inner(x)))
    assert outer.output_shape == (None, 1)
    data = np.ones((3, 2))
    np.testing.assert_allclose(outer.predict(data), _dense_ref(outer.layers[-1], inner.predict(data)),
                               rtol=1e-6)
    clone = Lump.from_config(outer.get_config())
    clone.set_weights(outer.get_weights())
    np.testing.assert_allclose(clone.predict(data), outer.predict(data), rtol=1e-6)
    stacked = Pile([inner, ToyDense(1)])
    assert stacked.output_shape == (None, 1)


def test_model_losses_collect_layer_losses():
    model = Pile([ToyDense(2, input_shape=(2,), kernel_regularizer="l2"),
                  ToyDense(1, kernel_regularizer="l1")])
    expected = 0.01 * (model.layers[0].get_weights()[0] ** 2).sum() + \
        0.01 * np.abs(model.layers[1].get_weights()[0]).sum()
    assert sum(float(v) for v in model.losses) == pytest.approx(expected, rel=1e-5)


@settings(max_examples=25)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 50), seed=st.integers(0, 2**16))
def test_predict_in_batches_equals_whole_call(n, batch_size, seed):
    model = _HYPO_MODEL
    x = np.random.default_rng(seed).normal(size=(n, 3))
    whole = model(x)
    np.testing.assert_allclose(model.predict(x, batch_size=batch_size), whole, rtol=1e-12, atol=1e-12)


_HYPO_MODEL = Pile([ToyDense(4, input_shape=(3,), activation="tanh"), ToyDense(2)])


def test_pile_runs_on_torch_tensors():
    torch = pytest.importorskip("torch")
    model = Pile([ToyDense(4, input_shape=(3,)), ToyScale(2.0)])
    x = np.random.default_rng(4).normal(size=(5, 3))
    y = model.predict(torch.asarray(x), batch_size=2)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
    np.testing.assert_allclose(y.numpy(), model.predict(x), rtol=1e-12)


def test_models_carry_symbolic_sizes():
    shapes = pytest.importorskip("cthulhu.shapes")
    b, n, _ = shapes.symbolic("b, n, 3")
    x = Input(batch_shape=(b, n, 3))
    model = Lump(x, ToyDense(5)(x))
    out = model.output_shape
    assert str(out[0]) == "b" and str(out[1]) == "n" and out[2] == 5
    pile = Pile([Input(batch_shape=(b, n, 3)), ToyDense(2)])
    lines = []
    pile.summary(print_fn=lines.append)
    assert any("(b, n, 2)" in line for line in lines)


def test_summary_never_cuts_a_shape_and_keeps_keras_widths_when_they_fit():
    from cthulhu.layers import Cthalpa3D

    model = Pile([InputLayer(input_shape=(None, None, None, 1)),
                  Cthalpa3D(12, 3, padding="same", name="a_rather_long_layer_name_here")])
    lines = []
    model.summary(print_fn=lines.append)
    row = next(line for line in lines if line.startswith("a_rather"))
    assert "a_rather_long_layer_name_here (Cthalpa3D)" in row
    assert "(None, None, None, None, 12)" in row and row.rstrip().endswith("336")
    assert all(len(line) <= len(lines[1]) for line in lines)  # rules as wide as the rows
    x = Input(shape=(None, None, None, 1))
    lump = Lump(x, Cthalpa3D(2, 3, name="c3")(x))
    lines = []
    lump.summary(print_fn=lines.append)
    assert any("(None, None, None, None, 2)" in line for line in lines)
    # explicit widths are the caller's: cut as Keras cuts
    lines = []
    model.summary(line_length=40, print_fn=lines.append)
    assert not any("(None, None, None, None, 12)" in line for line in lines)
