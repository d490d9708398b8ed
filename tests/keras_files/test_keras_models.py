"""Every Keras model file of the fixtures becomes a cthulhu model that predicts what Keras
predicted: ``load_model`` (``.keras``, ``.h5`` of Keras 1, 2 and 3), ``model_from_json``
plus ``model.load_weights`` (full-model files and weight-only files), on NumPy, on
array-api-strict's second device and on Dask.

The expected outputs are Keras's own ``predict`` (``<model>.truth.npz``, written by the
generators in the Keras venvs); nothing here imports Keras. Which models cthulhu can build
is decided from the index (the Keras classes the generator recorded) and the catalog: a
model with a Keras class the catalog lacks must be refused with one line naming the layer
and its class, and must load and match as soon as the catalog has it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cthulhu.layers as L
from cthulhu.models import load_model, model_from_json
from cthulhu.shapes.catalog import lookup
from tests.support import layer_devices
from tests.support.keras_fixture_index import (
    FIXTURES,
    entries,
    entry_id,
    index,
    model_entry,
    sibling,
    truth,
)

pytest.importorskip("h5py")

REFUSED_MODELS = {"lambda_model", "custom_model", "k1_lambda"}  # test_lambda_and_custom_*
NO_OUTPUT = {"keras2_theano"}  # a weights-only Theano check: test_keras1.py
MODEL_FORMATS = ("keras_zip", "hdf5_model")


def keras_classes(folder, model):
    """The Keras (2 or 3) class names of a model's leaf layers, as the generator recorded."""
    entry = model_entry(folder, model)
    if "leaf_layers" in entry:
        return [layer["class_name"] for layer in entry["leaf_layers"]]
    return [layer["class_name"] for layer in entry.get("keras2_layers") or []]


def missing_class(folder, model):
    """The first Keras class of the model that cthulhu's catalog does not have, or None."""
    return next((name for name in keras_classes(folder, model) if lookup(name) is None), None)


def _inputs_outputs(folder, entry):
    data = truth(folder, entry["truth"])
    count = lambda prefix: sum(key.startswith(prefix) for key in data)  # noqa: E731
    return ([data[f"input/{i}"] for i in range(count("input/"))],
            [data[f"output/{i}"] for i in range(count("output/"))])


def assert_like_keras(got, want, scale_tol=1e-5, rel_tol=1e-4, what=""):
    """The certificate's tolerance: |d| <= 1e-5 * max(1, max|y|) + 1e-4 * |y| (float32
    rounding of two summation orders)."""
    got = got if isinstance(got, list) else [got]
    assert len(got) == len(want), what
    for mine, theirs in zip(got, want, strict=True):
        mine = np.asarray(mine, dtype=np.float64)
        theirs = np.asarray(theirs, dtype=np.float64)
        assert mine.shape == theirs.shape, (what, mine.shape, theirs.shape)
        scale = max(1.0, float(np.max(np.abs(theirs)))) if theirs.size else 1.0
        error = np.abs(mine - theirs)
        bound = scale_tol * scale + rel_tol * np.abs(theirs)
        assert np.all(error <= bound), (what, float(np.max(error - bound)))


#: Models whose float32 rounding goes past the certificate's tolerance, with why:
#: ``(scale_tol, rel_tol)``.
LOOSER = {
    # bfloat16 weights: Keras computed in bfloat16 (truth widened); cthulhu in float32
    ("keras3", "bf16_dense"): (2e-2, 2e-2),
    # an untrained U-Net whose features grow to ~1e4 before its sigmoid head: float32
    # rounding (a few 1e-7 relative in every layer, batch norms folded or not) moves the
    # head's outputs by ~5e-5; cthulhu's float32 and each Keras's are that far from a
    # float64 run of the same model, so up to ~1e-4 from each other
    ("keras3", "unet3d"): (2e-4, 1e-4),
    ("tfkeras", "unet3d"): (2e-4, 1e-4),
}


