"""Hostile and corrupt Keras files: refused with one clean line, nothing run, memory bounded.

The readers follow the safe loader's rules: data only (nothing imported, unpickled,
unmarshalled or called), every size checked before it is read.
"""

from __future__ import annotations

import base64
import builtins
import json
import marshal
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import zipfile
import zlib

import numpy as np
import pytest

from cthulhu.saving.keras import KerasFileError, Limits, read_keras_json, sniff
from cthulhu.saving.keras import read_keras as _read_keras
from tests.support.keras_fixture_index import FIXTURES, entries, path_of, sibling

h5py = pytest.importorskip("h5py")


def read_keras(path, **kwargs):
    """In this process: the isolated child runs this same code (test_keras_isolated.py
    checks that both agree)."""
    return _read_keras(path, isolate=False, **kwargs)

DENSE_CONFIG = {"class_name": "Sequential", "config": {"name": "s", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3], "dtype": "float32",
                                            "name": "x"}},
    {"class_name": "Dense", "config": {"name": "dense", "units": 2}}]}}


def _refused(call, match=None):
    with pytest.raises(KerasFileError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    if match:
        assert match in message, message
    return message


def _legacy_h5(path, *, config=DENSE_CONFIG, kernel=None, names=None):
    """A small Keras 2 legacy HDF5 model; returns the open file for the caller to spoil."""
    f = h5py.File(path, "w")
    f.attrs["keras_version"] = "2.15.0"
    f.attrs["backend"] = "tensorflow"
    f.attrs["model_config"] = json.dumps(config)
    g = f.create_group("model_weights")
    g.attrs["layer_names"] = np.array([b"x", b"dense"])
    g.create_group("x").attrs["weight_names"] = []
    d = g.create_group("dense")
    names = names if names is not None else [b"dense/kernel:0", b"dense/bias:0"]
    d.attrs["weight_names"] = np.array(names)
    d.create_dataset("dense/kernel:0", data=np.ones((3, 2), "f4") if kernel is None else kernel)
    d.create_dataset("dense/bias:0", data=np.zeros(2, "f4"))
    return f


def test_legacy_h5_helper_reads(tmp_path):
    _legacy_h5(tmp_path / "m.h5").close()
    kfile = read_keras(tmp_path / "m.h5")
    assert kfile.weights[("dense",)][0].shape == (3, 2)


# ---------------------------------------------------------------------------
# sniffing by content
# ---------------------------------------------------------------------------

def test_sniff_by_content_not_name(tmp_path):
    for folder, entry in entries():
        kind = sniff(path_of(folder, entry))
        expected = {"keras_zip": "keras_zip", "keras_zip_npz": "keras_zip",
                    "json_config": "json", "sharded_weights": "json"}.get(entry["format"],
                                                                           "hdf5")
        assert kind == expected, entry["file"]
    renamed = tmp_path / "model.h5"
    shutil.copy(path_of("keras3", sibling("keras3", "tcn", "keras_zip")), renamed)
    assert sniff(renamed) == "keras_zip"
    assert read_keras(renamed).format == "keras_zip"


def test_sniff_other_kinds(tmp_path):
    from cthulhu.layers import Daoloth
    from cthulhu.models import Pile

    model = Pile([Daoloth(2, input_shape=(3,))])
    model.save(tmp_path / "own.keras", save_format="cthulhu")  # a cthulhu file, whatever
    # its name
    assert sniff(tmp_path / "own.keras") == "cthulhu"
    np.savez(tmp_path / "a.npz", x=np.zeros(2))
    assert sniff(tmp_path / "a.npz") == "npz"
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as archive:
        archive.writestr("readme.txt", "hi")
    assert sniff(tmp_path / "b.zip") == "zip"
    (tmp_path / "empty").write_bytes(b"")
    assert sniff(tmp_path / "empty") == "empty"
    assert sniff(tmp_path / "nothing") == "missing"
    (tmp_path / "noise").write_bytes(os.urandom(64) + b"{")
    assert sniff(tmp_path / "noise") in ("unknown",)
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf \n{}")
    assert sniff(tmp_path / "bom.json") == "json"
    with h5py.File(tmp_path / "ub.h5", "w", userblock_size=1024) as f:
        f.attrs["model_config"] = json.dumps(DENSE_CONFIG)
    assert sniff(tmp_path / "ub.h5") == "hdf5"
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"\x08\x01")
    assert sniff(tmp_path / "sm") == "savedmodel"
    assert sniff(tmp_path) == "directory"
    unzipped = tmp_path / "unzipped"
    with zipfile.ZipFile(path_of("keras3", sibling("keras3", "tcn", "keras_zip"))) as archive:
        archive.extractall(unzipped)
    assert sniff(unzipped) == "keras_dir"
    kfile = read_keras(unzipped)
    assert kfile.format == "keras_dir" and len(kfile.weights) == 4


