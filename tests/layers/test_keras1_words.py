"""Layer constructors accept Keras 1's argument words with a DeprecationWarning naming the
modern word, as Keras 2 did (one table: ``cthulhu.names.keras1``).

The Keras 1 docs (seed ``002_*``) are run as printed, their class names mapped through the
catalog's Keras 1 column, and must give the output shapes they state. Each word is
checked against the layer built with the Keras 2 word: same config, same output.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import cthulhu.layers as L
from cthulhu.catalog import CATALOG
from cthulhu.models import Pile
from cthulhu.names import keras1

# the seeds sit in shared/seeds beside the checkout (or beside the folder of worktrees)
SEED = next((seed for parent in Path(__file__).resolve().parents
             for seed in sorted((parent / "shared" / "seeds").glob("002_*.txt"))), None)
SHAPE = re.compile(r"#.*output_shape (?:==|will be) (\(.*\))\s*$")


@pytest.fixture
def channels_first(tmp_path, monkeypatch):
    # Keras 1's docs were written for dim_ordering 'th', its 'default' then
    (tmp_path / "cthulhu.json").write_text(json.dumps({"image_data_format": "channels_first"}))
    monkeypatch.setenv("CTHULHU_HOME", str(tmp_path))


def _seed_examples():
    if SEED is None:
        return []
    lines = SEED.read_text(encoding="utf-8").splitlines()
    examples, code = [], None
    for line in lines:
        text = line.strip()
        if text == "model = Sequential()":
            code = []
            continue
        if code is None:
            continue
        match = SHAPE.match(text)
        if match:
            examples.append(("\n".join(code), eval(match.group(1))))  # noqa: S307 - a tuple
        elif text.startswith("model."):
            code.append(text)
        elif text and not text.startswith("#"):
            code = None
    return examples


EXAMPLES = _seed_examples()


def _namespace():
    names = {"Sequential": Pile}
    for row in CATALOG.values():
        for old in row.keras1:
            names[old] = getattr(L, row.name)
    return names


def test_seed_002_examples_found():
    if SEED is None:
        pytest.skip("the Keras 1 docs (seed 002) are not here")
    assert len(EXAMPLES) == 7


@pytest.mark.parametrize("code, expected", EXAMPLES)
def test_seed_002_examples_run_as_printed(code, expected, channels_first):
    namespace = _namespace()
    exec("model = Sequential()", namespace)
    with pytest.warns(DeprecationWarning):
        exec(code.replace("model.summary()", ""), namespace)
    model = namespace["model"]
    assert model.output_shape == expected
    x = np.zeros((1, *model.input_shape[1:]), dtype=np.float32)
    assert model.predict(x).shape == (1, *expected[1:])


def _built(layer, shape, weights_from=None):
    model = Pile([layer], name="m")
    model.build(shape)
    if weights_from is not None:
        model.set_weights(weights_from.get_weights())
    return model


# (class, Keras 1 call, Keras 2 call, input shape): the same layer either way
CASES = [
    (L.Cthalpa1D, dict(nb_filter=3, filter_length=2, subsample_length=2, border_mode="same",
                       init="uniform", bias=False),
     dict(filters=3, kernel_size=2, strides=2, padding="same", kernel_initializer="uniform",
          use_bias=False), (None, 7, 2)),
    (L.Cthalpa2D, dict(nb_filter=2, nb_row=3, nb_col=2, subsample=(2, 1), dim_ordering="th",
                       W_regularizer="l2", b_regularizer="l1", W_constraint="max_norm",
                       b_constraint="non_neg", activity_regularizer="l2"),
     dict(filters=2, kernel_size=(3, 2), strides=(2, 1), data_format="channels_first",
          kernel_regularizer="l2", bias_regularizer="l1", kernel_constraint="max_norm",
          bias_constraint="non_neg", activity_regularizer="l2"), (None, 3, 7, 6)),
    (L.Cthalpa2D, dict(nb_filter=2, nb_row=3, nb_col=3, atrous_rate=(2, 2), dim_ordering="tf"),
     dict(filters=2, kernel_size=(3, 3), dilation_rate=(2, 2), data_format="channels_last"),
     (None, 9, 9, 1)),
    (L.Cthalpa3D, dict(nb_filter=2, kernel_dim1=2, kernel_dim2=1, kernel_dim3=2,
                       dim_ordering="th"),
     dict(filters=2, kernel_size=(2, 1, 2), data_format="channels_first"), (None, 1, 3, 3, 3)),
    (L.Cthalpa2DTranspose, dict(nb_filter=2, nb_row=2, nb_col=2, subsample=(2, 2),
                                output_shape=(None, 6, 6, 2), dim_ordering="tf"),
     dict(filters=2, kernel_size=(2, 2), strides=(2, 2), data_format="channels_last"),
     (None, 3, 3, 1)),
    (L.SeparableCthalpa2D, dict(nb_filter=2, nb_row=2, nb_col=2, init="he_normal",
                                border_mode="same", dim_ordering="tf"),
     dict(filters=2, kernel_size=(2, 2), depthwise_initializer="he_normal",
          pointwise_initializer="he_normal", padding="same", data_format="channels_last"),
     (None, 4, 4, 3)),
    (L.Daoloth, dict(output_dim=3, init="zero", bias=True, input_dim=4),
     dict(units=3, kernel_initializer="zeros", use_bias=True, input_dim=4), (None, 4)),
    (L.Laldagorth, dict(output_dim=3, inner_activation="sigmoid", inner_init="orthogonal",
                        U_regularizer="l2", dropout_W=0.1, dropout_U=0.2, consume_less="gpu"),
     dict(units=3, recurrent_activation="sigmoid", recurrent_initializer="orthogonal",
          recurrent_regularizer="l2", dropout=0.1, recurrent_dropout=0.2, implementation=2),
     (None, 4, 2)),
    (L.TheHydra, dict(input_dim=5, output_dim=2, init="uniform", W_regularizer="l2"),
     dict(input_dim=5, output_dim=2, embeddings_initializer="uniform",
          embeddings_regularizer="l2"), (None, 3)),
    (L.Darkness, dict(p=0.5), dict(rate=0.5), (None, 3)),
    (L.SpatialDarkness2D, dict(p=0.5, dim_ordering="th"),
     dict(rate=0.5, data_format="channels_first"), (None, 2, 3, 3)),
    (L.UbboSathla1D, dict(length=3), dict(size=3), (None, 2, 2)),
    (L.UbboSathla2D, dict(size=(2, 1), dim_ordering="th"),
     dict(size=(2, 1), data_format="channels_first"), (None, 1, 2, 3)),
    (L.Xexanoth3D, dict(padding=(1, 0, 1), dim_ordering="tf"),
     dict(padding=(1, 0, 1), data_format="channels_last"), (None, 2, 2, 2, 1)),
    (L.Cropping2D, dict(cropping=((1, 0), (0, 1)), dim_ordering="th"),
     dict(cropping=((1, 0), (0, 1)), data_format="channels_first"), (None, 1, 3, 3)),
    (L.GaussianNoise, dict(sigma=0.1), dict(stddev=0.1), (None, 3)),
    (L.BatchNormalization, dict(beta_init="zeros", gamma_init="ones"),
     dict(beta_initializer="zeros", gamma_initializer="ones"), (None, 3)),
    (L.PReLU, dict(init="zeros"), dict(alpha_initializer="zeros"), (None, 3)),
]


@pytest.mark.parametrize("cls, old, new, shape", CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, *_) in enumerate(CASES)])
def test_keras1_words_build_the_keras2_layer(cls, old, new, shape):
    with pytest.warns(DeprecationWarning) as caught:
        legacy = cls(name="layer", **old)
    messages = [str(w.message) for w in caught]
    assert all(m.startswith(f"{cls.__name__}: ") for m in messages), messages
    for word in old:
        if word in new:  # a Keras 2 word too (input_dim, size, padding, ...)
            continue
        assert any(repr(word) in m or word in m.split("Keras 1")[-1] for m in messages), word
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Keras 2 words warn about nothing
        modern = cls(name="layer", **new)
    old_config, new_config = legacy.get_config(), modern.get_config()
    old_config.pop("batch_input_shape", None)
    new_config.pop("batch_input_shape", None)
    assert old_config == new_config
    full = tuple(2 if d is None else d for d in shape)
    a, b = _built(modern, shape), _built(legacy, shape, weights_from=None)
    b.set_weights(a.get_weights())
    x = np.random.default_rng(0).standard_normal(full).astype(np.float32)
    if cls is L.TheHydra:
        x = np.abs(x * 2).astype(np.int64) % 5
    np.testing.assert_array_equal(b.predict(x), a.predict(x))


def test_modern_word_message_names_the_replacement():
    with pytest.warns(DeprecationWarning, match=r"Daoloth: the Keras 1 argument 'output_dim' "
                                                r"is deprecated; use 'units'"):
        L.Daoloth(output_dim=2)
    with pytest.warns(DeprecationWarning, match="border_mode.*'padding'"):
        L.Cthalpa2D(2, 3, border_mode="same")


def test_sequence_layers_take_input_dim_and_length():
    with pytest.warns(DeprecationWarning, match="input_dim/input_length"):
        conv = L.Cthalpa1D(2, 3, input_dim=4, input_length=9)
    assert conv.batch_input_shape == (None, 9, 4)
    with pytest.warns(DeprecationWarning):
        lstm = L.Laldagorth(3, input_dim=4)
    assert lstm.batch_input_shape == (None, None, 4)
    # input_dim stays Keras 2's word for Dense (and input_length for Embedding)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert L.Daoloth(2, input_dim=4).batch_input_shape == (None, 4)
        assert L.TheHydra(5, 2, input_length=3).input_length == 3


def test_positional_kernel_sizes_only_in_a_keras1_call():
    # cthulhu's signature: the third positional argument is strides
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = L.Cthalpa2D(4, 3, 2)
    assert plain.kernel_size == (3, 3) and plain.strides == (2, 2)
    # with a Keras 1 word, Keras 2's reading: nb_row, nb_col
    with pytest.warns(DeprecationWarning, match="kernel_size=\\(3, 2\\)"):
        legacy = L.Cthalpa2D(4, 3, 2, border_mode="valid")
    assert legacy.kernel_size == (3, 2) and legacy.strides == (1, 1)
    # four integers fit no cthulhu signature of Cthalpa3D: Keras 1's kernel_dim1..3
    with pytest.warns(DeprecationWarning):
        assert L.Cthalpa3D(4, 3, 2, 1).kernel_size == (3, 2, 1)
    with pytest.raises(TypeError, match="Cthalpa2D: a Keras 1 call takes"):
        L.Cthalpa2D(4, 3, 2, "glorot_uniform", border_mode="same")


@pytest.mark.parametrize("old, new, extra", [
    ("nb_filter", "filters", {"kernel_size": 3}), ("border_mode", "padding", {}),
    ("subsample", "strides", {}), ("dim_ordering", "data_format", {})])
def test_both_words_refused_naming_the_layer(old, new, extra):
    args = {"filters": 2, "kernel_size": 3, old: "same", new: "same", **extra}
    with pytest.raises(TypeError, match=f"Cthalpa2D: the Keras 1 argument '{old}' and the "
                                        f"Keras 2 '{new}' are both given"):
        L.Cthalpa2D(**args)


def test_unknown_keras1_value_is_refused_by_the_layer():
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="Cthalpa2D"):
        L.Cthalpa2D(2, 3, border_mode="full")


def test_every_table_class_is_a_keras2_name():
    keras2 = {name for row in CATALOG.values() for name in row.keras}
    pending = {"MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D",
               "AveragePooling2D", "AveragePooling3D", "GlobalMaxPooling2D",
               "GlobalMaxPooling3D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
               "GRU", "SimpleRNN"}  # Keras 2 classes cthulhu does not have yet
    assert set(keras1.RENAMES) <= keras2 | pending