def tolerance(folder, model):
    """The ``assert_like_keras`` tolerance of a fixture model."""
    return dict(zip(("scale_tol", "rel_tol"), LOOSER.get((folder, model), (1e-5, 1e-4)),
                    strict=True))


def _predict(model, inputs):
    return model.predict(inputs if len(inputs) > 1 else inputs[0])


MODEL_FILES = [item for item in entries()
               if item[1]["format"] in MODEL_FORMATS
               and item[1]["model"] not in REFUSED_MODELS | NO_OUTPUT
               and not item[1]["file"].endswith("_npz.keras")]  # pickled: test_keras_safety
def _folder_model(item):
    return item[0], item[1]["model"]


BUILDABLE = [item for item in MODEL_FILES if missing_class(*_folder_model(item)) is None]
NOT_BUILDABLE = [item for item in MODEL_FILES if missing_class(*_folder_model(item))]


def _load(folder, entry, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras 1 words, by design
        return load_model(FIXTURES / folder / entry["file"], isolate=False, **kwargs)


@pytest.mark.parametrize("item", BUILDABLE, ids=entry_id)
def test_model_file_predicts_what_keras_predicted(item):
    folder, entry = item
    model = _load(folder, entry)
    inputs, outputs = _inputs_outputs(folder, entry)
    assert_like_keras(_predict(model, inputs), outputs, what=entry["file"],
                      **tolerance(folder, entry["model"]))


def _assert_refused_naming(folder, entry, missing):
    with pytest.raises(ValueError) as info:
        _load(folder, entry)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(FIXTURES / folder / entry["file"]))
    assert f"Keras {missing}" in message and "not in cthulhu's catalog" in message


def test_model_with_a_class_cthulhu_lacks_is_refused_naming_it(monkeypatch):
    """Every fixture whose class the catalog lacks is refused in one line naming it; once
    the catalog has every fixture class, a class taken out of it shows the same refusal."""
    for folder, entry in NOT_BUILDABLE:
        _assert_refused_naming(folder, entry, missing_class(folder, entry["model"]))
    from cthulhu.saving import keras_config

    monkeypatch.setattr(keras_config, "lookup",
                        lambda name: None if name == "MaxPooling3D" else lookup(name))
    _assert_refused_naming("keras3", sibling("keras3", "unet3d", "keras_zip"), "MaxPooling3D")


def test_the_files_cthulhu_builds_cover_every_generation_and_format():
    """The buildable set is not empty by accident (a broken index would skip everything)."""
    kinds = {(folder, entry["format"]) for folder, entry in BUILDABLE}
    assert kinds >= {("keras3", "keras_zip"), ("keras3", "hdf5_model"),
                     ("tfkeras", "keras_zip"), ("tfkeras", "hdf5_model"),
                     ("keras1", "hdf5_model")}
    assert len(BUILDABLE) >= 60


def test_isolated_read_builds_the_same_model():
    """The default read (a child process parses the HDF5) gives the same predictions."""
    entry = sibling("tfkeras", "tcn", "hdf5_model")
    inputs, outputs = _inputs_outputs("tfkeras", entry)
    model = load_model(FIXTURES / "tfkeras" / entry["file"])
    assert_like_keras(_predict(model, inputs), outputs)


# ---------------------------------------------------------------------------
# model_from_json + load_weights
# ---------------------------------------------------------------------------

JSON_FILES = [item for item in entries() if item[1]["format"] == "json_config"
              and item[1]["model"] not in REFUSED_MODELS | NO_OUTPUT
              and missing_class(*_folder_model(item)) is None]


