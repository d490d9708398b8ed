"""Keras configs into cthulhu layers: Keras-only arguments that change nothing at inference
are accepted, everything else is refused in one line naming the layer, its Keras class and
the argument — never a silently different model.

Configs are written here by hand in Keras 2's JSON form (``model.to_json()``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cthulhu.models import model_from_json


def _sequential(*layers, input_shape=(4,)):
    first = {"class_name": "InputLayer",
             "config": {"batch_input_shape": [None, *input_shape], "dtype": "float32",
                        "name": "x"}}
    return json.dumps({"class_name": "Sequential", "keras_version": "2.15.0",
                       "backend": "tensorflow",
                       "config": {"name": "m", "layers": [first, *layers]}})


def _dense(**extra):
    return {"class_name": "Dense", "config": {"name": "d", "units": 3, "activation": "tanh",
                                              "use_bias": True, **extra}}


def _conv(**extra):
    return {"class_name": "Conv2D", "config": {"name": "c", "filters": 2, "kernel_size": [3, 3],
                                               "padding": "same", **extra}}


def _bn(**extra):
    return {"class_name": "BatchNormalization", "config": {"name": "bn", **extra}}


@pytest.mark.parametrize("text", [
    _sequential(_dense(autocast=True, trainable=False)),
    _sequential(_conv(groups=1), input_shape=(5, 5, 4)),
    _sequential(_bn(renorm=False, fused=True, synchronized=False, virtual_batch_size=None)),
    _sequential({"class_name": "Dropout", "config": {"name": "drop", "rate": 0.5,
                                                     "seed": 1234, "noise_shape": None}}),
], ids=["dense-autocast", "conv-groups-1", "bn-renorm-off", "dropout-seed"])
def test_inert_keras_arguments_are_accepted(text):
    assert model_from_json(text).count_params() >= 0


@pytest.mark.parametrize("text,layer,keras_class,word", [
    (_sequential(_conv(groups=2), input_shape=(5, 5, 4)), "c", "Conv2D", "groups=2"),
    (_sequential(_bn(renorm=True)), "bn", "BatchNormalization", "renorm=True"),
    (_sequential(_dense(lora_rank=4)), "d", "Dense", "lora_rank=4"),
    (_sequential(_dense(frobnicate=1)), "d", "Dense", "frobnicate"),
    (_sequential({"class_name": "Nyarlathotep", "config": {"name": "n"}}), "n",
     "Nyarlathotep", "not in cthulhu's catalog"),
    (_sequential(_dense(activation="not_an_activation")), "d", "Dense", "not_an_activation"),
], ids=["conv-groups-2", "bn-renorm", "dense-lora", "unknown-arg", "unknown-class",
        "unknown-activation"])
def test_what_changes_the_model_is_refused_in_one_line(text, layer, keras_class, word):
    with pytest.raises(ValueError) as info:
        model_from_json(text)
    message = str(info.value)
    assert "\n" not in message and message.startswith("model_from_json:")
    assert repr(layer) in message and keras_class in message and word in message


def test_translated_dense_computes_keras_dense():
    """A Keras Dense from JSON with weights set computes tanh(x W + b) (plain NumPy)."""
    model = model_from_json(_sequential(_dense()))
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((4, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    model.set_weights([kernel, bias])
    x = rng.standard_normal((5, 4)).astype(np.float32)
    want = np.tanh(x.astype(np.float64) @ kernel + bias)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-6)
