"""Laldagorth (LSTM) against the step-loop reference; TheHydra (Embedding); masks end to end."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers
from cthulhu.models import Pile
from tests.support import layer_refs as ref


def _lstm(units, input_dim, rng, **kwargs):
    layer = layers.Laldagorth(units, **kwargs)
    layer.build((None, None, input_dim))
    layer.set_weights([rng.normal(size=(input_dim, 4 * units)),
                       rng.normal(size=(units, 4 * units)), rng.normal(size=(4 * units,))])
    return layer


@settings(max_examples=100)
@given(batch=st.integers(1, 3), steps=st.integers(1, 5), input_dim=st.integers(1, 3),
       units=st.integers(1, 3), return_sequences=st.booleans(), go_backwards=st.booleans(),
       masked=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_lstm_matches_step_loop(batch, steps, input_dim, units, return_sequences, go_backwards,
                                masked, dtype, seed):
    rng = np.random.default_rng(seed)
    layer = _lstm(units, input_dim, rng, return_sequences=return_sequences,
                  go_backwards=go_backwards, return_state=True)
    kernel, recurrent, bias = layer.get_weights()
    x = rng.normal(size=(batch, steps, input_dim)).astype(dtype)
    mask = rng.random((batch, steps)) < 0.7 if masked else None
    out, h, c = layer(x, mask=mask)
    exp_out, exp_h, exp_c = ref.lstm(x, kernel, recurrent, bias, mask,
                                     return_sequences=return_sequences, go_backwards=go_backwards)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    assert out.dtype == dtype and out.shape == exp_out.shape
    np.testing.assert_allclose(out, exp_out, **tol)
    np.testing.assert_allclose(h, exp_h, **tol)
    np.testing.assert_allclose(c, exp_c, **tol)
    assert layer.compute_output_shape(x.shape) == [exp_out.shape, exp_h.shape, exp_c.shape]


def test_lstm_sigmoid_recurrent_activation():
    rng = np.random.default_rng(1)
    layer = _lstm(2, 3, rng, recurrent_activation="sigmoid", activation="tanh")
    x = rng.normal(size=(2, 4, 3))
    expected = ref.lstm(x, *layer.get_weights(), recurrent_activation=ref.sigmoid)[0]
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)


def test_lstm_weight_shapes_and_unit_forget_bias():
    layer = layers.Laldagorth(3)
    layer.build((None, 5, 2))
    kernel, recurrent, bias = layer.get_weights()
    assert kernel.shape == (2, 12) and recurrent.shape == (3, 12) and bias.shape == (12,)
    np.testing.assert_array_equal(bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    no_forget = layers.Laldagorth(3, unit_forget_bias=False)
    no_forget.build((None, 5, 2))
    np.testing.assert_array_equal(no_forget.get_weights()[2], np.zeros(12))


def test_masking_then_lstm_skips_masked_steps_in_a_model():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 6, 2))
    x[0, 3, :] = 0.0
    x[2, 5, :] = 0.0
    x[1, 0, :] = 0.0
    model = Pile([layers.Masking(0.0, input_shape=(6, 2)),
                  layers.Laldagorth(4, return_sequences=True)])
    lstm = model.layers[-1]
    lstm.set_weights([rng.normal(size=w.shape) for w in lstm.get_weights()])
    mask = np.any(x != 0.0, axis=-1)
    expected = ref.lstm(x, *lstm.get_weights(), mask, return_sequences=True)[0]
    y = model.predict(x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    # the masked step really repeats the previous output
    np.testing.assert_array_equal(y[0, 3], y[0, 2])
    # ... and differs from what an unmasked LSTM computes there
    unmasked = ref.lstm(x, *lstm.get_weights(), return_sequences=True)[0]
    assert not np.allclose(unmasked[0, 3], expected[0, 3])


def test_embedding_mask_zero_feeds_lstm():
    rng = np.random.default_rng(3)
    ids = np.array([[4, 0, 2, 0], [1, 3, 3, 2]])
    model = Pile([layers.TheHydra(5, 3, mask_zero=True, input_length=4), layers.Laldagorth(2)])
    emb, lstm = model.layers[-2], model.layers[-1]
    lstm.set_weights([rng.normal(size=w.shape) for w in lstm.get_weights()])
    table = emb.get_weights()[0]
    expected = ref.lstm(table[ids], *lstm.get_weights(), ids != 0)[0]
    np.testing.assert_allclose(model.predict(ids), expected, rtol=1e-5, atol=1e-6)


def test_lstm_stateful_continues_across_calls():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 6, 3))
    whole = _lstm(2, 3, np.random.default_rng(9))(x)
    halves = _lstm(2, 3, np.random.default_rng(9), stateful=True)
    halves(x[:, :3])
    np.testing.assert_allclose(halves(x[:, 3:]), whole, rtol=1e-5, atol=1e-6)
    halves.reset_states()
    np.testing.assert_allclose(halves(x[:, :3]), _lstm(2, 3, np.random.default_rng(9))(x[:, :3]),
                               rtol=1e-6)


def test_lstm_dropout_only_in_training():
    rng = np.random.default_rng(5)
    layer = _lstm(3, 2, rng, dropout=0.5, recurrent_dropout=0.5)
    x = rng.normal(size=(2, 4, 2))
    np.testing.assert_allclose(layer(x), ref.lstm(x, *layer.get_weights())[0], rtol=1e-5,
                               atol=1e-6)
    assert not np.allclose(layer(x, training=True), layer(x))


def test_lstm_mask_output_keeps_the_input_library_device_and_dtype(xp):
    layer = layers.Laldagorth(2, return_sequences=True)
    x_np = np.random.default_rng(6).normal(size=(1, 3, 2)).astype(np.float32)
    mask_np = np.asarray([[True, False, True]])
    x, mask = xp.asarray(x_np), xp.asarray(mask_np)
    y = layer(x, mask=mask)
    assert y.dtype == xp.float32
    np.testing.assert_allclose(xp.to_numpy(y), layer(x_np, mask=mask_np), rtol=1e-5, atol=1e-6)
    assert layer.compute_mask(x, mask) is mask
    assert layers.Laldagorth(2).compute_mask(x, mask) is None


@pytest.mark.parametrize("kwargs, match", [
    ({"units": 0}, "units"), ({"units": 2, "dropout": 1.0}, "dropout"),
    ({"units": 2, "implementation": 3}, "implementation"),
    ({"units": 2, "return_sequences": "yes"}, "return_sequences")])
def test_lstm_bad_arguments_name_layer(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=f"Laldagorth .*{match}"):
        layers.Laldagorth(**kwargs)


def test_lstm_wrong_rank_and_int_input_name_layer():
    with pytest.raises(ValueError, match="Laldagorth"):
        layers.Laldagorth(2)(np.ones((2, 3)))
    with pytest.raises(TypeError, match="Laldagorth"):
        layers.Laldagorth(2)(np.ones((2, 3, 1), dtype=np.int64))


# --------------------------------------------------------------------------- TheHydra


def test_embedding_looks_up_rows():
    layer = layers.TheHydra(6, 2)
    ids = np.array([[5, 0], [2, 2]])
    y = layer(ids)
    table = layer.get_weights()[0]
    assert table.shape == (6, 2) and y.dtype == np.float32
    for b in range(2):
        for t in range(2):
            np.testing.assert_array_equal(y[b, t], table[ids[b, t]])
    # Keras 'uniform' initializer: U(-0.05, 0.05)
    assert np.all(np.abs(table) <= 0.05)


def test_embedding_casts_float_indices_like_keras():
    layer = layers.TheHydra(6, 2)
    ids = np.array([[5, 0, 3]])
    np.testing.assert_array_equal(layer(ids.astype(np.float32)), layer(ids))


def test_lstm_stateful_batch_change_names_layer():
    layer = layers.Laldagorth(2, stateful=True)
    layer(np.ones((3, 2, 1)))
    with pytest.raises(ValueError, match="Laldagorth .*batch size"):
        layer(np.ones((4, 2, 1)))


def test_embedding_mask_keeps_the_input_library_and_device(xp):
    layer = layers.TheHydra(4, 3, mask_zero=True)
    ids = xp.asarray(np.asarray([[1, 0, 3]]))
    y = layer(ids)
    assert y.shape == (1, 3, 3)
    np.testing.assert_array_equal(xp.to_numpy(y), layer.get_weights()[0][[1, 0, 3]][None])
    assert xp.to_numpy(layer.compute_mask(ids)).tolist() == [[True, False, True]]
    assert layers.TheHydra(4, 3).compute_mask(ids) is None


def test_embedding_bad_indices_and_arguments_name_layer():
    with pytest.raises(ValueError, match="TheHydra .*indices"):
        layers.TheHydra(3, 2)(np.array([[0, 3]]))
    with pytest.raises(ValueError, match="TheHydra .*indices"):
        layers.TheHydra(3, 2)(np.array([[-1, 0]]))
    with pytest.raises(TypeError, match="TheHydra .*bool"):
        layers.TheHydra(3, 2)(np.array([[True, False]]))
    with pytest.raises(ValueError, match="TheHydra .*output_dim"):
        layers.TheHydra(3, 0)
    with pytest.raises(ValueError, match="TheHydra .*input_length"):
        layers.TheHydra(3, 2, input_length=4)(np.zeros((1, 5), dtype=np.int64))


@settings(max_examples=30)
@given(steps=st.integers(2, 6), seed=st.integers(0, 2**16), data=st.data())
def test_masked_lstm_equals_lstm_on_the_sequence_without_those_steps(steps, seed, data):
    # The law behind "skip the masked timesteps": the final state only depends on the
    # unmasked steps, in order, as if the masked ones had been deleted.
    keep = data.draw(st.lists(st.booleans(), min_size=steps, max_size=steps))
    rng = np.random.default_rng(seed)
    layer = _lstm(3, 2, rng)
    x = rng.normal(size=(1, steps, 2))
    y_masked = layer(x, mask=np.array([keep]))
    kept = x[:, np.array(keep)]
    y_short = layer(kept) if kept.shape[1] else np.zeros((1, 3))
    np.testing.assert_allclose(y_masked, y_short, rtol=1e-5, atol=1e-6)


def test_embedding_on_dask_stays_lazy():
    da = pytest.importorskip("dask.array")
    import dask

    layer = layers.TheHydra(5, 3)
    ids = da.from_array(np.array([[1, 4], [0, 2]]), chunks=1)
    calls = []

    def count(*args, **kwargs):
        calls.append(1)
        return dask.get(*args, **kwargs)

    with dask.config.set(scheduler=count):
        y = layer(ids)
    assert calls == [] and type(y) is type(ids)
    np.testing.assert_array_equal(y.compute(), layer(np.array([[1, 4], [0, 2]])))
