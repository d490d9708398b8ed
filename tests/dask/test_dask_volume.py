"""predict_volume: stores (Zarr, HDF5, .npy), output attributes, refusal, resume, bad input."""

import json

import h5py
import numpy as np
import pytest
import zarr

import cthulhu
from cthulhu import layers as L
from cthulhu.blockwise import volume
from cthulhu.models import Pile


def small_model(channels=1):
    model = Pile([L.InputLayer(input_shape=(None, None, None, channels)),
                  L.Cthalpa3D(3, 3, padding="same", activation="relu"),
                  L.Cthalpa3D(2, 3, padding="same", activation="relu"),
                  L.Cthalpa3D(1, 3, padding="same")], name="three_convs")
    rng = np.random.default_rng(7)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.4
                       for w in model.get_weights()])
    return model


@pytest.fixture
def vol(rng):
    return rng.standard_normal((13, 11, 9)).astype(np.float32)


def expected_for(model, x):
    return model.predict(x[None, ..., None])[0, ..., 0]


def write_zarr(path, x, chunks=(5, 4, 3)):
    array = zarr.create_array(store=str(path), shape=x.shape, chunks=chunks, dtype=x.dtype)
    array[...] = x
    return str(path)


def test_zarr_in_zarr_out_with_attributes(tmp_path, vol):
    model = small_model()
    summary = cthulhu.predict_volume(model, write_zarr(tmp_path / "in.zarr", vol),
                                     tmp_path / "out.zarr", block_shape=(6, 5, 4), progress=False)
    out = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")
    assert out.metadata.zarr_format == 3
    assert out.shape == vol.shape and out.chunks == (6, 5, 4)
    np.testing.assert_allclose(out[...], expected_for(model, vol), rtol=1e-5, atol=1e-5)
    info = dict(out.attrs)["cthulhu"]
    assert info["complete"] is True
    assert info["model_name"] == "three_convs"
    assert json.dumps(info["model_config"])  # JSON, and the real config
    assert info["model_config"]["name"] == "three_convs"
    assert not (tmp_path / "out.zarr" / volume.DONE_DIR).exists()
    assert summary["blocks"] == summary["computed"] == 3 * 3 * 3
    assert "blocks computed" in summary.line()


def test_hdf5_and_npy_inputs(tmp_path, vol):
    model = small_model()
    with h5py.File(tmp_path / "in.h5", "w") as handle:
        handle.create_dataset("group/volume", data=vol, chunks=(4, 4, 4))
    np.save(tmp_path / "in.npy", vol)
    expected = expected_for(model, vol)
    for i, source in enumerate([f"{tmp_path / 'in.h5'}:group/volume", tmp_path / "in.npy"]):
        target = tmp_path / f"out{i}.zarr"
        cthulhu.predict_volume(model, source, target, block_shape=5, progress=False)
        np.testing.assert_allclose(zarr.open_array(str(target))[...], expected,
                                   rtol=1e-5, atol=1e-5)


def test_batch_and_channel_axes_are_kept(tmp_path, rng):
    model = small_model(channels=2)
    x = rng.standard_normal((2, 7, 6, 5, 2)).astype(np.float32)
    cthulhu.predict_volume(model, write_zarr(tmp_path / "in.zarr", x, (1, 3, 3, 3, 2)),
                           tmp_path / "out.zarr", block_shape=4, progress=False)
    out = zarr.open_array(str(tmp_path / "out.zarr"))
    assert out.shape == (2, 7, 6, 5, 1) and out.chunks == (1, 4, 4, 4, 1)
    np.testing.assert_allclose(out[...], model.predict(x), rtol=1e-5, atol=1e-5)


def test_existing_output_is_refused_then_overwritten(tmp_path, vol):
    model = small_model()
    source = write_zarr(tmp_path / "in.zarr", vol)
    target = tmp_path / "out.zarr"
    cthulhu.predict_volume(model, source, target, block_shape=8, progress=False)
    before = sorted(p.name for p in target.rglob("*"))
    with pytest.raises(FileExistsError, match="already exists"):
        cthulhu.predict_volume(model, source, target, block_shape=8, progress=False)
    assert sorted(p.name for p in target.rglob("*")) == before
    other = tmp_path / "not_zarr"
    other.write_text("precious")
    with pytest.raises(FileExistsError):
        cthulhu.predict_volume(model, source, other, block_shape=8, progress=False)
    assert other.read_text() == "precious"
    cthulhu.predict_volume(model, source, target, block_shape=4, overwrite=True, progress=False)
    assert zarr.open_array(str(target)).chunks == (4, 4, 4)


