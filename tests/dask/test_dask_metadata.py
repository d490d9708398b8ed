"""Co-registered outputs: axis names, attributes, voxel scale, OME-NGFF; chunks, codec, dtype."""

import itertools
import json
import math
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr

import cthulhu
from cthulhu import layers as L
from cthulhu.blockwise import job
from cthulhu.models import Pile


def strided_model(channels_out=1, data_format=None):
    model = Pile([L.InputLayer(input_shape=(None, None, None, 1)),
                  L.Cthalpa3D(2, 3, strides=2, padding="same", activation="relu"),
                  L.Cthalpa3D(channels_out, 1)], name="strided")
    rng = np.random.default_rng(5)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5
                       for w in model.get_weights()])
    return model


def keras_same_start(n, k, s):
    """Output sample 0's first input sample for a Keras 'same' convolution (TF padding)."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return -(total // 2)


def ome_input(folder, x, scale, translation, unit="micrometer"):
    group = zarr.open_group(str(folder / "image.zarr"), mode="w")
    array = group.create_array("0", shape=x.shape, chunks=(8, 8, 8), dtype=x.dtype)
    array[...] = x
    array.attrs["acquisition"] = {"microscope": "SPIM", "id": 7}
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": [{"name": n, "type": "space", "unit": unit} for n in ("z", "y", "x")],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": list(scale)},
            {"type": "translation", "translation": list(translation)}]}]}]}
    return str(folder / "image.zarr" / "0")


@pytest.fixture
def vol():
    return np.random.default_rng(0).standard_normal((20, 17, 16)).astype(np.float32)


def test_output_carries_the_inputs_names_attributes_and_scale(tmp_path, vol):
    model = strided_model()
    scale, translation = (2.0, 0.5, 0.25), (10.0, -3.0, 0.0)
    source = ome_input(tmp_path, vol, scale, translation)
    cthulhu.predict_volume(model, source, tmp_path / "out.zarr", block_shape=5, progress=False)
    out = zarr.open_array(str(tmp_path / "out.zarr"))
    assert out.metadata.dimension_names == ("z", "y", "x")
    assert dict(out.attrs)["acquisition"] == {"microscope": "SPIM", "id": 7}
    coordinates = dict(out.attrs)["cthulhu"]["coordinates"]
    # output sample i is computed from input samples start + 2i .. start + 2i + 2 (k=3, s=2)
    for axis, n in enumerate(vol.shape):
        centre = keras_same_start(n, 3, 2) + 1  # the middle of the 3 samples it sees
        assert coordinates["scale"][axis] == scale[axis] * 2
        assert coordinates["translation"][axis] == pytest.approx(
            translation[axis] + scale[axis] * centre)
    assert [a["unit"] for a in coordinates["axes"]] == ["micrometer"] * 3
    np.testing.assert_allclose(out[...], model.predict(vol[None, ..., None])[0, ..., 0],
                               rtol=1e-5, atol=1e-5)


def test_xarray_dimension_names_and_hdf5_element_size(tmp_path, vol):
    model = strided_model()
    v2 = zarr.create_array(store=str(tmp_path / "v2.zarr"), shape=vol.shape, chunks=(8, 8, 8),
                           dtype="float32", zarr_format=2,
                           attributes={"_ARRAY_DIMENSIONS": ["depth", "row", "col"]})
    v2[...] = vol
    cthulhu.predict_volume(model, str(tmp_path / "v2.zarr"), tmp_path / "a.zarr",
                           block_shape=6, progress=False)
    out = zarr.open_array(str(tmp_path / "a.zarr"))
    assert out.metadata.dimension_names == ("depth", "row", "col")
    assert "_ARRAY_DIMENSIONS" not in dict(out.attrs)
    with h5py.File(tmp_path / "in.h5", "w") as handle:
        data = handle.create_dataset("raw", data=vol)
        data.attrs["element_size_um"] = [3.0, 1.5, 1.5]
    cthulhu.predict_volume(model, f"{tmp_path / 'in.h5'}:raw", tmp_path / "b.zarr",
                           block_shape=6, progress=False)
    coordinates = dict(zarr.open_array(str(tmp_path / "b.zarr")).attrs)["cthulhu"]["coordinates"]
    assert coordinates["scale"] == [6.0, 3.0, 3.0]
    assert [a.get("unit") for a in coordinates["axes"]] == ["micrometer"] * 3


def test_ome_output_is_an_ome_ngff_image_around_the_array(tmp_path, vol):
    model = strided_model()
    source = ome_input(tmp_path, vol, (2.0, 0.5, 0.5), (0.0, 0.0, 0.0))
    target = tmp_path / "seg.ome.zarr"
    summary = cthulhu.predict_volume(model, source, target, block_shape=5, progress=False,
                                     ome=True)
    group = json.loads((target / "zarr.json").read_text())
    assert group["node_type"] == "group" and group["zarr_format"] == 3
    image = group["attributes"]["ome"]
    assert image["version"] == "0.5" and len(image["multiscales"]) == 1
    (level,) = image["multiscales"][0]["datasets"]
    assert level["path"] == "0"
    kinds = [t["type"] for t in level["coordinateTransformations"]]
    assert kinds == ["scale", "translation"]  # the order OME-NGFF requires
    assert level["coordinateTransformations"][0]["scale"] == [4.0, 1.0, 1.0]
    assert [a["name"] for a in image["multiscales"][0]["axes"]] == ["z", "y", "x"]
    # the array reads like any zarr array, and through the group
    expected = model.predict(vol[None, ..., None])[0, ..., 0]
    np.testing.assert_allclose(zarr.open_group(str(target))["0"][...], expected,
                               rtol=1e-5, atol=1e-5)
    assert sorted(os.listdir(target)) == ["0", "zarr.json"]
    assert any("napari" in line for line in summary.how_to_open())
    with pytest.raises(FileExistsError, match="already exists"):
        cthulhu.predict_volume(model, source, target, block_shape=5, progress=False, ome=True)
    cthulhu.predict_volume(model, source, target, block_shape=4, progress=False, ome=True,
                           overwrite=True)
    assert zarr.open_array(str(target / "0")).chunks == (4, 4, 4)
    (target / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="'notes.txt', which cthulhu did not write"):
        cthulhu.predict_volume(model, source, target, progress=False, ome=True, overwrite=True)
    assert (target / "notes.txt").read_text() == "mine" and (target / "0").is_dir()


def test_ome_refuses_what_it_cannot_describe_and_writes_nothing(tmp_path, vol):
    model = strided_model(channels_out=3)  # channels-last with 3 channels: (z, y, x, c)
    with pytest.raises(ValueError, match="channel .*before the spatial ones"):
        cthulhu.predict_volume(model, vol, tmp_path / "out.zarr", progress=False, ome=True)
    assert not (tmp_path / "out.zarr").exists()
    foreign = zarr.create_array(store=str(tmp_path / "theirs.zarr"), shape=(2,), dtype="f4")
    del foreign
    with pytest.raises(FileExistsError, match="not a cthulhu OME-NGFF output"):
        cthulhu.predict_volume(strided_model(), vol, tmp_path / "theirs.zarr", progress=False,
                               ome=True, overwrite=True)
    assert zarr.open_array(str(tmp_path / "theirs.zarr")).shape == (2,)


def test_chunks_compression_and_dtype_options(tmp_path, vol):
    model = strided_model()
    expected = model.predict(vol[None, ..., None])[0, ..., 0]
    cthulhu.predict_volume(model, vol, tmp_path / "a.zarr", block_shape=(6, 6, 4),
                           chunks=(3, 2, 4), compression="gzip:7", output_dtype="float16",
                           progress=False)
    out = zarr.open_array(str(tmp_path / "a.zarr"))
    assert out.chunks == (3, 2, 4) and out.dtype == np.float16
    codecs = json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())["codecs"]
    assert {"name": "gzip", "configuration": {"level": 7}} in codecs
    np.testing.assert_array_equal(out[...], expected.astype(np.float16))
    cthulhu.predict_volume(model, vol, tmp_path / "b.zarr", block_shape=6, compression="none",
                           output_dtype="int8", progress=False)
    out = zarr.open_array(str(tmp_path / "b.zarr"))
    assert [c["name"] for c in json.loads((tmp_path / "b.zarr" / "zarr.json").read_text())
            ["codecs"]] == ["bytes"]
    scaled = np.clip(np.rint(expected), -128, 127).astype(np.int8)  # round half even, clip
    np.testing.assert_array_equal(out[...], scaled)


@pytest.mark.parametrize("kwargs, words", [
    ({"chunks": 4, "block_shape": 6}, "do not divide the block"),
    ({"chunks": (2, 2)}, "chunks must be"),
    ({"compression": "lz4"}, "compression must be"),
    ({"compression": "zstd:99"}, "compression level"),
    ({"output_dtype": "complex64"}, "output_dtype must be"),
    ({"output_dtype": "bool"}, "output_dtype must be"),
])
def test_bad_storage_options_are_refused_before_anything_is_written(tmp_path, vol, kwargs, words):
    with pytest.raises(ValueError, match=words):
        cthulhu.predict_volume(strided_model(), vol, tmp_path / "out.zarr", progress=False,
                               **kwargs)
    assert not (tmp_path / "out.zarr").exists()


def test_every_chunk_of_a_block_is_fsynced_before_its_record(tmp_path, vol, monkeypatch):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name fsynced descriptors")
    target = (tmp_path / "out.zarr").resolve()
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    real_record = job._record
    checked = []

    def checking_record(volume_job, block):
        _, ranges = block
        per_axis = [range(a // c, math.ceil(b / c)) for (a, b), c in zip(ranges, (2, 3, 4), strict=True)]
        for coords in itertools.product(*per_axis):
            chunk = target / "c" / "/".join(map(str, coords))
            assert str(chunk) in synced, f"{chunk} not fsynced before the block's record"
        checked.append(block)
        return real_record(volume_job, block)

    monkeypatch.setattr(job, "_record", checking_record)
    cthulhu.predict_volume(strided_model(), vol, target, block_shape=(4, 6, 8),
                           chunks=(2, 3, 4), progress=False, scheduler="synchronous")
    assert len(checked) == 3 * 2 * 1


def test_resume_refuses_other_storage_options(tmp_path, vol, monkeypatch):
    from cthulhu.blockwise import volume

    model = strided_model()
    real = volume.VolumeJob.run_block

    def failing(self, block):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(volume.VolumeJob, "run_block", failing)
    with pytest.raises(RuntimeError):
        cthulhu.predict_volume(model, vol, tmp_path / "out.zarr", block_shape=5,
                               output_dtype="float16", progress=False, scheduler="synchronous")
    monkeypatch.setattr(volume.VolumeJob, "run_block", real)
    with pytest.raises(FileExistsError, match=r"output dtype \(this run the compute dtype, the unfinished run float16\)"):
        cthulhu.predict_volume(model, vol, tmp_path / "out.zarr", output_dtype="float32",
                               progress=False)
    summary = cthulhu.predict_volume(model, vol, tmp_path / "out.zarr", output_dtype="float16",
                                     progress=False)
    assert summary["computed"] == summary["blocks"]
