"""Broken and hostile model files: each is refused with one ValueError naming the file.

The contract (docs/security.md): ``load_model`` raises ``FileNotFoundError`` for a missing
path and otherwise, for anything wrong with the file, one ``ValueError`` whose message is
one line starting with the path. Never a ``KeyError``, ``RecursionError``, ``BadZipFile``,
``zlib.error``, ``OSError`` or ``MemoryError``, and never a wrong model.
"""

import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu.models import load_model
from tests.support.crafted_files import (
    daoloth,
    model_entries,
    npy_bytes,
    npy_header,
    pile,
    raw_zip,
    zero_bomb,
)

KERNEL = np.arange(6, dtype=np.float32).reshape(3, 2)
BIAS = np.array([0.5, -0.5], dtype=np.float32)
MODEL = pile(daoloth("d", 2, input_dim=3))


def refused(path, match=None):
    """The one clean error: a ValueError, one line, starting with the path."""
    with pytest.raises(ValueError) as info:
        load_model(path)
    message = str(info.value)
    assert type(info.value) is ValueError
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    if match is not None:
        assert match in message, message
    return message


def good_entries(version=1):
    return model_entries(MODEL, [("d", [KERNEL, BIAS])], version=version)


def with_entry(entries, name, **changes):
    return [{**e, **changes} if e["name"] == name else e for e in entries]


@pytest.mark.parametrize("version", [1, 2])
def test_well_formed_crafted_file_loads(tmp_path, version):
    # The reference every refusal below departs from: the same bytes, unbroken, load.
    model = load_model(raw_zip(tmp_path / "ok.cthulhu", good_entries(version)))
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x), x @ KERNEL + BIAS)