def test_read_refuses_what_is_not_keras(tmp_path):
    from cthulhu.layers import Daoloth
    from cthulhu.models import Pile

    Pile([Daoloth(2, input_shape=(3,))]).save(tmp_path / "own.cthulhu")
    _refused(lambda: read_keras(tmp_path / "own.cthulhu"), "cthulhu model file")
    np.savez(tmp_path / "a.npz", x=np.zeros(2))
    _refused(lambda: read_keras(tmp_path / "a.npz"), "npz")
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"\x08\x01")
    _refused(lambda: read_keras(tmp_path / "sm"), "SavedModel")
    (tmp_path / "empty").write_bytes(b"")
    _refused(lambda: read_keras(tmp_path / "empty"), "empty")
    (tmp_path / "noise").write_bytes(b"\x00" * 100)
    _refused(lambda: read_keras(tmp_path / "noise"), "not a Keras file")
    with pytest.raises(FileNotFoundError):
        read_keras(tmp_path / "nothing")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros(3)
    _refused(lambda: read_keras(tmp_path / "other.h5"), "not a Keras model or weights file")


# ---------------------------------------------------------------------------
# zip archives
# ---------------------------------------------------------------------------

def _keras_zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_truncated_and_damaged_keras_zips(tmp_path):
    good = path_of("keras3", sibling("keras3", "resnet", "keras_zip")).read_bytes()
    (tmp_path / "cut.keras").write_bytes(good[: len(good) // 2])
    _refused(lambda: read_keras(tmp_path / "cut.keras"))
    (tmp_path / "tail.keras").write_bytes(good[:-30])
    _refused(lambda: read_keras(tmp_path / "tail.keras"))
    # flip one byte inside the stored config.json: the CRC check catches it
    with zipfile.ZipFile(path_of("keras3", sibling("keras3", "resnet", "keras_zip"))) as z:
        info = z.getinfo("config.json")
    damaged = bytearray(good)
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
    damaged[offset] ^= 0x20
    (tmp_path / "crc.keras").write_bytes(bytes(damaged))
    _refused(lambda: read_keras(tmp_path / "crc.keras"), "corrupt")


def test_encrypted_entry_refused(tmp_path):
    _keras_zip(tmp_path / "e.keras", {"metadata.json": "{}", "config.json":
                                      json.dumps(DENSE_CONFIG)})
    data = bytearray((tmp_path / "e.keras").read_bytes())
    # set the 'encrypted' flag bit in config.json's central directory record
    position = data.find(b"PK\x01\x02")
    patched = 0
    while position >= 0:
        name_length = int.from_bytes(data[position + 28:position + 30], "little")
        if data[position + 46:position + 46 + name_length] == b"config.json":
            data[position + 8] |= 0x1
            patched += 1
        position = data.find(b"PK\x01\x02", position + 4)
    assert patched == 1
    (tmp_path / "e.keras").write_bytes(bytes(data))
    _refused(lambda: read_keras(tmp_path / "e.keras"), "encrypted")


def test_oversized_config_and_zip_bomb_refused_before_inflating(tmp_path):
    _keras_zip(tmp_path / "big.keras", {"config.json": json.dumps(DENSE_CONFIG) + " " * 5000})
    _refused(lambda: read_keras(tmp_path / "big.keras", limits=Limits(max_config_bytes=1000)),
             "config")
    bomb = {"config.json": json.dumps(DENSE_CONFIG), "metadata.json": "{}",
            "model.weights.h5": b"\x00" * (4 << 20)}
    _keras_zip(tmp_path / "bomb.keras", bomb, zipfile.ZIP_DEFLATED)
    limits = Limits(expansion_floor_bytes=1 << 20)
    _refused(lambda: read_keras(tmp_path / "bomb.keras", limits=limits), "decompression bomb")


def test_pickled_npz_weights_refused_never_unpickled(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    _refused(lambda: read_keras(FIXTURES / "keras3" / "unet3d_npz.keras"), "pickled")


# ---------------------------------------------------------------------------
# nothing from a file runs or is imported
# ---------------------------------------------------------------------------

def test_no_fixture_makes_anything_run(monkeypatch):
    """Fixtures with Lambda bytecode, custom classes and pickled npz (and one file of every
    format) read with pickle and marshal disabled and imports of the files' modules trapped."""
    def boom(*args, **kwargs):
        raise AssertionError("a file made cthulhu decode code")

    real_import = builtins.__import__

    def guarded_import(name, *args, **kwargs):
        if name.split(".")[0] in ("_models", "fixtures", "__main__"):
            raise AssertionError(f"a file made cthulhu import {name}")
        return real_import(name, *args, **kwargs)

    # the files that hold code, custom classes or pickles, and one file of every format
    chosen, formats = [], set()
    for folder, entry in entries():
        if entry["model"] in ("lambda_model", "custom_model", "k1_lambda") \
                or entry["file"] == "unet3d_npz.keras" or (folder, entry["format"]) not in formats:
            chosen.append((folder, entry))
            formats.add((folder, entry["format"]))

    def read_all():
        for folder, entry in chosen:
            try:
                read_keras(path_of(folder, entry))
            except KerasFileError:
                assert entry["file"] == "unet3d_npz.keras"

    read_all()  # first, so that Python's own lazy imports (which unmarshal .pyc) are done
    for module, name in ((pickle, "loads"), (pickle, "load"), (pickle, "Unpickler"),
                         (marshal, "loads"), (marshal, "load")):
        monkeypatch.setattr(module, name, boom)
    monkeypatch.setattr(builtins, "__import__", guarded_import)
    read_all()
    assert "_models" not in sys.modules


def test_lambda_bytecode_is_never_executed(tmp_path):
    marker = tmp_path / "ran"
    code = compile(f"open({str(marker)!r}, 'w').write('x')", "<evil>", "exec")
    payload = base64.b64encode(marshal.dumps(code)).decode()
    lambda_layer = {"module": "keras.layers", "class_name": "Lambda", "config": {
        "name": "evil", "function": {"class_name": "__lambda__", "config": {
            "code": payload, "defaults": None, "closure": None}}, "arguments": {}},
        "registered_name": None}
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "x"}},
        lambda_layer,
        {"module": "builtins", "class_name": "Exec", "config": {"name": "named"},
         "registered_name": "builtins>exec"}]}}
    _keras_zip(tmp_path / "evil.keras", {"config.json": json.dumps(config),
                                         "metadata.json": '{"keras_version": "3.9.0"}'})
    kfile = read_keras(tmp_path / "evil.keras")
    assert not marker.exists()
    assert [(r.path, r.kind) for r in kfile.code] == [(("evil",), "lambda")]
    assert [(r.path, r.module) for r in kfile.custom] == [(("named",), "builtins")]
    # the bytecode stays an inert string in the config
    assert kfile.model_config["config"]["layers"][1]["config"]["function"]["config"][
        "code"] == payload


