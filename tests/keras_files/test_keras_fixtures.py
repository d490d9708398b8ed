"""Every fixture written by real Keras reads back: weights equal Keras's own get_weights(),
configs in the neutral form, the same model the same in every file format and generation.

The truth files were written by the generators from Keras's objects (``get_weights()`` per
leaf layer, ``predict``), independently of any file format; these tests use NumPy only.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cthulhu.saving.keras import convert_weights, with_model_config
from tests.support.keras_fixture_index import (
    GENERATION_OF_DIR,
    entries,
    entry_id,
    index,
    model_entry,
    path_of,
    read_cached,
    sibling,
    truth_weights,
    walk_layers,
)

pytest.importorskip("h5py")


def read_keras(path):
    return read_cached(path.parent.name, path.name)


SPECIAL = {"k1_lambda", "keras2_theano"}  # own tests in test_keras1.py
REFUSED = {"unet3d_npz.keras"}  # pickled npz weights: test_keras_safety.py
WEIGHT_FILES = [item for item in entries()
                if item[1]["model"] not in SPECIAL and item[1]["file"] not in REFUSED
                and item[1]["format"] != "json_config"]
CONFIG_FILES = [item for item in entries()
                if item[1]["model"] not in SPECIAL and item[1]["file"] not in REFUSED
                and not item[1]["format"].startswith(("hdf5_weights", "sharded"))]


def _config_for(folder, model):
    """The model config a weight-only file is loaded against (read from its .h5)."""
    return read_cached(folder, sibling(folder, model, "hdf5_model")["file"]).model_config


@pytest.mark.parametrize("item", WEIGHT_FILES, ids=entry_id)
def test_fixture_weights_equal_keras_get_weights(item):
    folder, entry = item
    kfile = read_cached(folder, entry["file"])
    assert kfile.generation == GENERATION_OF_DIR[folder] or kfile.keyed_by == "object_path"
    if kfile.keyed_by == "object_path" or (kfile.format == "hdf5_weights"
                                           and entry["model"] == "nested"):
        kfile = with_model_config(kfile, _config_for(folder, entry["model"]))
    expected = truth_weights(folder, entry["truth"])
    got = dict(kfile.weights)
    if not kfile.weights_converted:  # a Keras 1 weight-only file: convert per target layer
        layers = {lay["config"]["name"]: lay for lay in
                  model_entry(folder, entry["model"])["keras2_layers"]}
        for key, arrays in got.items():
            layer = layers[key[-1]]
            got[key], _ = convert_weights(layer["class_name"], layer["config"], arrays,
                                          kfile.keras_version, kfile.backend)
    assert set(got) == set(expected)
    for key, arrays in expected.items():
        assert len(got[key]) == len(arrays), key
        for mine, theirs in zip(got[key], arrays, strict=True):
            assert mine.dtype == theirs.dtype, key
            np.testing.assert_array_equal(mine, theirs, err_msg=str(key))
    assert set(kfile.layer_order) == set(expected)
    assert set(kfile.weight_names) == set(expected)
    assert all(len(kfile.weight_names[k]) == len(v) for k, v in kfile.weights.items())


@pytest.mark.parametrize("item", [i for i in WEIGHT_FILES if i[0] != "keras1"
                                  and i[1]["format"] in ("hdf5_model", "keras_zip",
                                                         "hdf5_weights")], ids=entry_id)
def test_fixture_layer_order_is_the_models(item):
    # topological (by-order) loading relies on it: Keras's own model.layers order
    folder, entry = item
    kfile = read_cached(folder, entry["file"])
    if kfile.format == "hdf5_weights" and entry["model"] == "nested":
        kfile = with_model_config(kfile, _config_for(folder, entry["model"]))
    leaf = [tuple(layer["path"]) for layer in model_entry(folder, entry["model"])["leaf_layers"]
            if layer["weights"]]
    assert list(kfile.layer_order) == leaf


def _assert_neutral(config):
    """The documented neutral form, everywhere in a model config."""
    text = json.dumps(config)
    assert "shared_object_id" not in text
    assert '"DTypePolicy"' not in text and '"batch_shape"' not in text
    assert config["class_name"] in ("Sequential", "Functional", "Model")
    for path, layer, container in walk_layers(config):
        assert isinstance(layer["class_name"], str) and isinstance(layer["config"], dict)
        dtype = layer["config"].get("dtype")
        assert dtype is None or isinstance(dtype, str), (path, dtype)
        if layer["class_name"] == "InputLayer":
            assert "batch_input_shape" in layer["config"]
        if container == "Sequential":
            assert "inbound_nodes" not in layer
        else:
            assert layer["name"] == path[-1]
            for node in layer["inbound_nodes"]:
                for item in node:
                    name, node_index, tensor_index, kwargs = item
                    assert isinstance(name, str) and isinstance(kwargs, dict)
                    assert isinstance(node_index, int) and isinstance(tensor_index, int)


def _containers(config):
    yield config
    for _, layer, _ in walk_layers(config):
        if layer["class_name"] in ("Sequential", "Functional", "Model"):
            yield layer


@pytest.mark.parametrize("item", CONFIG_FILES, ids=entry_id)
def test_fixture_config_is_neutral_and_names_keras_layers(item):
    folder, entry = item
    kfile = read_cached(folder, entry["file"])
    config = kfile.model_config
    _assert_neutral(config)
    for container in _containers(config):
        cfg = container["config"]
        if container["class_name"] == "Sequential":
            assert cfg["layers"][0]["class_name"] == "InputLayer"
        else:
            names = {layer["name"] for layer in cfg["layers"]}
            for name, node_index, tensor_index in cfg["input_layers"] + cfg["output_layers"]:
                assert name in names and node_index == 0 and tensor_index == 0
    if folder == "keras1":
        return
    classes = {path: layer["class_name"] for path, layer, _ in walk_layers(config)}
    for leaf in model_entry(folder, entry["model"])["leaf_layers"]:
        assert classes[tuple(leaf["path"])] == leaf["class_name"], leaf


def _comparable(config):
    """Layer path -> (class, config without file-format-only keys, inbound tensors)."""
    out = {}
    for path, layer, _ in walk_layers(config):
        cfg = {k: v for k, v in layer["config"].items()
               if k not in ("build_input_shape", "layers")}  # nested layers: their own entry
        nodes = [[item[:3] for item in node] for node in layer.get("inbound_nodes", [])]
        out[path] = (layer["class_name"], json.dumps(cfg, sort_keys=True), nodes)
    return out


MODELS_BY_FOLDER = [(folder, model) for folder in ("keras3", "tfkeras", "keras1")
                    for model in index(folder)["models"] if model not in SPECIAL]


@pytest.mark.parametrize("folder,model", MODELS_BY_FOLDER)
def test_fixture_formats_of_one_model_read_alike(folder, model):
    files = [e for e in index(folder)["files"] if e["model"] == model
             and e["format"] in ("keras_zip", "hdf5_model", "json_config")
             and e["file"] not in REFUSED]
    configs = {e["file"]: _comparable(read_cached(folder, e["file"]).model_config)
               for e in files}
    first, *others = configs.values()
    for name, other in configs.items():
        assert other == first, name
    assert others or len(files) == 1


@pytest.mark.parametrize("model", [m for m in index("keras3")["models"]
                                   if m in index("tfkeras")["models"]])
def test_keras3_and_tfkeras_graphs_agree(model):
    """Keras 3's node format and Keras 2's normalise to the same graph."""
    graphs = []
    for folder in ("keras3", "tfkeras"):
        config = read_cached(folder, sibling(folder, model, "keras_zip")["file"]).model_config
        graphs.append({path: (layer["class_name"],
                              [[item[:3] for item in node]
                               for node in layer.get("inbound_nodes", [])])
                       for path, layer, _ in walk_layers(config)})
    assert graphs[0] == graphs[1]


def test_fixture_index_says_who_wrote_every_file():
    for folder in ("keras3", "tfkeras"):
        meta = index(folder)
        for entry in meta["files"]:
            assert entry["keras_version"] == meta["keras"]
            assert entry["backend"] == meta["backend"]
            kfile = read_cached(folder, entry["file"]) if entry["file"] not in REFUSED \
                else None
            if kfile is not None and kfile.keras_version is not None:
                assert kfile.keras_version == meta["keras"]
    assert index("keras3")["backend"] == "torch" and index("keras3")["keras"].startswith("3.")
    assert index("tfkeras")["keras"].startswith("2.15")


def test_weight_only_keras3_file_names_its_layers_but_tfkeras_does_not():
    named = read_keras(path_of("keras3", sibling("keras3", "nested", "hdf5_weights_keras3")))
    assert named.keyed_by == "layer_name"
    assert ("inner", "inner_bn") in named.weights
    unnamed = read_keras(path_of("tfkeras", sibling("tfkeras", "nested", "hdf5_weights_keras3")))
    assert unnamed.keyed_by == "object_path"
    assert ("sequential", "batch_normalization") in unnamed.weights
    renamed = with_model_config(unnamed, _config_for("tfkeras", "nested"))
    assert set(renamed.weights) == set(named.weights)


def test_nested_model_weights_split_by_inner_layer():
    # legacy HDF5 keeps a nested model's weights in one group, trainable ones first:
    # gamma/beta of the BN come before dense2, the moving statistics after it
    for folder in ("keras3", "tfkeras"):
        kfile = read_keras(path_of(folder, sibling(folder, "nested", "hdf5_model")))
        assert [n.split("/")[-1] for n in kfile.weight_names[("inner", "inner_bn")]] == [
            "gamma", "beta", "moving_mean", "moving_variance"]


def test_lstm_weights_on_the_cell_come_with_the_layer():
    kfile = read_keras(path_of("keras3", sibling("keras3", "text_lstm", "keras_zip")))
    assert kfile.weight_names[("lstm",)] == ["cell/vars/0", "cell/vars/1", "cell/vars/2"]


def test_bfloat16_weights_read_as_float32_values():
    kfile = read_keras(path_of("keras3", sibling("keras3", "bf16_dense", "keras_zip")))
    assert kfile.model_config["config"]["layers"][1]["config"]["dtype"] == "bfloat16"
    assert all(a.dtype == np.float32 for a in kfile.weights[("dense_bf16",)])


def test_lambda_and_custom_layers_are_recorded_not_run():
    for folder in ("keras3", "tfkeras"):
        for fmt in ("keras_zip", "hdf5_model", "json_config"):
            lam = read_keras(path_of(folder, sibling(folder, "lambda_model", fmt)))
            assert [(r.path, r.class_name, r.kind) for r in lam.code] == [
                (("affine",), "Lambda", "lambda")]
            custom = read_keras(path_of(folder, sibling(folder, "custom_model", fmt)))
            assert [(r.path, r.class_name, r.registered_name) for r in custom.custom] == [
                (("scale",), "Scale", "fixtures>Scale")]
            assert not custom.code and not lam.custom
