"""cthulhu -> ``.keras`` / ``.h5`` -> real Keras: the files in ``fixtures/roundtrip/`` were
written by ``model.save`` and loaded by Keras 3.15 and tf-keras 2.15 in their own venvs
(``verify_roundtrip.py``), which recorded what they predicted. Here, without Keras:

- cthulhu still writes those very files (same config, same weights);
- cthulhu's predictions equal what each Keras predicted from the file (``predictions_*``),
  for every file that Keras loaded, and every file loaded in both Kerases unless
  ``roundtrip_models.EXPECTED`` says why not;
- cthulhu reads its own Keras files back, certificate included (``verify=True``).
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from cthulhu.models import load_model
from cthulhu.saving.keras import read_keras
from tests.keras_files.roundtrip_models import EXPECTED, MODELS, build
from tests.keras_files.test_keras_models import assert_like_keras
from tests.support.keras_fixture_index import FIXTURES

pytest.importorskip("h5py")

FOLDER = FIXTURES / "roundtrip"
INDEX = json.loads((FOLDER / "index_roundtrip.json").read_text())
FILES = [(name, fmt) for name, (_, formats) in MODELS.items() for fmt in formats]
KERASES = {"keras3": "k3", "tfkeras": "tf"}


@functools.cache
def _truth(name):
    with np.load(FOLDER / f"{name}.truth.npz", allow_pickle=False) as data:
        inputs = [data[f"input/{i}"] for i in range(sum(k.startswith("input/") for k in data))]
        outputs = [data[f"output/{i}"] for i in range(sum(k.startswith("output/")
                                                          for k in data))]
    return inputs, outputs


@functools.cache
def _predictions(which):
    with np.load(FOLDER / f"predictions_{KERASES[which]}.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _keras_outputs(which, file):
    found = _predictions(which)
    count = sum(key.startswith(f"{file}/output/") for key in found)
    return [found[f"{file}/output/{i}"] for i in range(count)]


def _predict(model, inputs):
    y = model.predict(inputs if len(inputs) > 1 else inputs[0])
    return y if isinstance(y, list) else [y]


def test_index_covers_every_file_and_both_kerases():
    assert set(INDEX["models"]) == set(MODELS)
    for which in KERASES:
        assert set(INDEX["loads"][which]) == {f"{n}.{f}" for n, f in FILES}
    assert INDEX["keras3"].startswith("3.") and INDEX["tfkeras"].startswith("2.15")
    assert set(INDEX["expected_failures"]) == {f"{w}/{f}" for w, f in EXPECTED}


@pytest.mark.parametrize("name", list(MODELS))
def test_cthulhu_still_computes_the_recorded_outputs(name):
    model, inputs = build(name)
    want_inputs, want = _truth(name)
    for mine, theirs in zip(inputs, want_inputs, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for mine, theirs in zip(_predict(model, inputs), want, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("which", list(KERASES))
@pytest.mark.parametrize("name,fmt", FILES)
def test_keras_predicts_what_cthulhu_predicts(name, fmt, which):
    """What the Keras recorded for the file equals cthulhu's prediction now."""
    file = f"{name}.{fmt}"
    record = INDEX["loads"][which][file]
    if (which, file) in EXPECTED:
        assert not record.get("within_tolerance"), f"{which} now reproduces {file}: " \
            "remove it from EXPECTED"
        if "channels_first" in name:  # loads, cannot run NCHW on CPU
            assert record["loaded"]
        return
    assert record["loaded"] and record["within_tolerance"], (which, file, record)
    model, inputs = build(name)
    assert_like_keras(_predict(model, inputs), _keras_outputs(which, file), what=(which, file))


def _same_file_content(a, b):
    first, second = read_keras(a, isolate=False), read_keras(b, isolate=False)
    assert first.model_config == second.model_config
    assert set(first.weights) == set(second.weights)
    for key, arrays in first.weights.items():
        for x, y in zip(arrays, second.weights[key], strict=True):
            assert x.dtype == y.dtype, key
            np.testing.assert_array_equal(x, y, err_msg=str(key))


@pytest.mark.parametrize("name,fmt", FILES)
def test_cthulhu_still_writes_these_files(name, fmt, tmp_path):
    model, _ = build(name)
    model.save(tmp_path / f"{name}.{fmt}")
    _same_file_content(tmp_path / f"{name}.{fmt}", FOLDER / f"{name}.{fmt}")


@pytest.mark.parametrize("name,fmt", FILES)
def test_cthulhu_reads_its_keras_files_back_with_their_certificate(name, fmt):
    model = load_model(FOLDER / f"{name}.{fmt}", isolate=False, verify=True)
    inputs, want = _truth(name)
    for mine, theirs in zip(_predict(model, inputs), want, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)


def test_roundtrip_covers_a_pile_and_a_lump_of_many_kinds():
    kinds = {}
    for name in ("rt_core", "rt_conv", "rt_merge_norm", "rt_nested"):
        model, _ = build(name)
        kinds[name] = (type(model).__name__, {type(layer).__name__ for layer in model.layers})
    assert kinds["rt_core"][0] == "Pile" and len(kinds["rt_core"][1]) >= 8
    assert kinds["rt_conv"][0] == "Lump" and {"Cthalpa1D", "Cthalpa2D", "Cthalpa3D"} <= \
        kinds["rt_conv"][1]
    assert {"Pile", "Lump"} <= kinds["rt_nested"][1]


@pytest.mark.parametrize("device", ["dask", "array_api_strict"])
@pytest.mark.parametrize("file", ["rt_conv.keras", "rt_text.h5"])
def test_certificate_checks_on_other_devices(file, device):
    model = load_model(FOLDER / file, isolate=False, verify=device)
    assert model.count_params() > 0


def test_a_certificate_that_disagrees_is_refused(tmp_path):
    """Weights changed under the stored test vector: verify refuses, naming the output."""
    import shutil

    import h5py

    copy = tmp_path / "rt_core.h5"
    shutil.copy(FOLDER / "rt_core.h5", copy)
    with h5py.File(copy, "r+") as f:
        kernel = f["model_weights/dense/dense/kernel:0"]
        kernel[...] = kernel[...] + 1.0
    load_model(copy, isolate=False)  # without verify: loads (the file is well formed)
    with pytest.raises(ValueError) as info:
        load_model(copy, isolate=False, verify=True)
    assert "certificate check failed on numpy: output 0" in str(info.value)