def test_named_functions_recorded_not_resolved(tmp_path):
    layer = {"class_name": "Lambda", "config": {
        "name": "by_name", "function": "system", "function_type": "function",
        "module": "os", "output_shape": None, "output_shape_type": "raw", "arguments": {}}}
    text = json.dumps({"class_name": "Sequential", "keras_version": "2.4.0", "config": {
        "name": "s", "layers": [{"class_name": "InputLayer", "config": {
            "batch_input_shape": [None, 2], "name": "x"}}, layer,
            {"class_name": "Dense", "config": {"name": "d", "units": 1, "activation": {
                "module": "evil_module", "class_name": "function", "config": "act",
                "registered_name": "function"}}}]}})
    kfile = read_keras_json(text)
    assert {(r.path, r.kind, r.detail) for r in kfile.code} == {
        (("by_name",), "function", "function: os.system"),
        (("d",), "function", "activation: evil_module.act")}
    assert "evil_module" not in sys.modules


# ---------------------------------------------------------------------------
# HDF5
# ---------------------------------------------------------------------------

def test_truncated_and_garbage_hdf5(tmp_path):
    good = path_of("tfkeras", sibling("tfkeras", "resnet", "hdf5_model")).read_bytes()
    (tmp_path / "cut.h5").write_bytes(good[: len(good) // 3])
    _refused(lambda: read_keras(tmp_path / "cut.h5"))
    (tmp_path / "sig.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(2000))
    _refused(lambda: read_keras(tmp_path / "sig.h5"), "HDF5")


def test_bad_model_config_attributes(tmp_path):
    cases = {"notjson": "{not json", "array": "[1, 2]",
             "deep": "[" * 50_000 + "]" * 50_000,
             "deep2": '{"a":' * 150 + "1" + "}" * 150}
    for name, text in cases.items():
        with _legacy_h5(tmp_path / f"{name}.h5") as f:
            f.attrs["model_config"] = text
        _refused(lambda n=name: read_keras(tmp_path / f"{n}.h5"))
    with _legacy_h5(tmp_path / "bytes.h5") as f:
        f.attrs["model_config"] = np.bytes_(b"\xff\xfe{}")
    _refused(lambda: read_keras(tmp_path / "bytes.h5"), "UTF-8")
    with _legacy_h5(tmp_path / "num.h5") as f:
        f.attrs["model_config"] = np.arange(3)
    _refused(lambda: read_keras(tmp_path / "num.h5"), "not one string")
    with _legacy_h5(tmp_path / "long.h5"):
        pass
    _refused(lambda: read_keras(tmp_path / "long.h5", limits=Limits(max_config_bytes=50)))


def test_bad_weight_listings(tmp_path):
    with _legacy_h5(tmp_path / "a.h5") as f:
        f["model_weights"].attrs["layer_names"] = np.array([b"x", b"dense", b"ghost"])
    _refused(lambda: read_keras(tmp_path / "a.h5"), "ghost")
    _legacy_h5(tmp_path / "b.h5", names=[b"dense/kernel:0", b"dense/missing:0"]).close()
    _refused(lambda: read_keras(tmp_path / "b.h5"), "missing")
    _legacy_h5(tmp_path / "c.h5", names=[b"../dense/kernel:0"]).close()
    _refused(lambda: read_keras(tmp_path / "c.h5"), "not a plain path")
    with _legacy_h5(tmp_path / "d.h5") as f:
        f["model_weights"].attrs["layer_names"] = np.arange(2)
    _refused(lambda: read_keras(tmp_path / "d.h5"), "list of names")
    _legacy_h5(tmp_path / "e.h5").close()
    _refused(lambda: read_keras(tmp_path / "e.h5", limits=Limits(max_name_bytes=8)),
             "more than 8")
    _refused(lambda: read_keras(tmp_path / "e.h5", limits=Limits(max_names=1)), "names")
    _refused(lambda: read_keras(tmp_path / "e.h5", limits=Limits(max_objects=3)), "objects")
    # a variable-length string list, as Keras 3 writes it, read through fixed buffers
    with _legacy_h5(tmp_path / "f.h5") as f:
        f["model_weights"].attrs["layer_names"] = np.array(["x", "dense" * 10],
                                                           dtype=h5py.string_dtype())
    _refused(lambda: read_keras(tmp_path / "f.h5", limits=Limits(max_name_bytes=16)),
             "longer than 16")


def test_links_refused(tmp_path):
    with h5py.File(tmp_path / "target.h5", "w") as f:
        f["kernel"] = np.ones((3, 2), "f4")
    with _legacy_h5(tmp_path / "ext.h5") as f:
        del f["model_weights/dense/dense/kernel:0"]
        f["model_weights/dense/dense/kernel:0"] = h5py.ExternalLink(
            str(tmp_path / "target.h5"), "/kernel")
    _refused(lambda: read_keras(tmp_path / "ext.h5"), "ExternalLink")
    with _legacy_h5(tmp_path / "soft.h5") as f:
        del f["model_weights/dense/dense/kernel:0"]
        f["model_weights/dense/dense/kernel:0"] = h5py.SoftLink("/model_weights/dense")
    _refused(lambda: read_keras(tmp_path / "soft.h5"), "SoftLink")
    with _legacy_h5(tmp_path / "extgroup.h5") as f:
        f["model_weights"].attrs["layer_names"] = np.array([b"x", b"dense", b"far"])
        f["model_weights/far"] = h5py.ExternalLink(str(tmp_path / "target.h5"), "/")
    _refused(lambda: read_keras(tmp_path / "extgroup.h5"), "ExternalLink")
    with h5py.File(tmp_path / "extroot.h5", "w") as f:
        f.attrs["model_config"] = json.dumps(DENSE_CONFIG)
        f["model_weights"] = h5py.ExternalLink(str(tmp_path / "ext.h5"), "/model_weights")
    _refused(lambda: read_keras(tmp_path / "extroot.h5"), "ExternalLink")
    # Keras 3 layout: links inside the object tree
    with h5py.File(tmp_path / "tree.weights.h5", "w") as f:
        f.create_group("layers/dense/vars")["0"] = np.ones(2)
        f["layers/other"] = h5py.ExternalLink(str(tmp_path / "target.h5"), "/")
    _refused(lambda: read_keras(tmp_path / "tree.weights.h5"), "external link")
    with h5py.File(tmp_path / "loop.weights.h5", "w") as f:
        f.create_group("layers/dense/vars")["0"] = np.ones(2)
        f["layers/dense/again"] = h5py.SoftLink("/layers")
    _refused(lambda: read_keras(tmp_path / "loop.weights.h5"), "soft link")


def _spoil_kernel(path, **create):
    f = _legacy_h5(path)
    del f["model_weights/dense/dense/kernel:0"]
    f["model_weights/dense"].create_dataset("dense/kernel:0", **create)
    f.close()


def test_bad_datasets_refused(tmp_path):
    _spoil_kernel(tmp_path / "str.h5", data=np.array(["a", "b"], dtype=h5py.string_dtype()))
    _refused(lambda: read_keras(tmp_path / "str.h5"), "not a plain numeric type")
    _spoil_kernel(tmp_path / "cmp.h5", data=np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]))
    _refused(lambda: read_keras(tmp_path / "cmp.h5"), "not a plain numeric type")
    _spoil_kernel(tmp_path / "ref.h5", shape=(2,), dtype=h5py.ref_dtype)
    _refused(lambda: read_keras(tmp_path / "ref.h5"), "not a plain numeric type")
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.ones(6, "f4").tobytes())
    _spoil_kernel(tmp_path / "external.h5", shape=(3, 2), dtype="f4",
                  external=[(str(raw), 0, 24)])
    _refused(lambda: read_keras(tmp_path / "external.h5"), "external files")
    _spoil_kernel(tmp_path / "plugin.h5", data=np.ones((3, 2), "f4"), chunks=(3, 2),
                  compression=32123, allow_unknown_filter=True)
    _refused(lambda: read_keras(tmp_path / "plugin.h5"), "filter plugin")
    layout = h5py.VirtualLayout(shape=(3, 2), dtype="f4")
    layout[:] = h5py.VirtualSource(str(tmp_path / "raw.h5"), "data", shape=(3, 2))
    f = _legacy_h5(tmp_path / "virtual.h5")
    del f["model_weights/dense/dense/kernel:0"]
    f["model_weights/dense"].create_virtual_dataset("dense/kernel:0", layout)
    f.close()
    _refused(lambda: read_keras(tmp_path / "virtual.h5"), "virtual")


