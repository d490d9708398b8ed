"""The pooling layers against plain loops (tests/support/pool_refs.py) on NumPy,
array-api-strict and Dask (lazy), both data formats, float16/32/64; configurations drawn by
Hypothesis; masks; configs and saved models; bad arguments naming layer, argument, value."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers
from cthulhu.models import Pile, load_model
from tests.support import pool_refs as ref
from tests.support.layer_devices import assert_matches, devices_for, run

POOLS = {(kind, rank): getattr(layers, f"{name}Pooling{rank}D")
         for kind, name in (("max", "Max"), ("average", "Average")) for rank in (1, 2, 3)}
GLOBALS = {(kind, rank): getattr(layers, f"Global{name}Pooling{rank}D")
           for kind, name in (("max", "Max"), ("average", "Average")) for rank in (1, 2, 3)}
FORMATS = ("channels_last", "channels_first")


def _in(x, fmt):
    return np.ascontiguousarray(ref.to_first(x)) if fmt == "channels_first" else x


def _out(y, fmt):
    return ref.to_first(y) if fmt == "channels_first" else y


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_pooling_layer_matches_loop_on_every_device(kind, rank, fmt, padding, dtype):
    spatial = (7, 6, 5)[:rank]
    pool_size, strides = (3, 2, 2)[:rank], (2, 1, 2)[:rank]
    x = np.random.default_rng(rank).uniform(-1, 1, (2, *spatial, 3)).astype(dtype)
    want = _out(ref.pool(x, pool_size, strides, padding, kind), fmt)
    layer = POOLS[kind, rank](pool_size, strides=strides, padding=padding, data_format=fmt)
    assert layer.compute_output_shape((None, *_in(x, fmt).shape[1:])) == (None, *want.shape[1:])
    for device in devices_for(dtype):
        assert_matches(run(layer, _in(x, fmt), device), want, dtype)


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("fmt", FORMATS)
def test_call_with_pads_leaves_the_given_pads_out_of_the_windows(kind, rank, fmt):
    """What the fused whole-model runner calls on a block: the block's border pads, in
    place of the layer's own padding, excluded from the windows (the loop with those
    pads); ``'valid'`` is no padding. Global pooling has no such call."""
    x = np.random.default_rng(rank).uniform(-1, 1, (2, *(7, 6, 5)[:rank], 3))
    pool_size, strides = (3, 2, 2)[:rank], (2, 1, 2)[:rank]
    layer = POOLS[kind, rank](pool_size, strides=strides, padding="same", data_format=fmt)
    for pads in [((2, 0), (1, 1), (0, 1))[:rank], "valid"]:
        want = _out(ref.pool(x, pool_size, strides, pads, kind), fmt)
        np.testing.assert_allclose(layer.call_with_pads(_in(x, fmt), pads), want,
                                   rtol=1e-12, atol=1e-12)
    with pytest.raises(NotImplementedError, match="explicit_pads is False"):
        GLOBALS[kind, rank](data_format=fmt).call_with_pads(_in(x, fmt), "valid")


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_global_pooling_layer_matches_loop_on_every_device(kind, rank, fmt, keepdims, dtype):
    x = np.random.default_rng(rank).uniform(-1, 1, (2, *(5, 4, 6)[:rank], 3)).astype(dtype)
    want = ref.global_pool(x, kind, keepdims)
    if keepdims:
        want = _out(want, fmt)
    layer = GLOBALS[kind, rank](data_format=fmt, keepdims=keepdims)
    assert layer.compute_output_shape((None, *_in(x, fmt).shape[1:])) == (None, *want.shape[1:])
    for device in devices_for(dtype):
        assert_matches(run(layer, _in(x, fmt), device), want, dtype)


def test_defaults_are_keras_2s():
    x = np.random.default_rng(0).uniform(-1, 1, (1, 4, 6, 8, 2))
    y = layers.MaxPooling3D()(x)
    np.testing.assert_array_equal(y, ref.pool(x, (2, 2, 2)))
    assert layers.MaxPooling1D()(x[:, 0, 0]).shape == (1, 4, 2)
    assert layers.AveragePooling2D()(x[:, 0]).shape == (1, 3, 4, 2)
    assert layers.GlobalAveragePooling2D()(x[:, 0]).shape == (1, 2)


@settings(max_examples=25)
@given(rank=st.integers(1, 3), data=st.data(), kind=st.sampled_from(["max", "average"]),
       fmt=st.sampled_from(FORMATS), padding=st.sampled_from(["valid", "same"]),
       strides_none=st.booleans())
def test_drawn_configurations_match_the_loop(rank, data, kind, fmt, padding, strides_none):
    pool_size = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    strides = None if strides_none else tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    spatial = tuple(data.draw(st.integers(k, 6)) for k in pool_size)
    x = np.random.default_rng(sum(spatial)).uniform(-1, 1, (2, *spatial, 2))
    want = _out(ref.pool(x, pool_size, strides, padding, kind), fmt)
    layer = POOLS[kind, rank](pool_size, strides=strides, padding=padding, data_format=fmt)
    for device in ("numpy", "strict", "dask"):
        assert_matches(run(layer, _in(x, fmt), device), want, np.float64)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_1d_with_a_mask_averages_the_unmasked_steps(fmt, keepdims):
    x = np.random.default_rng(1).uniform(-1, 1, (3, 5, 2))
    mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]], dtype=bool)
    want = np.zeros((3, 2))
    for b in range(3):
        steps = [t for t in range(5) if mask[b, t]]
        for c in range(2):
            want[b, c] = sum(x[b, t, c] for t in steps) / len(steps)
    if keepdims:
        want = _out(want[:, None, :], fmt)
    layer = layers.GlobalAveragePooling1D(data_format=fmt, keepdims=keepdims)
    for device in ("numpy", "strict", "dask"):
        assert_matches(run(layer, _in(x, fmt), device, mask=mask), want, np.float64)
    assert layer.compute_mask(x, mask) is None


def test_a_mask_reaching_max_pooling_is_refused_as_keras_2_does():
    with pytest.raises(TypeError, match="does not support masking"):
        layers.GlobalMaxPooling1D()(np.ones((1, 3, 2)), mask=np.ones((1, 3), dtype=bool))


# -- configs and files -------------------------------------------------------------------

@pytest.mark.parametrize("cls", [*POOLS.values(), *GLOBALS.values()], ids=lambda c: c.__name__)
def test_config_round_trip(cls):
    if cls in POOLS.values():
        rank = int(cls.__name__[-2])
        layer = cls(3, strides=2, padding="SAME", data_format="channels_first", name="p")
        config = layer.get_config()
        assert config["pool_size"] == (3,) * rank and config["strides"] == (2,) * rank
        assert config["padding"] == "same" and config["data_format"] == "channels_first"
    else:
        layer = cls(data_format="channels_first", keepdims=True, name="p")
        config = layer.get_config()
        assert config["keepdims"] is True and config["data_format"] == "channels_first"
    again = cls.from_config(config)
    assert again.get_config() == config


@pytest.mark.parametrize("fmt", FORMATS)
def test_saved_model_round_trip(tmp_path, fmt):
    shape = (8, 8, 8, 2) if fmt == "channels_last" else (2, 8, 8, 8)
    model = Pile([layers.Cthalpa3D(4, 3, padding="same", data_format=fmt, input_shape=shape),
                  layers.MaxPooling3D(2, data_format=fmt),
                  layers.AveragePooling3D(3, strides=2, padding="same", data_format=fmt),
                  layers.GlobalAveragePooling3D(data_format=fmt, keepdims=True),
                  layers.GlobalMaxPooling3D(data_format=fmt)])
    x = np.random.default_rng(2).uniform(-1, 1, (2, *shape)).astype(np.float32)
    model.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    assert [type(a) for a in loaded.layers] == [type(a) for a in model.layers]
    assert [a.get_config() for a in loaded.layers] == [a.get_config() for a in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# -- bad arguments -----------------------------------------------------------------------

@pytest.mark.parametrize("make, error, words", [
    (lambda: layers.MaxPooling2D(0, name="p"), ValueError, ["MaxPooling2D 'p'", "pool_size", "0"]),
    (lambda: layers.MaxPooling2D((2, 2, 2), name="p"), ValueError,
     ["MaxPooling2D 'p'", "pool_size", "(2, 2, 2)"]),
    (lambda: layers.AveragePooling3D(2, strides=-1, name="p"), ValueError,
     ["AveragePooling3D 'p'", "strides", "-1"]),
    (lambda: layers.AveragePooling1D(2.5, name="p"), TypeError,
     ["AveragePooling1D 'p'", "pool_size", "2.5"]),
    (lambda: layers.MaxPooling1D(2, padding="causal", name="p"), ValueError,
     ["MaxPooling1D 'p'", "padding", "causal"]),
    (lambda: layers.MaxPooling2D(2, data_format="NHWC", name="p"), ValueError,
     ["MaxPooling2D 'p'", "data_format", "NHWC"]),
    (lambda: layers.GlobalMaxPooling2D(keepdims="yes", name="p"), TypeError,
     ["GlobalMaxPooling2D 'p'", "keepdims", "yes"]),
    (lambda: layers.GlobalAveragePooling3D(data_format="first", name="p"), ValueError,
     ["GlobalAveragePooling3D 'p'", "data_format", "first"]),
])
def test_bad_arguments_name_the_layer_the_argument_and_the_value(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_bad_inputs_name_the_layer():
    with pytest.raises(ValueError, match="MaxPooling2D 'p'.*rank 4"):
        layers.MaxPooling2D(name="p")(np.ones((1, 4, 4)))
    with pytest.raises(ValueError, match="MaxPooling2D 'q'"):
        layers.MaxPooling2D(3, name="q")(np.ones((1, 2, 2, 1)))
    with pytest.raises(TypeError, match="AveragePooling1D 'r'"):
        layers.AveragePooling1D(name="r")(np.ones((1, 4, 1), dtype=np.int32))
    with pytest.raises(ValueError, match="GlobalMaxPooling3D 's'.*rank 5"):
        layers.GlobalMaxPooling3D(name="s")(np.ones((1, 4, 4, 1)))