def test_resume_after_failure_finishes_only_missing_blocks(tmp_path, vol, monkeypatch):
    model = small_model()
    source = write_zarr(tmp_path / "in.zarr", vol)
    reference = tmp_path / "ref.zarr"
    cthulhu.predict_volume(model, source, reference, block_shape=5, progress=False)
    target = tmp_path / "out.zarr"
    real = volume.VolumeJob.run_block
    calls = []

    def failing(self, block):
        if len(calls) == 7:
            raise RuntimeError("simulated crash")
        calls.append(block)
        return real(self, block)

    monkeypatch.setattr(volume.VolumeJob, "run_block", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        cthulhu.predict_volume(model, source, target, block_shape=5, progress=False,
                               scheduler="synchronous")
    info = dict(zarr.open_array(str(target)).attrs)["cthulhu"]
    assert info["complete"] is False  # a crashed output never looks finished
    records = target / volume.DONE_DIR / info["generation"]
    assert len(list(records.iterdir())) == 7  # one record per block written
    monkeypatch.setattr(volume.VolumeJob, "run_block", real)
    # another model may not resume it
    with pytest.raises(FileExistsError, match="unfinished run"):
        cthulhu.predict_volume(small_model(), source, target, block_shape=4, progress=False)
    summary = cthulhu.predict_volume(model, source, target, block_shape=5, progress=False)
    assert summary["skipped"] == 7 and summary["computed"] == summary["blocks"] - 7
    np.testing.assert_array_equal(zarr.open_array(str(target))[...],
                                  zarr.open_array(str(reference))[...])


@pytest.mark.parametrize("case", ["missing_file", "missing_dataset", "rank", "channels",
                                  "halo", "not_a_volume"])
def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path, vol, case):
    model = small_model()
    target = tmp_path / "out.zarr"
    source, block, error, words = None, 8, ValueError, ""
    if case == "missing_file":
        source, error, words = tmp_path / "nope.zarr", FileNotFoundError, "no such"
    elif case == "missing_dataset":
        with h5py.File(tmp_path / "in.h5", "w") as handle:
            handle.create_dataset("volume", data=vol)
        source, error, words = f"{tmp_path / 'in.h5'}:other", KeyError, "no dataset 'other'"
    elif case == "rank":
        np.save(tmp_path / "flat.npy", vol[0])
        source, words = tmp_path / "flat.npy", "does not fit"
    elif case == "channels":
        np.save(tmp_path / "c3.npy", np.zeros((5, 5, 5, 3), np.float32))
        source, words = tmp_path / "c3.npy", "3 channels"
    elif case == "halo":
        source = write_zarr(tmp_path / "in.zarr", vol)
        block, words = 1, "halo"
    else:
        (tmp_path / "text.txt").write_text("hello")
        source, words = tmp_path / "text.txt", "not a Zarr"
    with pytest.raises(error, match=words):
        cthulhu.predict_volume(model, source, target, block_shape=block, progress=False)
    assert not target.exists()


def test_in_memory_array_source_and_identity(tmp_path, vol):
    model = small_model()
    cthulhu.predict_volume(model, vol, tmp_path / "out.zarr", block_shape=7, progress=False)
    np.testing.assert_allclose(zarr.open_array(str(tmp_path / "out.zarr"))[...],
                               expected_for(model, vol), rtol=1e-5, atol=1e-5)
    from cthulhu.blockwise.stores import Source

    assert Source(vol).spec == Source(vol.copy()).spec
    assert Source(vol).spec != Source(vol + 1).spec  # a different input never resumes a run


def test_single_channel_volume_without_axis_to_several_output_channels(tmp_path, vol):
    model = Pile([L.InputLayer(input_shape=(None, None, None, 1)),
                  L.Cthalpa3D(2, 3, padding="same")])
    cthulhu.predict_volume(model, vol, tmp_path / "out.zarr", block_shape=6, progress=False)
    out = zarr.open_array(str(tmp_path / "out.zarr"))
    assert out.shape == (*vol.shape, 2) and out.chunks == (6, 6, 6, 2)
    np.testing.assert_allclose(out[...], model.predict(vol[None, ..., None])[0],
                               rtol=1e-5, atol=1e-5)