def test_dataset_bombs_refused_before_reading(tmp_path):
    # 4 TB declared, nothing stored
    _spoil_kernel(tmp_path / "huge.h5", shape=(10 ** 6, 10 ** 6), dtype="f4",
                  chunks=(100, 100))
    _refused(lambda: read_keras(tmp_path / "huge.h5"), "max_weight_bytes")
    # 1 GiB declared, never written (reading would allocate the fill value)
    _spoil_kernel(tmp_path / "fill.h5", shape=(1 << 28,), dtype="f4", chunks=(1 << 20,),
                  compression="gzip")
    _refused(lambda: read_keras(tmp_path / "fill.h5"), "decompression bomb")
    # 64 MiB of zeros, written and compressed 1000x
    f = _legacy_h5(tmp_path / "zeros.h5")
    del f["model_weights/dense/dense/kernel:0"]
    data = f["model_weights/dense"].create_dataset("dense/kernel:0", shape=(1 << 24,),
                                                   dtype="f4", chunks=(1 << 20,),
                                                   compression="gzip")
    for start in range(0, 1 << 24, 1 << 20):
        data[start:start + (1 << 20)] = 0.0
    f.close()
    _refused(lambda: read_keras(tmp_path / "zeros.h5"), "decompression bomb")
    assert read_keras(tmp_path / "zeros.h5", limits=Limits(max_expansion=10 ** 6)).weights[
        ("dense",)][0].shape == (1 << 24,)


