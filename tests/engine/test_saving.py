"""Saving and loading models: one file at the exact path, atomic, no pickle, safe_mode."""

import io
import json
import operator
import os
import pickle
import zipfile

import numpy as np
import pytest

from cthulhu.engine.base_layer import Layer
from cthulhu.engine.input_layer import Input
from cthulhu.models import Lump, Pile, load_model, save_model
from cthulhu.names import register_layer
from cthulhu.names.functions import (
    deserialize_function,
    register_function,
    serialize_function,
)
from cthulhu.saving import cthulhu_file as saving
from tests.support.engine_toy_layers import ToyAdd, ToyDense, ToyMaskedMean, ToyMasking


def triple(x):
    return 3 * x


@register_function(name="tests.quadruple")
def quadruple(x):
    return 4 * x


@register_layer
class ToyFn(Layer):
    """Applies a stored function (the way LuKthu stores its function)."""

    def __init__(self, fn, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn

    def call(self, x):
        return self.fn(x)

    def get_config(self):
        return {**super().get_config(), "fn": serialize_function(self.fn)}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "fn": deserialize_function(config["fn"])})


def _pile():
    return Pile([ToyDense(4, input_shape=(3,), activation="relu"), ToyDense(2)], name="saved")


def test_save_load_round_trip_exact_path(tmp_path):
    model = _pile()
    path = tmp_path / "model"  # no extension: none is added
    model.save(path)
    assert sorted(os.listdir(tmp_path)) == ["model"]
    assert zipfile.is_zipfile(path)
    loaded = load_model(str(path))
    assert isinstance(loaded, Pile) and loaded.name == "saved"
    assert loaded.get_config() == model.get_config()
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_save_contents_are_json_and_npy_only(tmp_path):
    path = tmp_path / "m.cthulhu"
    save_model(_pile(), path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        meta = json.loads(archive.read("cthulhu.json"))
    assert names[0] == "cthulhu.json" and all(n.endswith(".npy") for n in names[1:])
    assert meta["format"] == "cthulhu-model" and meta["model"]["class_name"] == "Pile"
    # four weights, and the certificate's test vector (one input, one output)
    assert [n for n in names if n.startswith("weights/")] == [f"weights/{i}.npy"
                                                               for i in range(4)]
    assert [n for n in names if n.startswith("certificate/")] == [
        "certificate/input_0.npy", "certificate/output_0.npy"]
    assert len(names) == 1 + 4 + 2 and meta["version"] == 3
    save_model(_pile(), path, certificate=False)  # without one: version 2, as before
    with zipfile.ZipFile(path) as archive:
        assert len(archive.namelist()) == 1 + 4
        assert json.loads(archive.read("cthulhu.json"))["version"] == 2


def test_save_lump_with_masks_and_shared_layers(tmp_path):
    a, b = Input(shape=(4, 3)), Input(shape=(4, 3))
    masking = ToyMasking(0.0)
    pooled = ToyMaskedMean()
    dense = ToyDense(2)
    out = ToyAdd()([dense(pooled(masking(a))), dense(pooled(masking(b)))])
    model = Lump([a, b], out)
    model.save(tmp_path / "lump")
    loaded = load_model(tmp_path / "lump")
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3))
    xa[0, 1] = 0.0
    np.testing.assert_allclose(loaded.predict([xa, xb]), model.predict([xa, xb]), rtol=1e-12)
    assert loaded.count_params() == model.count_params() == 3 * 2 + 2


