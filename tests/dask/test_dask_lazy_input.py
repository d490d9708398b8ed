"""A lazy Dask array as predict_volume's input: computed once, chunk by chunk, never whole."""

import json
import subprocess
import sys
import textwrap
import threading

import dask.array as da
import numpy as np
import pytest
import zarr

import cthulhu
from cthulhu.blockwise import volume
from cthulhu.cli.predict import example_model


class Counting:
    """A map_blocks function that records the shape of every chunk it computes."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, block, block_info=None):
        with self.lock:
            self.calls.append(tuple(block_info[0]["chunk-location"]))
        return block * 2 + 1


def test_lazy_input_computes_each_chunk_about_once_and_is_exact(tmp_path):
    model = example_model(width=2)
    x = np.random.default_rng(0).standard_normal((24, 20, 18)).astype(np.float32)
    counting = Counting()
    lazy = da.from_array(x, chunks=(8, 10, 9)).map_blocks(counting, dtype=np.float32)
    chunks = 3 * 2 * 2
    summary = cthulhu.predict_volume(model, lazy, tmp_path / "out.zarr", block_shape=(8, 10, 9),
                                     progress=False)
    assert summary["blocks"] == chunks
    # the chunk cache holds every chunk here: each computed once, none twice, never the whole
    assert sorted(counting.calls) == sorted(set(counting.calls)) and len(counting.calls) == chunks
    np.testing.assert_allclose(zarr.open_array(str(tmp_path / "out.zarr"))[...],
                               model.predict((x * 2 + 1)[None, ..., None])[0, ..., 0],
                               rtol=1e-5, atol=1e-5)
    info = dict(zarr.open_array(str(tmp_path / "out.zarr")).attrs)["cthulhu"]
    assert info["source"] == f"dask.array<{lazy.name}>" and info["input_digest"] is None


def test_irregular_lazy_chunks_still_read_only_each_blocks_region(tmp_path):
    model = example_model(width=2)
    x = np.random.default_rng(1).standard_normal((15, 12, 10)).astype(np.float32)
    lazy = da.from_array(x, chunks=((4, 7, 4), (6, 6), (5, 5)))
    cthulhu.predict_volume(model, lazy, tmp_path / "out.zarr", block_shape=5, progress=False)
    np.testing.assert_allclose(zarr.open_array(str(tmp_path / "out.zarr"))[...],
                               model.predict(x[None, ..., None])[0, ..., 0],
                               rtol=1e-5, atol=1e-5)


def test_unfinished_output_of_a_lazy_input_is_not_resumed(tmp_path, monkeypatch):
    model = example_model(width=2)
    x = np.random.default_rng(2).standard_normal((12, 10, 10)).astype(np.float32)
    lazy = da.from_array(x, chunks=5)
    real = volume.VolumeJob.run_block
    calls = []

    def failing(self, block):
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        calls.append(block)
        return real(self, block)

    monkeypatch.setattr(volume.VolumeJob, "run_block", failing)
    with pytest.raises(RuntimeError):
        cthulhu.predict_volume(model, lazy, tmp_path / "out.zarr", block_shape=5,
                               progress=False, scheduler="synchronous")
    monkeypatch.setattr(volume.VolumeJob, "run_block", real)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for again in (lazy, x):  # neither the lazy input nor a stored copy may resume it
        with pytest.raises(FileExistsError, match="cannot be resumed.*lazy Dask array"):
            cthulhu.predict_volume(model, again, tmp_path / "out.zarr", progress=False)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    cthulhu.predict_volume(model, lazy, tmp_path / "out.zarr", overwrite=True, progress=False)
    np.testing.assert_allclose(zarr.open_array(str(tmp_path / "out.zarr"))[...],
                               model.predict(x[None, ..., None])[0, ..., 0],
                               rtol=1e-5, atol=1e-5)


CHILD = textwrap.dedent("""
    import json, resource, sys
    import dask.array as da
    import numpy as np
    import cthulhu
    from cthulhu.layers import Cthalpa3D, InputLayer
    from cthulhu.models import Pile

    model = Pile([InputLayer(input_shape=(None, None, None, 1)), Cthalpa3D(1, 3, padding="same")])
    model.predict(np.zeros((1, 20, 20, 20, 1), np.float32))  # warm up every code path
    lazy = da.from_zarr(sys.argv[1]) * 2 + 1 if sys.argv[3] == "lazy" else sys.argv[1]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cthulhu.predict_volume(model, lazy, sys.argv[2], block_shape=64, progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_mib": (after - before) / 1024}))
""")


@pytest.mark.slow
def test_lazy_input_memory_stays_near_the_stored_inputs(tmp_path):
    shape = (128, 512, 512)  # float32: 32 Mi voxels, 128 MiB; computing it whole needs more
    volume_mib = np.prod(shape) * 4 / 2**20
    source = zarr.create_array(store=str(tmp_path / "in.zarr"), shape=shape, chunks=(64,) * 3,
                               dtype="float32")
    rng = np.random.default_rng(0)
    for start in range(0, shape[0], 32):
        source[start:start + 32] = rng.standard_normal((32, *shape[1:]), dtype=np.float32)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    growth = {}
    for kind in ("lazy", "zarr"):
        done = subprocess.run([sys.executable, str(script), str(tmp_path / "in.zarr"),
                               str(tmp_path / f"{kind}.zarr"), kind], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        growth[kind] = json.loads(done.stdout.strip().splitlines()[-1])["growth_mib"]
    # before: the whole volume was computed to digest it (more than volume_mib at once)
    assert growth["lazy"] < volume_mib / 2, growth
    assert growth["lazy"] < growth["zarr"] + 32, growth
    for kind in ("lazy", "zarr"):
        assert dict(zarr.open_array(str(tmp_path / f"{kind}.zarr")).attrs)["cthulhu"]["complete"]