def test_keras3_layout_oddities_refused(tmp_path):
    with h5py.File(tmp_path / "a.weights.h5", "w") as f:
        f.create_group("layers/dense/vars")["kernel"] = np.ones(2)
    _refused(lambda: read_keras(tmp_path / "a.weights.h5"), "numbered variable")
    with h5py.File(tmp_path / "b.weights.h5", "w") as f:
        f.create_group("layers")["dense"] = np.ones(2)
    _refused(lambda: read_keras(tmp_path / "b.weights.h5"), "object groups")
    with h5py.File(tmp_path / "c.weights.h5", "w") as f:
        group = f.create_group("layers")
        for _ in range(70):
            group = group.create_group("deeper")
    _refused(lambda: read_keras(tmp_path / "c.weights.h5"), "64 deep")


def test_missing_h5py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"cthulhu-layers\[keras\]"):
        read_keras(path_of("tfkeras", sibling("tfkeras", "tcn", "hdf5_model")))


# ---------------------------------------------------------------------------
# JSON configs
# ---------------------------------------------------------------------------

def test_bad_json_texts():
    _refused(lambda: read_keras_json("[" * 100_000 + "]" * 100_000), "nested")
    _refused(lambda: read_keras_json('{"a":' * 200 + "1" + "}" * 200), "nested")
    _refused(lambda: read_keras_json("{"), "not valid JSON")
    _refused(lambda: read_keras_json("[]"), "not an object")
    _refused(lambda: read_keras_json(b"\xff{}"), "UTF-8")
    _refused(lambda: read_keras_json(json.dumps(DENSE_CONFIG),
                                     limits=Limits(max_config_bytes=20)), "max_config_bytes")
    with pytest.raises(TypeError, match="read_keras_json"):
        read_keras_json(None)