@pytest.mark.parametrize("item", JSON_FILES, ids=entry_id)
def test_json_then_load_weights_predicts_what_keras_predicted(item):
    """The config alone builds the model (weights initialised), the full-model file's
    weights loaded by topological order make it Keras's model."""
    folder, entry = item
    text = (FIXTURES / folder / entry["file"]).read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = model_from_json(text)
    inputs, outputs = _inputs_outputs(folder, entry)
    weights = sibling(folder, entry["model"], "hdf5_model")
    if any(len(np.shape(w)) for w in model.get_weights()):
        before = _predict(model, inputs)
        assert not all(np.allclose(a, b) for a, b in zip(
            before if isinstance(before, list) else [before], outputs, strict=True)), \
            "initialised weights already give Keras's outputs: the test proves nothing"
    model.load_weights(FIXTURES / folder / weights["file"], isolate=False)
    assert_like_keras(_predict(model, inputs), outputs, what=entry["file"],
                      **tolerance(folder, entry["model"]))


WEIGHT_ONLY = [item for item in entries()
               if item[1]["format"].startswith(("hdf5_weights", "sharded"))
               and item[1]["model"] not in REFUSED_MODELS | NO_OUTPUT
               and missing_class(*_folder_model(item)) is None
               and item[0] != "keras1"]  # Keras 1 weight files: test_keras1.py


@pytest.mark.parametrize("by_name", [False, True])
@pytest.mark.parametrize("item", WEIGHT_ONLY, ids=entry_id)
def test_weight_files_fill_a_model_built_from_json(item, by_name):
    folder, entry = item
    config = sibling(folder, entry["model"], "json_config")
    model = model_from_json((FIXTURES / folder / config["file"]).read_text())
    model.load_weights(FIXTURES / folder / entry["file"], by_name=by_name, isolate=False)
    inputs, outputs = _inputs_outputs(folder, entry)
    assert_like_keras(_predict(model, inputs), outputs, what=entry["file"],
                      **tolerance(folder, entry["model"]))


def test_weight_files_are_covered():
    formats = {(folder, entry["format"]) for folder, entry in WEIGHT_ONLY}
    assert {f for _, f in formats} >= {"hdf5_weights_keras3", "hdf5_weights_legacy"}
    assert {folder for folder, _ in formats} == {"keras3", "tfkeras"}


# ---------------------------------------------------------------------------
# Other devices
# ---------------------------------------------------------------------------

DEVICE_MODELS = ["family_conv", "family_separable", "tcn", "nested", "family_cropping"]


def _run_on(device, model, inputs):
    """Call the model on ``device``'s arrays; every output is of that library (on
    array-api-strict's second device), and Dask computes nothing while the graph is built."""
    import dask

    computes = []

    def counting(*args, **kwargs):
        computes.append(1)
        return dask.get(*args, **kwargs)

    xs = [layer_devices.convert(device, x) for x in inputs]
    with dask.config.set(scheduler=counting):
        y = model(xs if len(xs) > 1 else xs[0])
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    assert computes == []
    out = []
    for item in ys:
        assert type(item) is type(xs[0]), (device, type(item))
        if device == "strict":
            assert item.device == layer_devices.DEVICE1
            out.append(np.from_dlpack(item))
        else:
            out.append(np.asarray(item.compute(scheduler="sync")))
    return out


@pytest.mark.parametrize("device", ["strict", "dask"])
@pytest.mark.parametrize("model_name", DEVICE_MODELS)
def test_loaded_models_run_on_other_devices(model_name, device):
    """The model built from a Keras file runs on array-api-strict (its second device) and
    lazily on Dask, matching Keras."""
    entry = sibling("keras3", model_name, "keras_zip")
    model = _load("keras3", entry)
    inputs, outputs = _inputs_outputs("keras3", entry)
    assert_like_keras(_run_on(device, model, inputs), outputs, what=(model_name, device))


# ---------------------------------------------------------------------------
# Lambda and custom classes: refused in safe mode, loaded only with an explicit opt-in
# ---------------------------------------------------------------------------

LAMBDA_FILES = [(folder, entry) for folder, entry in entries()
                if entry["model"] in ("lambda_model", "k1_lambda")
                and entry["format"] in MODEL_FORMATS + ("json_config",)]
