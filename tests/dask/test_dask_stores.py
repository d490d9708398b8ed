"""Inputs and outputs in stores: file://, memory://, Zarr store objects, S3 (a local stand-in)."""

import json
import multiprocessing
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest
import zarr

import cthulhu
from cthulhu.blockwise import volume
from cthulhu.blockwise.places import output_place
from cthulhu.blockwise.storeoutput import StoreLock
from cthulhu.cli import main
from cthulhu.cli.predict import example_model

# documented at their old home too (cthulhu.devices.dask_.MOVED)
from cthulhu.devices.dask_ import InputChangedError, OutputInUseError, StaleLockWarning


@pytest.fixture
def model():
    return example_model(width=2)


@pytest.fixture
def vol():
    return np.random.default_rng(4).standard_normal((12, 10, 9)).astype(np.float32)


def expected(model, x):
    return model.predict(x[None, ..., None])[0, ..., 0]


def memory_url(name):
    return f"memory://cthulhu-{uuid.uuid4().hex[:8]}/{name}"


def write(url, x, **options):
    array = zarr.create_array(store=url, shape=x.shape, chunks=(5, 5, 5), dtype=x.dtype,
                              storage_options=options or None)
    array[...] = x
    return url


def keys_under(url):
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return sorted(k[len(path) + 1:] for k in fs.find(path))


def test_memory_urls_in_and_out(model, vol):
    source, target = write(memory_url("in.zarr"), vol), memory_url("out.zarr")
    summary = cthulhu.predict_volume(model, source, target, block_shape=5, progress=False)
    assert summary["blocks"] == summary["computed"] == 12
    # only this process sees a memory store: no viewer can open it
    assert summary.how_to_open() == [f"open it in Python: zarr.open_array({target!r})"]
    out = zarr.open_array(target)
    np.testing.assert_allclose(out[...], expected(model, vol), rtol=1e-5, atol=1e-5)
    info = dict(out.attrs)["cthulhu"]
    assert info["complete"] is True and info["source"] == source
    # what a finished output holds: its metadata and one chunk per block, nothing else
    assert keys_under(target) == sorted(["zarr.json"] + [f"c/{i}/{j}/{k}" for i in range(3)
                                                         for j in range(2) for k in range(2)])
    with pytest.raises(FileExistsError, match="already exists"):
        cthulhu.predict_volume(model, source, target, block_shape=5, progress=False)
    cthulhu.predict_volume(model, source, target, block_shape=4, overwrite=True, progress=False)
    assert zarr.open_array(target).chunks == (4, 4, 4)