# ------------------------------------------------------------------ the zip container
def test_truncated_file_refused(tmp_path):
    whole = raw_zip(tmp_path / "whole", good_entries()).read_bytes()
    for cut in sorted({1, 4, 30, len(whole) // 3, len(whole) // 2, len(whole) - 30, len(whole) - 1}):
        path = tmp_path / f"cut{cut}.cthulhu"
        path.write_bytes(whole[:cut])
        refused(path)


def test_bad_crc_refused(tmp_path):
    entries = with_entry(good_entries(), "weights/0.npy", crc=12345)
    refused(raw_zip(tmp_path / "crc.cthulhu", entries), match="CRC")
    entries = with_entry(good_entries(), "cthulhu.json", crc=12345)
    refused(raw_zip(tmp_path / "crc-config.cthulhu", entries), match="CRC")


def test_corrupt_deflate_stream_refused(tmp_path):
    entries = good_entries()
    entries[1] = {"name": "weights/0.npy", "chunks": [b"\xff" * 40], "csize": 40,
                  "crc": 0, "size": 152, "method": 8}
    refused(raw_zip(tmp_path / "zlib.cthulhu", entries))


def test_unsupported_compression_refused(tmp_path):
    entries = with_entry(good_entries(), "weights/0.npy", method=12)  # bzip2: ratio unbounded
    refused(raw_zip(tmp_path / "bz2.cthulhu", entries), match="compression method 12")


def test_zip_directory_with_too_many_entries_refused(tmp_path):
    path = raw_zip(tmp_path / "many.cthulhu", good_entries(), entry_count=0xFFFF)
    refused(path, match="entries")


def test_not_a_zip_and_missing_config_refused(tmp_path):
    path = tmp_path / "plain.cthulhu"
    path.write_bytes(b"just text\n" * 10)
    refused(path, match="not a cthulhu model file")
    path = raw_zip(tmp_path / "noconfig.cthulhu", good_entries()[1:])
    refused(path, match="no cthulhu.json")


def test_missing_path_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.cthulhu")


# ------------------------------------------------------------------ the config
def test_deep_json_refused_without_recursion(tmp_path):
    entries = with_entry(good_entries(), "cthulhu.json", data=b"[" * 200_000 + b"]" * 200_000)
    refused(raw_zip(tmp_path / "deep.cthulhu", entries), match="nested 200000 levels")


def test_brackets_inside_strings_do_not_count_as_depth():
    from cthulhu.saving import model_file

    text = json.dumps({"name": "[" * 5000 + "\\\"{" * 100, "x": [[1]]}).encode()
    assert model_file.json_depth(text) == 3


def test_huge_config_refused_before_reading(tmp_path):
    # 1 GiB of spaces deflates to about 1 MiB: the directory's claimed size is refused.
    chunks, csize, crc, size = zero_bomb(b"", 2**30)
    spaces = {"name": "cthulhu.json", "chunks": chunks, "csize": csize, "crc": crc,
              "size": size, "method": 8}
    refused(raw_zip(tmp_path / "huge.cthulhu", [spaces]), match="more than the limit")


def test_config_larger_than_its_directory_claim_refused(tmp_path):
    # The directory says 100 bytes; the stream inflates to 64 MiB: reading stops at the claim.
    chunks, csize, crc, _ = zero_bomb(b"{", 2**26)
    lying = {"name": "cthulhu.json", "chunks": chunks, "csize": csize, "crc": crc,
             "size": 100, "method": 8}
    refused(raw_zip(tmp_path / "lying.cthulhu", [lying]))


@pytest.mark.parametrize(("meta", "match"), [
    (b"not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[]", "not a cthulhu model file"),
    (json.dumps({"format": "keras"}).encode(), "not a cthulhu model file"),
    (json.dumps({"format": "cthulhu-model", "version": 99, "model": MODEL}).encode(), "versions 1 to"),
    (json.dumps({"format": "cthulhu-model", "version": 1, "model": {"no": 1}}).encode(),
     "class_name"),
    (json.dumps({"format": "cthulhu-model", "version": 1, "model": daoloth("x", 2, 3)}).encode(),
     "not a model"),
    (json.dumps({"format": "cthulhu-model", "version": 1,
                 "model": {"class_name": "Pile", "config": {"layers": 7}}}).encode(), None),
    (json.dumps({"format": "cthulhu-model", "version": 1, "model": MODEL,
                 "weights": {"d": 1}}).encode(), "manifest"),
])
def test_bad_config_refused(tmp_path, meta, match):
    entries = with_entry(good_entries(), "cthulhu.json", data=meta)
    refused(raw_zip(tmp_path / "bad.cthulhu", entries), match=match)


# ------------------------------------------------------------------ the manifest and weights
def _meta_with(weights, version=1):
    return json.dumps({"format": "cthulhu-model", "version": version, "model": MODEL,
                       "weights": weights}).encode()


def test_missing_weight_entry_refused(tmp_path):
    entries = [e for e in good_entries() if e["name"] != "weights/1.npy"]
    refused(raw_zip(tmp_path / "missing.cthulhu", entries), match="'weights/1.npy' is missing")


def test_layer_without_stored_weights_refused(tmp_path):
    entries = with_entry(good_entries(), "cthulhu.json", data=_meta_with([]))
    refused(raw_zip(tmp_path / "noweights.cthulhu", entries), match="can still hold")
    # A second small layer fits in the slack of the first layer's entries (their .npy
    # headers): the budget lets it build, and the missing values are found after.
    two = pile(daoloth("d", 2, input_dim=3), daoloth("e", 1))
    entries = model_entries(two, [("d", [KERNEL, BIAS])])
    refused(raw_zip(tmp_path / "half.cthulhu", entries), match="no value for weight 'kernel' of layer 'e'")


@pytest.mark.parametrize("item", [
    {"layer": "nope", "names": ["a", "b"], "entries": ["weights/0.npy", "weights/1.npy"]},
    {"layer": "d", "names": ["a"], "entries": ["weights/0.npy"]},
    {"layer": "d", "names": ["a", "b"], "entries": ["weights/0.npy", "weights/0.npy"]},
    {"layer": "d", "names": ["a", "b"], "entries": "weights/0.npy"},
    {"layer": "d", "names": ["a", "b"], "entries": ["weights/0.npy", 3]},
])
def test_malformed_manifest_refused(tmp_path, item):
    entries = with_entry(good_entries(), "cthulhu.json", data=_meta_with([item]))
    refused(raw_zip(tmp_path / "manifest.cthulhu", entries))


@pytest.mark.parametrize(("array", "match"), [
    (KERNEL.T.copy(), "holds shape (2, 3) float32"),
    (KERNEL.astype(np.float64), "float64"),
    (KERNEL.astype(np.int32), "int32"),
    (np.zeros((3, 2), dtype=[("a", "<f4")]), "not a plain numeric dtype"),
])
def test_wrong_shape_or_dtype_refused(tmp_path, array, match):
    entries = with_entry(good_entries(), "weights/0.npy", data=npy_bytes(array))
    refused(raw_zip(tmp_path / "wrong.cthulhu", entries), match=match)


def test_object_dtype_refused_never_unpickled(tmp_path):
    entries = with_entry(good_entries(), "weights/0.npy",
                         data=npy_header((3, 2), "|O") + b"\x80\x04N." * 6)
    refused(raw_zip(tmp_path / "object.cthulhu", entries), match="object")
    meta = json.loads(good_entries(2)[0]["data"])
    meta["weights"][0]["dtypes"][0] = "|O"
    entries = with_entry(good_entries(2), "cthulhu.json", data=json.dumps(meta).encode())
    refused(raw_zip(tmp_path / "object2.cthulhu", entries), match="not a plain numeric dtype")


def test_header_claiming_a_trillion_elements_refused(tmp_path):
    header = npy_header((10**6, 10**6))
    entries = with_entry(good_entries(), "weights/0.npy", data=header + KERNEL.tobytes())
    refused(raw_zip(tmp_path / "tera.cthulhu", entries), match="(1000000, 1000000)")


def test_config_naming_a_trillion_weights_refused_before_allocation(tmp_path):
    # Version 1: no declared shapes; the model asks for 4 TB, the file can hold a few bytes.
    huge = pile(daoloth("d", 10**6, input_dim=10**6))
    entries = model_entries(huge, [("d", [KERNEL, BIAS])])
    refused(raw_zip(tmp_path / "v1.cthulhu", entries), match="the file can still hold")
    # Version 2: the manifest declares it, the entry cannot hold it.
    meta = {"format": "cthulhu-model", "version": 2, "model": huge, "weights": [
        {"layer": "d", "names": ["kernel", "bias"], "entries": ["weights/0.npy", "weights/1.npy"],
         "shapes": [[10**6, 10**6], [10**6]], "dtypes": ["<f4", "<f4"]}]}
    entries = with_entry(entries, "cthulhu.json", data=json.dumps(meta).encode())
    refused(raw_zip(tmp_path / "v2.cthulhu", entries), match="holds at most")


def test_manifest_shape_disagreeing_with_model_refused(tmp_path):
    meta = json.loads(good_entries(2)[0]["data"])
    meta["weights"][0]["shapes"][0] = [2, 3]
    entries = with_entry(good_entries(2), "cthulhu.json", data=json.dumps(meta).encode())
    refused(raw_zip(tmp_path / "declared.cthulhu", entries), match="declares shape (2, 3)")


def test_weight_entry_with_trailing_data_refused(tmp_path):
    entries = with_entry(good_entries(), "weights/0.npy", data=npy_bytes(KERNEL) + b"\0")
    refused(raw_zip(tmp_path / "trailing.cthulhu", entries), match="more data than its header")


def test_truncated_weight_data_refused(tmp_path):
    entries = with_entry(good_entries(), "weights/0.npy", data=npy_bytes(KERNEL)[:-4])
    refused(raw_zip(tmp_path / "short.cthulhu", entries))


def test_zip_bomb_weight_refused(tmp_path):
    # A correct header for the (3, 2) kernel, then 1 GiB of zeros: about 1 MiB on disk.
    chunks, csize, crc, size = zero_bomb(npy_header((3, 2)), 2**30)
    bomb = {"name": "weights/0.npy", "chunks": chunks, "csize": csize, "crc": crc,
            "size": size, "method": 8}
    entries = [bomb if e["name"] == "weights/0.npy" else e for e in good_entries()]
    path = raw_zip(tmp_path / "bomb.cthulhu", entries)
    assert os.path.getsize(path) < 2 * 2**20
    refused(path, match="more data than its header")


def test_big_endian_and_fortran_weights_load_correctly(tmp_path):
    entries = with_entry(good_entries(), "weights/0.npy", data=npy_bytes(KERNEL.astype(">f4")))
    entries = with_entry(entries, "weights/1.npy", data=npy_bytes(BIAS.astype(">f4")))
    loaded = load_model(raw_zip(tmp_path / "be.cthulhu", entries))
    np.testing.assert_array_equal(loaded.get_weights()[0], KERNEL)
    np.testing.assert_array_equal(loaded.get_weights()[1], BIAS)
    entries = with_entry(good_entries(), "weights/0.npy", data=npy_bytes(np.asfortranarray(KERNEL)))
    loaded = load_model(raw_zip(tmp_path / "f.cthulhu", entries))
    np.testing.assert_array_equal(loaded.get_weights()[0], KERNEL)


# ------------------------------------------------------------------ any corruption
@pytest.fixture(scope="module")
def saved_bytes(tmp_path_factory):
    from cthulhu.layers import Daoloth
    from cthulhu.models import Pile

    model = Pile([Daoloth(3, input_shape=(2,), name="a"), Daoloth(2, name="b")])
    model.set_weights([np.arange(w.size, dtype=np.float32).reshape(w.shape) + 1
                       for w in model.get_weights()])
    path = tmp_path_factory.mktemp("saved") / "m.cthulhu"
    model.save(path)
    return path.read_bytes(), model.get_weights()


@settings(max_examples=150)
@given(data=st.data())
def test_any_byte_corruption_is_refused_or_harmless(tmp_path_factory, saved_bytes, data):
    original, weights = saved_bytes
    blob = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3))):
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans()):
        blob = blob[:data.draw(st.integers(0, len(blob)))]
    path = tmp_path_factory.mktemp("fuzz") / "m.cthulhu"
    path.write_bytes(bytes(blob))
    try:
        loaded = load_model(path)
    except ValueError as exc:
        assert type(exc) is ValueError and str(exc).startswith(f"{path}: ")
        assert "\n" not in str(exc)
        return
    # Bytes the CRCs do not cover (dates, attributes) may change: the model must still be exact.
    for got, want in zip(loaded.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_saved_file_passes_zipfile_own_check(tmp_path, saved_bytes):
    path = tmp_path / "m.cthulhu"
    path.write_bytes(saved_bytes[0])
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None


def test_manifest_listing_a_layer_twice_or_half_declared_refused(tmp_path):
    meta = json.loads(good_entries(2)[0]["data"])
    meta["weights"].append(dict(meta["weights"][0], entries=["weights/2.npy", "weights/3.npy"]))
    entries = [*with_entry(good_entries(2), "cthulhu.json", data=json.dumps(meta).encode()),
               {"name": "weights/2.npy", "data": npy_bytes(KERNEL)},
               {"name": "weights/3.npy", "data": npy_bytes(BIAS)}]
    refused(raw_zip(tmp_path / "twice.cthulhu", entries), match="lists layer 'd' twice")
    meta = json.loads(good_entries(2)[0]["data"])
    del meta["weights"][0]["dtypes"]
    meta["version"] = 1
    entries = with_entry(good_entries(2), "cthulhu.json", data=json.dumps(meta).encode())
    refused(raw_zip(tmp_path / "half.cthulhu", entries), match="not both")


def test_declared_big_endian_dtype_loads(tmp_path):
    meta = json.loads(good_entries(2)[0]["data"])
    meta["weights"][0]["dtypes"] = [">f4", ">f4"]
    entries = with_entry(good_entries(2), "cthulhu.json", data=json.dumps(meta).encode())
    entries = with_entry(entries, "weights/0.npy", data=npy_bytes(KERNEL.astype(">f4")))
    loaded = load_model(raw_zip(tmp_path / "be.cthulhu", entries))
    np.testing.assert_array_equal(loaded.get_weights()[0], KERNEL)