CUSTOM_FILES = [(folder, entry) for folder, entry in entries()
                if entry["model"] == "custom_model"
                and entry["format"] in MODEL_FORMATS + ("json_config",)]


def _open(folder, entry, **kwargs):
    path = FIXTURES / folder / entry["file"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if entry["format"] == "json_config":
            return model_from_json(path.read_text(), **kwargs)
        return load_model(path, isolate=False, **kwargs)


@pytest.mark.parametrize("item", LAMBDA_FILES, ids=entry_id)
def test_lambda_is_refused_in_safe_mode_naming_layer_and_opt_in(item, monkeypatch):
    """Nothing is unmarshalled: the refusal comes before any bytecode is looked at."""
    import marshal

    import cthulhu.saving.keras_config as keras_config

    folder, entry = item
    touched = []
    # Once untrapped first: the modules this path imports lazily are then loaded (the
    # import system itself reads every .pyc with marshal.loads).
    with pytest.raises(ValueError):
        _open(folder, entry)

    def trap(*args, **kwargs):
        touched.append(args)
        raise AssertionError("bytecode from the file was unmarshalled")

    monkeypatch.setattr(marshal, "loads", trap)
    monkeypatch.setattr(keras_config, "from_bytecode", trap)
    with pytest.raises(ValueError) as info:
        _open(folder, entry)
    message = str(info.value)
    assert touched == []
    assert "\n" not in message
    assert "Lambda" in message and "safe_mode=False" in message
    assert "custom_objects" in message


def _affine(t):
    return t * 2.0 + 1.0


@pytest.mark.parametrize("item", [i for i in LAMBDA_FILES if i[1]["model"] == "lambda_model"
                                  and i[1]["format"] != "json_config"], ids=entry_id)
def test_lambda_loads_with_its_function_given_by_the_caller(item):
    """custom_objects names the Lambda's function by the layer's name: nothing from the
    file runs, and the model is Keras's."""
    folder, entry = item
    model = _open(folder, entry, custom_objects={"affine": _affine})
    inputs, outputs = _inputs_outputs(folder, entry)
    assert_like_keras(_predict(model, inputs), outputs)


class Scale(L.Layer):
    """The fixtures' custom layer, written for cthulhu by the caller (x * scale)."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],),
                                     initializer="ones")
        super().build(input_shape)

    def call(self, x):
        return x * self.scale


@pytest.mark.parametrize("item", CUSTOM_FILES, ids=entry_id)
def test_custom_class_is_refused_without_custom_objects(item):
    folder, entry = item
    with pytest.raises(ValueError) as info:
        _open(folder, entry)
    message = str(info.value)
    assert "\n" not in message
    assert "'scale'" in message and "Scale" in message and "custom_objects" in message


@pytest.mark.parametrize("item", [i for i in CUSTOM_FILES if i[1]["format"] != "json_config"],
                         ids=entry_id)
def test_custom_class_loads_from_custom_objects(item):
    folder, entry = item
    model = _open(folder, entry, custom_objects={"Scale": Scale})
    inputs, outputs = _inputs_outputs(folder, entry)
    assert_like_keras(_predict(model, inputs), outputs)


def test_index_lists_the_refused_models():
    assert {"lambda_model", "custom_model"} <= set(index("keras3")["models"])
    assert {"lambda_model", "custom_model"} <= set(index("tfkeras")["models"])
    assert "k1_lambda" in index("keras1")["models"]


def test_verify_refuses_a_file_keras_wrote():
    """Keras files carry no certificate: verify=True says so (and how to get one)."""
    path = FIXTURES / "tfkeras" / "tcn.h5"
    with pytest.raises(ValueError) as info:
        load_model(path, verify=True, isolate=False)
    message = str(info.value)
    assert message.startswith(str(path)) and "no certificate" in message
    assert "cthulhu convert" in message