def _functional(layers, inputs=(("x", 0, 0),), outputs=(("d", 0, 0),)):
    return json.dumps({"class_name": "Functional", "keras_version": "2.15.0", "config": {
        "name": "m", "layers": layers, "input_layers": [list(i) for i in inputs],
        "output_layers": [list(o) if isinstance(o, tuple) else o for o in outputs]}})


INPUT = {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 2], "name": "x"}}


def test_malformed_configs_refused():
    dense = {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 1},
             "inbound_nodes": [[["x", 0, 0, {}]]]}
    assert read_keras_json(_functional([INPUT, dense])).model_config
    bad = {
        "layers not a list": json.dumps({"class_name": "Sequential", "config": {"layers": 3}}),
        "class_name not str": json.dumps({"class_name": 3, "config": {}}),
        "layer not a dict": json.dumps({"class_name": "Sequential",
                                        "config": {"layers": ["Dense"]}}),
        "config not a dict": json.dumps({"class_name": "Sequential", "config": {
            "layers": [{"class_name": "Dense", "config": 5}]}}),
        "node garbage": _functional([INPUT, {**dense, "inbound_nodes": [["x"]]}]),
        "nodes not list": _functional([INPUT, {**dense, "inbound_nodes": 7}]),
        "unknown layer": _functional([INPUT, {**dense, "inbound_nodes": [[["y", 0, 0, {}]]]}]),
        "node out of range": _functional([INPUT, {**dense,
                                                  "inbound_nodes": [[["x", 3, 0, {}]]]}]),
        "output out of range": _functional([INPUT, dense], outputs=(("d", 1, 0),)),
        "endpoint garbage": _functional([INPUT, dense], outputs=(5,)),
        "keras3 history": json.dumps({"class_name": "Functional", "config": {
            "name": "m", "layers": [INPUT, {**dense, "inbound_nodes": [{"args": [{
                "class_name": "__keras_tensor__", "config": {"keras_history": "x"}}],
                "kwargs": {}}]}], "input_layers": [["x", 0, 0]],
            "output_layers": [["d", 0, 0]]}}),
    }
    for name, text in bad.items():
        message = _refused(lambda t=text: read_keras_json(t))
        assert "<json text>" in message, name


# ---------------------------------------------------------------------------
# sharded weights
# ---------------------------------------------------------------------------