def test_save_deferred_pile(tmp_path):
    model = Pile([ToyDense(2)])
    x = np.ones((1, 5), dtype=np.float32)
    y = model(x)
    model.save(tmp_path / "d")
    np.testing.assert_array_equal(load_model(tmp_path / "d").predict(x), y)


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "model"
    _pile().save(path)
    before = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(saving.np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        _pile().save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model"]  # no temporary file left behind


def test_save_overwrite_false(tmp_path):
    _pile().save(tmp_path / "m")
    with pytest.raises(FileExistsError):
        save_model(_pile(), tmp_path / "m", overwrite=False)


class _Trap:
    """Unpickling this would create a marker file: the test checks it never happens."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_tampered_weights_with_pickle_payload_is_not_executed(tmp_path):
    path = tmp_path / "m"
    _pile().save(path)
    marker = tmp_path / "pwned"
    evil = np.empty(1, dtype=object)
    evil[0] = _Trap(str(marker))
    buffer = io.BytesIO()
    np.save(buffer, evil, allow_pickle=True)
    tampered = tmp_path / "tampered"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for name in src.namelist():
            data = buffer.getvalue() if name == "weights/0.npy" else src.read(name)
            dst.writestr(name, data)
    with pytest.raises(ValueError, match="weights/0.npy"):
        load_model(tampered)
    assert not marker.exists()


def test_load_raw_pickle_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "m"
    path.write_bytes(pickle.dumps(_Trap(str(marker))))
    with pytest.raises(ValueError, match="not a cthulhu model file"):
        load_model(path)
    assert not marker.exists()


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing")
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("cthulhu.json", json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a cthulhu model file"):
        load_model(path)


def test_load_lambda_refused_in_safe_mode(tmp_path):
    scale = 2.5
    model = Pile([ToyDense(2, input_shape=(3,)), ToyFn(lambda x: np.tanh(x) * scale)])
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match="safe mode"):
        load_model(tmp_path / "m")
    loaded = load_model(tmp_path / "m", safe_mode=False)
    x = np.ones((2, 3))
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))


def _fn_model(tmp_path, fn):
    model = Pile([ToyDense(2, input_shape=(3,), activation="relu"), ToyFn(fn)])
    model.set_weights([np.ones((3, 2)), np.zeros(2)])
    model.save(tmp_path / "m")
    return tmp_path / "m"


def _check_fn_model(loaded, fn):
    assert loaded.layers[1].fn is fn
    np.testing.assert_allclose(loaded.predict(np.ones((1, 3))), fn(np.full((1, 2), 3.0)))


def test_load_registered_function_allowed_in_safe_mode(tmp_path):
    _check_fn_model(load_model(_fn_model(tmp_path, quadruple)), quadruple)


@pytest.mark.parametrize("fn", [triple, operator.neg])
def test_load_module_functions_need_opt_in_in_safe_mode(tmp_path, fn):
    # A module-level function is stored by module and name; safe mode resolves it only when
    # the user names it (custom_objects) or trusts the file (safe_mode=False).
    path = _fn_model(tmp_path, fn)
    with pytest.raises(ValueError, match=f"{fn.__name__}.*allow-list"):
        load_model(path)
    _check_fn_model(load_model(path, custom_objects={fn.__name__: fn}), fn)
    _check_fn_model(load_model(path, safe_mode=False), fn)


def test_function_serialization_forms():
    assert serialize_function(triple)["kind"] == "name"
    assert serialize_function(quadruple) == {"kind": "registered", "name": "tests.quadruple"}
    code = serialize_function(lambda x: x + 1)
    assert code["kind"] == "code"
    assert deserialize_function(code, safe_mode=False)(1) == 2
    bad_version = {**code, "python": "2.7"}
    with pytest.raises(ValueError, match="Python 2.7"):
        deserialize_function(bad_version, safe_mode=False)
    unsafe_import = {"kind": "name", "module": "some_untrusted_module_xyz", "name": "f"}
    with pytest.raises(ValueError, match="allow-list"):
        deserialize_function(unsafe_import)
    with pytest.raises(ModuleNotFoundError):  # only unsafe mode imports
        deserialize_function(unsafe_import, safe_mode=False)
    obj = object()
    with pytest.raises(ValueError, match="JSON"):
        serialize_function(lambda x: (x, obj))


def test_load_unknown_layer_needs_custom_objects(tmp_path):
    class Unregistered(ToyDense):
        pass

    model = Pile([Unregistered(2, input_shape=(3,))])
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match="Unknown layer: 'Unregistered'"):
        load_model(tmp_path / "m")
    loaded = load_model(tmp_path / "m", custom_objects={"Unregistered": Unregistered})
    assert type(loaded.layers[0]) is Unregistered


def test_load_custom_activation_via_custom_objects(tmp_path):
    def my_act(x):
        return x * 0.5

    model = Pile([ToyDense(2, input_shape=(3,), activation=my_act)])
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match="my_act"):
        load_model(tmp_path / "m")
    loaded = load_model(tmp_path / "m", custom_objects={"my_act": my_act})
    np.testing.assert_allclose(loaded.predict(np.ones((1, 3))), model.predict(np.ones((1, 3))))


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_save_uses_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        _pile().save(tmp_path / "m")
    finally:
        os.umask(old)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["m"]


def test_saved_manifest_declares_shapes_and_dtypes(tmp_path):
    model = Pile([ToyDense(4, input_shape=(3,)), ToyDense(2, dtype="float64")])
    model.save(tmp_path / "m", certificate=False)  # version 2: no certificate block
    with zipfile.ZipFile(tmp_path / "m") as archive:
        meta = json.loads(archive.read("cthulhu.json"))
    assert meta["version"] == 2
    assert [item["shapes"] for item in meta["weights"]] == [[[3, 4], [4]], [[4, 2], [2]]]
    assert [item["dtypes"] for item in meta["weights"]] == [["<f4", "<f4"], ["<f8", "<f8"]]


def test_save_load_nested_model(tmp_path):
    inner = Pile([ToyDense(3, input_shape=(2,)), ToyDense(2)], name="inner")
    outer = Pile([inner, ToyDense(1)], name="outer")
    outer.set_weights([np.full(w.shape, i + 1.0) for i, w in enumerate(outer.get_weights())])
    outer.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    for got, want in zip(loaded.get_weights(), outer.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    x = np.ones((2, 2), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(x), outer.predict(x))
