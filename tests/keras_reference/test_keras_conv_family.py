"""The convolution family's additions and conv -> BN -> activation models against Keras 2.

The fixture (``keras2_reference_conv_family.npz`` + ``.json``) was written by
``generate_conv_family.py`` (Keras 2.15 on TensorFlow 2.15, CPU; see its docstring).
Nothing here imports TensorFlow. Three sources of numbers:

* ``keras``: tf.keras 2.15's own ``Conv1DTranspose`` and ``DepthwiseConv1D``; the
  cthulhu layer is rebuilt from Keras's ``get_config()`` (class name through the
  catalog), loads Keras's weights unchanged and must give Keras's output and
  ``compute_output_shape``;
* ``composition``: ``DepthwiseCthalpa3D``, ``SeparableCthalpa3D`` and trilinear
  ``UbboSathla3D``, which Keras lacks, against Keras layers composing the same function
  (a grouped ``Conv3D``; it and a 1x1x1 ``Conv3D``; bilinear ``UpSampling2D`` per depth
  slice, then along depth);
* ``model``: Keras functional models, rebuilt here as ``Lump`` s from Keras's JSON
  config (each layer from its config through the catalog, wired by its inbound
  nodes) with Keras's weights, whose convolutions a batch normalisation and an
  activation follow (the chains folded at inference, see ``docs/models.md``):
  ``model.predict``, folded, must give Keras's output.

Every layer case also runs on array-api-strict (second device) and Dask (odd chunks).
Tolerances are those of ``test_keras_reference.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cthulhu import layers
from cthulhu.catalog import lookup
from cthulhu.models import Lump
from tests.keras_reference.test_keras_reference import TOLERANCE, cthulhu_kwargs
from tests.support.layer_devices import devices_for, run

HERE = Path(__file__).resolve().parent
INDEX = json.loads((HERE / "keras2_reference_conv_family.json").read_text())
CASES = INDEX["cases"]
LAYER_CASES = [c for c in CASES if c["source"] in ("keras", "composition")]
MODEL_CASES = [c for c in CASES if c["source"] == "model"]
# tf.image.resize computes in float32 whatever the input (see test_keras_reference's
# KNOWN_DIVERGENCES): the composed float64 trilinear reference holds float32 numbers.
FLOAT32_REFERENCE = {"up3d_trilinear_f64"}


@pytest.fixture(scope="module")
def arrays():
    with np.load(HERE / "keras2_reference_conv_family.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def make_layer(case):
    if case["source"] == "keras":
        cls = getattr(layers, lookup(case["class_name"]).name)
        return cls(**cthulhu_kwargs(case["class_name"], case["config"]))
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in case["config"].items()}
    return getattr(layers, case["class_name"])(dtype=case["input_dtype"], **kwargs)


def _tolerance(case):
    return TOLERANCE["float32" if case["id"] in FLOAT32_REFERENCE else case["input_dtype"]]


def test_the_fixture_covers_every_new_layer():
    names = {lookup(c["class_name"]).name for c in LAYER_CASES}
    assert names == {"Cthalpa1DTranspose", "DepthwiseCthalpa1D", "DepthwiseCthalpa3D",
                     "SeparableCthalpa3D", "UbboSathla3D"}
    assert {c["source"] for c in CASES} == {"keras", "composition", "model"}


@pytest.mark.parametrize("case", LAYER_CASES, ids=[c["id"] for c in LAYER_CASES])
def test_layer_matches_keras(case, arrays):
    x = arrays[f"{case['id']}/input"]
    want = arrays[f"{case['id']}/output"]
    layer = make_layer(case)
    layer.build(x.shape)
    layer.set_weights([arrays[key] for key in case["weights"]])
    for device in devices_for(x.dtype):
        got = run(layer, x, device)
        assert got.dtype == x.dtype and got.shape == want.shape, device
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   **_tolerance(case), err_msg=device)
    if case["output_shape"] is not None:
        predicted = layer.compute_output_shape((None, *x.shape[1:]))
        assert list(predicted) == case["output_shape"]


def lump_from_keras_json(text):
    """A ``Lump`` of a Keras 2.15 functional model's JSON (one input, one output)."""
    config = json.loads(text)["config"]
    tensors = {}
    for entry in config["layers"]:
        cfg, name = entry["config"], entry["class_name"]
        if name == "InputLayer":
            tensors[cfg["name"]] = layers.Input(shape=tuple(cfg["batch_input_shape"][1:]))
            continue
        cls = getattr(layers, lookup(name).name)
        layer = cls(**cthulhu_kwargs(name, cfg))
        (node,) = entry["inbound_nodes"]
        inputs = [tensors[source[0]] for source in node]
        tensors[cfg["name"]] = layer(inputs if len(inputs) > 1 else inputs[0])
    (first,), (last,) = config["input_layers"], config["output_layers"]
    return Lump(tensors[first[0]], tensors[last[0]])


@pytest.mark.parametrize("case", MODEL_CASES, ids=[c["id"] for c in MODEL_CASES])
def test_model_with_folded_batch_norms_matches_keras(case, arrays):
    x = arrays[f"{case['id']}/input"]
    want = arrays[f"{case['id']}/output"]
    model = lump_from_keras_json(case["model_json"])
    model.set_weights([arrays[key] for key in case["weights"]])
    got = model.predict(x)
    np.testing.assert_allclose(got, want, **TOLERANCE["float32"])