def test_file_urls_are_local_paths_with_every_local_guarantee(tmp_path, model, vol, capsys):
    np.save(tmp_path / "in.npy", vol)
    model.save(tmp_path / "model.cthulhu")
    code = main(["predict", str(tmp_path / "model.cthulhu"), "--input",
                 (tmp_path / "in.npy").as_uri(), "--output", (tmp_path / "out.zarr").as_uri(),
                 "--block", "5", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "out.zarr" / "zarr.json").is_file()
    assert not any(p.name.startswith("file:") for p in tmp_path.iterdir())
    np.testing.assert_allclose(zarr.open_array(str(tmp_path / "out.zarr"))[...],
                               expected(model, vol), rtol=1e-5, atol=1e-5)


def test_store_objects_and_open_arrays_as_targets(tmp_path, model, vol):
    from zarr.storage import LocalStore, MemoryStore

    store = MemoryStore()
    cthulhu.predict_volume(model, vol, store, block_shape=6, progress=False)
    np.testing.assert_allclose(zarr.open_array(store)[...], expected(model, vol),
                               rtol=1e-5, atol=1e-5)
    # an open Zarr array names its place: one of ours resumes or is replaced, another is refused
    theirs = zarr.create_array(store=str(tmp_path / "theirs.zarr"), shape=(3,), dtype="f4")
    with pytest.raises(FileExistsError, match="not a cthulhu output"):
        cthulhu.predict_volume(model, vol, theirs, progress=False, overwrite=True)
    assert zarr.open_array(str(tmp_path / "theirs.zarr")).shape == (3,)
    ours = zarr.open_array(store)
    cthulhu.predict_volume(model, vol, ours, block_shape=4, progress=False, overwrite=True)
    assert zarr.open_array(store).chunks == (4, 4, 4)
    cthulhu.predict_volume(model, vol, LocalStore(str(tmp_path / "local.zarr")), progress=False)
    assert (tmp_path / "local.zarr" / "zarr.json").is_file()


@pytest.mark.parametrize("target", ["ftp://host/out.zarr", "http://127.0.0.1:1/out.zarr",
                                    "gopher://x/y"])
def test_outputs_where_no_atomic_create_exists_are_refused(model, vol, target):
    with pytest.raises(ValueError, match="cannot create an object atomically"):
        cthulhu.predict_volume(model, vol, target, progress=False)


def test_memory_output_needs_a_scheduler_in_this_process(model, vol):
    with pytest.raises(ValueError, match="lives in this process"):
        cthulhu.predict_volume(model, vol, memory_url("out.zarr"), scheduler="processes",
                               progress=False)


def test_output_overlapping_the_input_in_a_store_is_refused(model, vol):
    source = write(memory_url("in.zarr"), vol)
    for target in (source, source + "/inner", source.rsplit("/", 1)[0]):
        with pytest.raises(ValueError, match="overlaps the input"):
            cthulhu.predict_volume(model, source, target, overwrite=True, progress=False)
    np.testing.assert_array_equal(zarr.open_array(source)[...], vol)


def test_foreign_keys_in_a_store_output_are_never_deleted(model, vol):
    source, target = write(memory_url("in.zarr"), vol), memory_url("out.zarr")
    cthulhu.predict_volume(model, source, target, block_shape=5, progress=False)
    import fsspec

    fs, path = fsspec.core.url_to_fs(target)
    fs.pipe_file(path + "/notes.txt", b"mine")
    with pytest.raises(FileExistsError, match="'notes.txt', which cthulhu did not write"):
        cthulhu.predict_volume(model, source, target, overwrite=True, progress=False)
    assert fs.cat_file(path + "/notes.txt") == b"mine" and fs.exists(path + "/zarr.json")
    other = memory_url("plain")
    fs2, path2 = fsspec.core.url_to_fs(other)
    fs2.pipe_file(path2 + "/data.bin", b"x")
    with pytest.raises(FileExistsError, match="keys without zarr.json"):
        cthulhu.predict_volume(model, source, other, overwrite=True, progress=False)


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


def test_store_output_resumes_and_checks_the_input(model, vol, monkeypatch):
    source, target = write(memory_url("in.zarr"), vol), memory_url("out.zarr")
    real = _crash_after(monkeypatch, 5)
    with pytest.raises(RuntimeError, match="simulated crash"):
        cthulhu.predict_volume(model, source, target, block_shape=5, progress=False,
                               scheduler="synchronous")
    monkeypatch.setattr(volume.VolumeJob, "run_block", real)
    info = dict(zarr.open_array(target).attrs)["cthulhu"]
    assert info["complete"] is False
    records = [k for k in keys_under(target) if k.startswith(f"cthulhu_done/{info['generation']}/")]
    assert len(records) == 5
    assert output_place(target).objects.get(output_place(target).sibling(".cthulhu-lock")) is None
    changed = vol.copy()
    changed[11, 9, 8] += 1
    zarr.open_array(source, mode="r+")[...] = changed
    with pytest.raises(InputChangedError, match="changed: c/2/1/1"):
        cthulhu.predict_volume(model, source, target, progress=False)
    zarr.open_array(source, mode="r+")[...] = vol
    summary = cthulhu.predict_volume(model, source, target, progress=False)
    assert summary["skipped"] == 5 and summary["computed"] == 7
    np.testing.assert_allclose(zarr.open_array(target)[...], expected(model, vol),
                               rtol=1e-5, atol=1e-5)
    assert not [k for k in keys_under(target) if k.startswith("cthulhu_done")]


def _lock_record(pid, host=None):
    from cthulhu.blockwise.lock import _record

    record = _record()
    record.update(pid=pid, process_start=None)
    if host:
        record["host"] = host
    return json.dumps(record, sort_keys=True).encode()


def test_store_lock_refuses_a_live_run_takes_over_a_stale_one(model, vol):
    source, target = write(memory_url("in.zarr"), vol), memory_url("out.zarr")
    place = output_place(target)
    lock_key = place.sibling(".cthulhu-lock")
    place.objects.put(lock_key, _lock_record(os.getpid()))
    with pytest.raises(OutputInUseError, match="in use by another cthulhu run"):
        cthulhu.predict_volume(model, source, target, progress=False)
    place.objects.put(lock_key, _lock_record(1, host="elsewhere"))
    with pytest.raises(OutputInUseError, match="on host 'elsewhere'"):
        cthulhu.predict_volume(model, source, target, progress=False)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    place.objects.put(lock_key, _lock_record(int(done.stdout)))  # a pid that has exited
    with pytest.warns(StaleLockWarning, match="stale lock"):
        cthulhu.predict_volume(model, source, target, block_shape=5, progress=False)
    assert place.objects.get(lock_key) is None  # released at the end


def test_a_block_of_a_replaced_generation_writes_nothing(model, vol):
    from cthulhu.blockwise.storeoutput import StoreJob

    source, target = write(memory_url("in.zarr"), vol), memory_url("out.zarr")
    cthulhu.predict_volume(model, source, target, block_shape=5, progress=False)
    place = output_place(target)
    job = StoreJob(place, None, None, None, None, target, "float32", generation="0" * 32)
    assert job._generation_open() is False  # run_block checks this before it writes
    with pytest.raises(OSError, match="removed or replaced"):
        job._record_block((0, ((0, 5), (0, 5), (0, 5))))
    assert not [k for k in keys_under(target) if k.startswith("cthulhu_done")]


# ------------------------------------------------------------ S3, on a local stand-in


@pytest.fixture(scope="module")
def s3():
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    from tests.support.s3_standin import local_s3

    with local_s3() as options:
        yield options


def test_s3_in_and_out_with_resume(s3, model, vol, monkeypatch):
    source = write("s3://cthulhu-test/in.zarr", vol, **s3)
    target = "s3://cthulhu-test/out.zarr"
    real = _crash_after(monkeypatch, 4)
    with pytest.raises(RuntimeError):
        cthulhu.predict_volume(model, source, target, block_shape=5, progress=False,
                               scheduler="synchronous", storage_options=s3)
    monkeypatch.setattr(volume.VolumeJob, "run_block", real)
    summary = cthulhu.predict_volume(model, source, target, progress=False, storage_options=s3)
    assert summary["skipped"] == 4 and summary["computed"] == 8
    out = zarr.open_array(target, storage_options=s3)
    np.testing.assert_allclose(out[...], expected(model, vol), rtol=1e-5, atol=1e-5)
    import s3fs

    fs = s3fs.S3FileSystem(**s3)
    names = sorted(k.split("/", 1)[1] for k in fs.find("cthulhu-test/out.zarr"))
    assert "out.zarr/zarr.json" in names and not any("cthulhu_done" in n for n in names)
    assert not fs.exists("cthulhu-test/out.zarr.cthulhu-lock")


def test_cli_writes_an_s3_url_to_s3_not_a_local_folder(s3, model, vol, tmp_path, capsys,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    model.save(tmp_path / "model.cthulhu")
    np.save(tmp_path / "in.npy", vol)
    code = main(["predict", "model.cthulhu", "--input", "in.npy", "--output",
                 "s3://cthulhu-test/cli.zarr", "--block", "6", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert not (tmp_path / "s3:").exists()
    assert "zarr3://s3://cthulhu-test/cli.zarr" in out
    np.testing.assert_allclose(zarr.open_array("s3://cthulhu-test/cli.zarr",
                                               storage_options=s3)[...],
                               expected(model, vol), rtol=1e-5, atol=1e-5)


def _race(options, target, barrier, results):
    from cthulhu.blockwise.places import output_place as place_of

    lock = StoreLock(place_of(target, options))
    barrier.wait()
    try:
        lock.acquire()
    except OutputInUseError:
        results.put("refused")
    else:
        results.put("won")
    # The winner stays alive until every process has tried: a lock whose holder has
    # exited is stale and may rightly be taken (under load a late process saw that).
    barrier.wait()


def test_s3_lock_is_taken_by_exactly_one_of_several_processes(s3):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(3), context.Queue()
    target = f"s3://cthulhu-test/race-{uuid.uuid4().hex[:6]}.zarr"
    workers = [context.Process(target=_race, args=(s3, target, barrier, results))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    outcome = sorted(results.get(timeout=10) for _ in workers)
    assert outcome == ["refused"] * 2 + ["won"]