def test_sharded_index_cannot_point_outside_its_folder(tmp_path):
    source = FIXTURES / "keras3"
    index = json.loads((source / "unet3d_sharded.weights.json").read_text())
    for name in ("../unet3d_sharded_00000.weights.h5", "/etc/passwd",
                 "sub/unet3d_sharded_00000.weights.h5", ".hidden.h5", "x.txt", 5):
        spoiled = {**index, "weight_map": {"/layers/conv3d/vars": name}}
        (tmp_path / "s.weights.json").write_text(json.dumps(spoiled))
        _refused(lambda: read_keras(tmp_path / "s.weights.json"), "refusing it")
    spoiled = {**index, "weight_map": {"/layers/conv3d/vars": "gone.weights.h5"}}
    (tmp_path / "s.weights.json").write_text(json.dumps(spoiled))
    _refused(lambda: read_keras(tmp_path / "s.weights.json"), "missing")
    (tmp_path / "link.weights.h5").symlink_to(source / "unet3d_sharded_00000.weights.h5")
    spoiled = {**index, "weight_map": {"/layers/conv3d/vars": "link.weights.h5"}}
    (tmp_path / "s.weights.json").write_text(json.dumps(spoiled))
    _refused(lambda: read_keras(tmp_path / "s.weights.json"), "not a plain file")


# ---------------------------------------------------------------------------
# memory stays bounded (measured in a fresh process)
# ---------------------------------------------------------------------------

_RSS_SCRIPT = textwrap.dedent("""
    import resource, sys
    from cthulhu.saving.keras import read_keras, KerasFileError
    import h5py, numpy  # loaded before the baseline
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        read_keras(sys.argv[1], isolate=False)  # the reader's own bound, in this process
        print("read")
    except KerasFileError as exc:
        print("refused", exc)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) // 1024)
""")


def _rss_growth(path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(path)], capture_output=True,
                         text=True, env=env, timeout=120, check=True).stdout.splitlines()
    return out[0], int(out[-1])


def test_bombs_refused_with_bounded_memory(tmp_path):
    # a .keras whose weights entry inflates 512 MiB of zeros from about 0.5 MiB
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\x00" * (1 << 20)
    compressed = b"".join(stream.compress(chunk) for _ in range(512)) + stream.flush()
    crc = 0
    for _ in range(512):
        crc = zlib.crc32(chunk, crc)
    _write_raw_zip(tmp_path / "bomb.keras", json.dumps(DENSE_CONFIG).encode(), compressed,
                   512 << 20, crc)
    verdict, growth = _rss_growth(tmp_path / "bomb.keras")
    assert verdict.startswith("refused") and "decompression bomb" in verdict
    assert growth < 64, growth
    # an HDF5 dataset declaring 2 GiB with nothing stored
    _spoil_kernel(tmp_path / "fill.h5", shape=(1 << 29,), dtype="f4", chunks=(1 << 20,),
                  compression="gzip")
    verdict, growth = _rss_growth(tmp_path / "fill.h5")
    assert verdict.startswith("refused") and growth < 64, (verdict, growth)


def _write_raw_zip(path, config, compressed, size, crc):
    """A zip with a stored config.json and a deflated model.weights.h5 of ``size`` bytes."""
    records, central, offset = [], [], 0
    members = [(b"config.json", 0, config, len(config), zlib.crc32(config)),
               (b"model.weights.h5", 8, compressed, size, crc)]
    for name, method, data, full, checksum in members:
        header = (b"PK\x03\x04" + (20).to_bytes(2, "little") + (0).to_bytes(2, "little")
                  + method.to_bytes(2, "little") + (0).to_bytes(4, "little")
                  + checksum.to_bytes(4, "little") + len(data).to_bytes(4, "little")
                  + full.to_bytes(4, "little") + len(name).to_bytes(2, "little")
                  + (0).to_bytes(2, "little") + name)
        records.append(header + data)
        central.append(b"PK\x01\x02" + (20).to_bytes(2, "little") + (20).to_bytes(2, "little")
                       + (0).to_bytes(2, "little") + method.to_bytes(2, "little")
                       + (0).to_bytes(4, "little") + checksum.to_bytes(4, "little")
                       + len(data).to_bytes(4, "little") + full.to_bytes(4, "little")
                       + len(name).to_bytes(2, "little") + (0).to_bytes(6, "little")
                       + (0).to_bytes(6, "little") + offset.to_bytes(4, "little") + name)
        offset += len(header) + len(data)
    directory = b"".join(central)
    end = (b"PK\x05\x06" + (0).to_bytes(4, "little") + len(members).to_bytes(2, "little") * 2
           + len(directory).to_bytes(4, "little") + offset.to_bytes(4, "little")
           + (0).to_bytes(2, "little"))
    path.write_bytes(b"".join(records) + directory + end)
