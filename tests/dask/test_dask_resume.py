"""Resuming: the recorded block is used when none is given; a different one is named."""

import numpy as np
import pytest
import zarr

import cthulhu
from cthulhu.blockwise import volume
from cthulhu.cli import main
from cthulhu.cli.predict import example_model


def _crash_after(monkeypatch, count):
    real = volume.VolumeJob.run_block
    calls = []

    def failing(self, block):
        if len(calls) == count:
            raise RuntimeError("simulated crash")
        calls.append(block)
        return real(self, block)

    monkeypatch.setattr(volume.VolumeJob, "run_block", failing)
    return real


@pytest.fixture
def crashed(tmp_path, monkeypatch):
    model = example_model(width=2)
    model.save(tmp_path / "model.cthulhu")
    x = np.random.default_rng(3).standard_normal((14, 12, 10)).astype(np.float32)
    source = zarr.create_array(store=str(tmp_path / "in.zarr"), shape=x.shape, chunks=(7, 6, 5),
                               dtype="float32")
    source[...] = x
    real = _crash_after(monkeypatch, 3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        cthulhu.predict_volume(model, str(tmp_path / "in.zarr"), tmp_path / "out.zarr",
                               block_shape=(7, 6, 5), progress=False, scheduler="synchronous")
    monkeypatch.setattr(volume.VolumeJob, "run_block", real)
    return tmp_path, model, x


def test_resume_without_block_uses_the_recorded_one(crashed):
    folder, model, x = crashed
    summary = cthulhu.predict_volume(model, str(folder / "in.zarr"), folder / "out.zarr",
                                     progress=False)
    assert summary["skipped"] == 3 and summary["blocks"] == 8
    out = zarr.open_array(str(folder / "out.zarr"))
    assert out.chunks == (7, 6, 5)
    np.testing.assert_allclose(out[...], model.predict(x[None, ..., None])[0, ..., 0],
                               rtol=1e-5, atol=1e-5)


def test_resume_with_another_block_names_both(crashed, capsys):
    folder, _, _ = crashed
    code = main(["predict", str(folder / "model.cthulhu"), "--input", str(folder / "in.zarr"),
                 "--output", str(folder / "out.zarr"), "--block", "4"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "block shape (this run (4, 4, 4), the unfinished run (7, 6, 5))" in err
    assert "leave block_shape (--block) out" in err
    code = main(["predict", str(folder / "model.cthulhu"), "--input", str(folder / "in.zarr"),
                 "--output", str(folder / "out.zarr"), "--no-progress"])
    assert code == 0 and "5 blocks computed, 3 already done" in capsys.readouterr().out
