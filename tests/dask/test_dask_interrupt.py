"""A run killed with SIGKILL midway resumes and ends bitwise equal to an uninterrupted run."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import zarr

import cthulhu
from cthulhu import layers as L
from cthulhu.devices.dask_ import volume
from cthulhu.models import Pile, load_model

CHILD = textwrap.dedent("""
    import sys, time
    import cthulhu
    from cthulhu.devices.dask_ import volume
    from cthulhu.models import load_model

    real = volume.VolumeJob.run_block

    def slow(self, block):
        time.sleep(0.1)  # slow enough that the kill lands in the middle of the run
        return real(self, block)

    volume.VolumeJob.run_block = slow
    model = load_model(sys.argv[1])
    cthulhu.predict_volume(model, sys.argv[2], sys.argv[3], block_shape=3, progress=False)
""")


def test_sigkill_midway_then_resume_is_bitwise_identical(tmp_path):
    model = Pile([L.InputLayer(input_shape=(None, None, None, 1)),
                  L.Cthalpa3D(2, 3, padding="same", activation="relu"),
                  L.Cthalpa3D(1, 3, strides=2, padding="same")])
    model.save(tmp_path / "model.cthulhu")
    model = load_model(tmp_path / "model.cthulhu")
    x = np.random.default_rng(3).standard_normal((15, 14, 13)).astype(np.float32)
    source = zarr.create_array(store=str(tmp_path / "in.zarr"), shape=x.shape, chunks=(6, 6, 6),
                               dtype="float32")
    source[...] = x
    target = tmp_path / "out.zarr"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(tmp_path / "model.cthulhu"),
                              str(tmp_path / "in.zarr"), str(target)])
    done_dir = target / volume.DONE_DIR
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if done_dir.is_dir() and len(os.listdir(done_dir)) >= 5:
                break
            assert child.poll() is None, "the child finished before it could be killed"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    recorded = len(os.listdir(done_dir))
    total = 3 * 3 * 3  # output 8x7x7 in blocks of 3
    assert 5 <= recorded < total
    assert dict(zarr.open_array(str(target)).attrs)["cthulhu"]["complete"] is False

    summary = cthulhu.predict_volume(model, str(tmp_path / "in.zarr"), target, block_shape=3,
                                     progress=False)
    assert summary["skipped"] == recorded and summary["computed"] == total - recorded
    cthulhu.predict_volume(model, str(tmp_path / "in.zarr"), tmp_path / "ref.zarr",
                           block_shape=3, progress=False)
    np.testing.assert_array_equal(zarr.open_array(str(target))[...],
                                  zarr.open_array(str(tmp_path / "ref.zarr"))[...])
    assert dict(zarr.open_array(str(target)).attrs)["cthulhu"]["complete"] is True
