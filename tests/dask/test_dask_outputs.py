"""predict_volume never destroys what is not its own output, locks its output, and
refuses to resume from an input whose content changed.

Every test here works on real Zarr/HDF5/.npy files and checks the user's data
byte for byte after a refusal.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr

import cthulhu
from cthulhu import layers as L
from cthulhu.blockwise import digest, job, volume
from cthulhu.models import Pile


def small_model(seed=7):
    model = Pile([L.InputLayer(input_shape=(None, None, None, 1)),
                  L.Cthalpa3D(2, 3, padding="same", activation="relu"),
                  L.Cthalpa3D(1, 3, padding="same")], name="two_convs")
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.4
                       for w in model.get_weights()])
    return model


@pytest.fixture
def vol(rng):
    return rng.standard_normal((9, 8, 7)).astype(np.float32)


def write_zarr(path, x, chunks=(4, 4, 4)):
    array = zarr.create_array(store=str(path), shape=x.shape, chunks=chunks, dtype=x.dtype,
                              overwrite=True)
    array[...] = x
    return str(path)


def snapshot(path):
    """Every file under ``path`` (or the file itself) with its bytes: the user's data."""
    path = Path(path)
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(path.rglob("*"))}


def lock_file(target):
    target = Path(target).resolve()
    return target.parent / (target.name + ".cthulhu-lock")


def fail_after(monkeypatch, count):
    """Make the ``count``-th block raise, as a crash would (the run stops unfinished)."""
    real = volume.VolumeJob.run_block
    calls = []

    def failing(self, block):
        if len(calls) == count:
            raise RuntimeError("simulated crash")
        calls.append(block)
        return real(self, block)

    monkeypatch.setattr(volume.VolumeJob, "run_block", failing)
    return real


def run(model, source, target, **kw):
    kw.setdefault("block_shape", 4)
    kw.setdefault("progress", False)
    return cthulhu.predict_volume(model, source, target, **kw)


# ---------------------------------------------------------------- ownership


@pytest.mark.parametrize("case", ["folder", "empty_folder", "file", "foreign_zarr",
                                  "ours_plus_user_file", "ours_plus_user_chunk_dir_file"])
def test_overwrite_refuses_anything_that_is_not_a_cthulhu_output(tmp_path, vol, case):
    model = small_model()
    source = write_zarr(tmp_path / "in.zarr", vol)
    target = tmp_path / "notes"
    if case == "folder":
        target.mkdir()
        (target / "thesis.tex").write_text("years of work")
        (target / "sub").mkdir()
        (target / "sub" / "data.csv").write_text("1,2,3")
    elif case == "empty_folder":
        target.mkdir()
    elif case == "file":
        target.write_text("precious")
    elif case == "foreign_zarr":
        write_zarr(target, vol)
        zarr.open_array(str(target), mode="r+").attrs["owner"] = "someone else"
    else:  # a finished cthulhu output in which the user put a file of their own
        run(model, source, target)
        where = target if case == "ours_plus_user_file" else target / "c"
        (where / "README").write_text("my notes about this segmentation")
    before = snapshot(target)
    with pytest.raises(FileExistsError) as info:
        run(model, source, target, overwrite=True)
    message = str(info.value)
    assert str(target) in message and "\n" not in message
    assert "not" in message and "cthulhu" in message
    assert snapshot(target) == before
    assert not lock_file(target).exists()


def test_overwrite_replaces_a_cthulhu_output_and_its_marker_is_explicit(tmp_path, vol):
    model = small_model()
    source = write_zarr(tmp_path / "in.zarr", vol)
    target = tmp_path / "out.zarr"
    run(model, source, target, block_shape=4)
    info = dict(zarr.open_array(str(target)).attrs)["cthulhu"]
    assert info["format"] == "cthulhu.predict_volume" and info["format_version"] == 1
    run(model, source, target, block_shape=3, overwrite=True)
    assert zarr.open_array(str(target)).chunks == (3, 3, 3)
    expected = model.predict(vol[None, ..., None])[0, ..., 0]
    np.testing.assert_allclose(zarr.open_array(str(target))[...], expected, rtol=1e-5, atol=1e-5)


def test_overwrite_accepts_an_output_of_the_previous_release(tmp_path, vol):
    # Outputs written before the format marker existed carry these keys and nothing else.
    model = small_model()
    source = write_zarr(tmp_path / "in.zarr", vol)
    target = tmp_path / "old.zarr"
    run(model, source, target)
    out = zarr.open_array(str(target), mode="r+")
    old = {k: v for k, v in dict(out.attrs)["cthulhu"].items()
           if k in ("model_name", "model_config", "source", "block_shape", "halo",
                    "fingerprint", "complete")}
    old["complete"] = False
    out.attrs["cthulhu"] = old
    (target / volume.DONE_DIR).mkdir()
    with pytest.raises(FileExistsError, match="older"):  # cannot resume: no content record
        run(model, source, target)
    run(model, source, target, overwrite=True)
    assert dict(zarr.open_array(str(target)).attrs)["cthulhu"]["complete"] is True


@pytest.mark.parametrize("case", ["same", "same_other_spelling", "symlink", "inside",
                                  "contains", "npy_same", "h5_same"])
def test_output_that_is_or_overlaps_the_input_is_refused(tmp_path, vol, case):
    model = small_model()
    (tmp_path / "data").mkdir()
    source = write_zarr(tmp_path / "data" / "in.zarr", vol)
    protected = Path(source)
    if case == "same":
        target = Path(source)
    elif case == "same_other_spelling":
        target = tmp_path / "data" / ".." / "data" / "in.zarr"
    elif case == "symlink":
        target = tmp_path / "link.zarr"
        target.symlink_to(Path(source))
    elif case == "inside":
        target = Path(source) / "predictions"
    elif case == "contains":
        target = tmp_path / "data"
    elif case == "npy_same":
        np.save(tmp_path / "in.npy", vol)
        source = protected = target = tmp_path / "in.npy"
    else:
        with h5py.File(tmp_path / "in.h5", "w") as handle:
            handle.create_dataset("raw", data=vol)
        protected = target = tmp_path / "in.h5"
        source = f"{target}:raw"
    before = snapshot(protected)
    for overwrite in (False, True):
        with pytest.raises(ValueError) as info:
            run(model, source, target, overwrite=overwrite)
        message = str(info.value)
        assert "input" in message and str(target) in message and "\n" not in message
    assert snapshot(protected) == before
    assert not (Path(source) / "predictions").exists()
    assert not lock_file(target).exists()


# ---------------------------------------------------------------- lock


def forge_lock(target, **fields):
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2024-01-01T00:00:00",
              "boot_id": _boot_id()}
    record.update(fields)
    lock_file(target).write_text(json.dumps(record))
    return lock_file(target)


def _boot_id():
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def finished_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_live_lock_refuses_any_second_run(tmp_path, vol, overwrite):
    model = small_model()
    source = write_zarr(tmp_path / "in.zarr", vol)
    target = tmp_path / "out.zarr"
    run(model, source, target)
    before = snapshot(target)
    lock = forge_lock(target)  # this very process: alive, on this host
    with pytest.raises(OSError) as info:
        run(model, source, target, overwrite=overwrite)
    message = str(info.value)
    assert "in use" in message and str(os.getpid()) in message and str(lock) in message
    assert snapshot(target) == before and lock.exists()


def test_a_lock_from_another_host_is_refused_with_how_to_clear_it(tmp_path, vol):
    model = small_model()
    source = write_zarr(tmp_path / "in.zarr", vol)
    target = tmp_path / "out.zarr"
    lock = forge_lock(target, host="some-other-node", pid=12345)
    held = lock.read_text()
    with pytest.raises(OSError) as info:
        run(model, source, target)
    message = str(info.value)
    assert "some-other-node" in message and "12345" in message
    assert f"delete {lock}" in message
    assert lock.read_text() == held and not target.exists()


@pytest.mark.parametrize("why", ["dead_pid", "rebooted"])
def test_a_stale_lock_on_this_host_is_taken_over_saying_so(tmp_path, vol, why):
    model = small_model()
    source = write_zarr(tmp_path / "in.zarr", vol)
    target = tmp_path / "out.zarr"
    if why == "dead_pid":
        forge_lock(target, pid=finished_pid())
    else:
        if _boot_id() is None:
            pytest.skip("no boot id on this system")
        forge_lock(target, boot_id="00000000-0000-0000-0000-000000000000")
    with pytest.warns(cthulhu.blockwise.StaleLockWarning, match="stale lock"):
        summary = run(model, source, target)
    assert summary["computed"] == summary["blocks"]
    assert not lock_file(target).exists()  # released at the end
    assert not [p for p in tmp_path.iterdir() if "cthulhu-lock" in p.name]


def test_lock_is_released_on_error_and_keyboard_interrupt_after_running_blocks_end(
        tmp_path, vol, monkeypatch):
    model = small_model()
    source = write_zarr(tmp_path / "in.zarr", vol)
    target = tmp_path / "out.zarr"
    real = volume.VolumeJob.run_block
    active, seen_after = [0], []
    guard = threading.Lock()
    calls = [0]

    def interrupted(self, block):
        with guard:
            calls[0] += 1
            n = calls[0]
            active[0] += 1
        try:
            if n == 3:
                raise KeyboardInterrupt
            time.sleep(0.05)
            return real(self, block)
        finally:
            with guard:
                active[0] -= 1

    monkeypatch.setattr(volume.VolumeJob, "run_block", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(model, source, target, block_shape=2, scheduler="threads")
    seen_after.append(active[0])
    assert seen_after == [0]  # no block was still writing when the lock went
    assert not lock_file(target).exists()
    info = dict(zarr.open_array(str(target)).attrs)["cthulhu"]
    assert info["complete"] is False


# ---------------------------------------------------------------- resume checks content


def _interrupted_output(tmp_path, model, source, monkeypatch, blocks_done=5):
    target = tmp_path / "out.zarr"
    real = fail_after(monkeypatch, blocks_done)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(model, source, target, scheduler="synchronous")
    monkeypatch.setattr(volume.VolumeJob, "run_block", real)
    return target


@pytest.mark.parametrize("kind", ["zarr", "zarr_missing_chunk", "npy", "hdf5"])
def test_resume_refuses_an_input_whose_content_changed(tmp_path, vol, monkeypatch, kind):
    model = small_model()
    monkeypatch.setattr(digest, "SLAB_BYTES", 3 * 8 * 7 * 4)  # slabs of three rows
    if kind.startswith("zarr"):
        source = write_zarr(tmp_path / "in.zarr", vol)
    elif kind == "npy":
        np.save(tmp_path / "in.npy", vol)
        source = str(tmp_path / "in.npy")
    else:
        with h5py.File(tmp_path / "in.h5", "w") as handle:
            handle.create_dataset("raw", data=vol, chunks=(3, 3, 3))
        source = f"{tmp_path / 'in.h5'}:raw"
    target = _interrupted_output(tmp_path, model, source, monkeypatch)
    before = snapshot(target)
    changed = vol.copy()
    changed[-2:] += 1.0  # a re-exported scan: same path, shape and dtype, new content
    if kind == "zarr":
        write_zarr(tmp_path / "in.zarr", changed)
    elif kind == "zarr_missing_chunk":
        os.remove(tmp_path / "in.zarr" / "c" / "2" / "1" / "1")  # now reads as zeros
    elif kind == "npy":
        np.save(tmp_path / "in.npy", changed)
    else:
        with h5py.File(tmp_path / "new.h5", "w") as handle:  # exported anew, moved in place
            handle.create_dataset("raw", data=changed, chunks=(3, 3, 3))
        os.replace(tmp_path / "new.h5", tmp_path / "in.h5")
    with pytest.raises(ValueError) as info:
        run(model, source, target, scheduler="synchronous")
    message = str(info.value)
    assert "changed" in message and str(target) in message and "\n" not in message
    if kind == "zarr":  # names the stored chunks that differ: rows 7-8 lie in c/1/.. and c/2/..
        assert "changed: c/1/0/0, c/1/0/1, c/1/1/0, c/1/1/1 and 4 more" in message
    elif kind == "zarr_missing_chunk":
        assert "removed: c/2/1/1" in message
    else:
        assert "changed: [6:9] along the first axis" in message  # one slab of three rows
    assert snapshot(target) == before
    # The refusal says how to start again; doing so gives the new input's result.
    if kind == "zarr_missing_chunk":
        changed = vol.copy()
        changed[8:, 4:8, 4:7] = 0
    run(model, source, target, overwrite=True)
    expected = model.predict(changed[None, ..., None])[0, ..., 0]
    np.testing.assert_allclose(zarr.open_array(str(target))[...], expected, rtol=1e-5, atol=1e-5)


def test_resume_names_what_differs_besides_content(tmp_path, vol, monkeypatch):
    model = small_model()
    source = write_zarr(tmp_path / "in.zarr", vol)
    target = _interrupted_output(tmp_path, model, source, monkeypatch)
    with pytest.raises(FileExistsError, match="model weights"):
        run(small_model(seed=8), source, target)
    with pytest.raises(FileExistsError, match="block shape"):
        run(model, source, target, block_shape=3)
    summary = run(model, source, target)
    assert summary["skipped"] == 5


# ---------------------------------------------------------------- durability


def test_a_block_is_recorded_only_after_its_chunk_files_and_folders_are_fsynced(
        tmp_path, vol, monkeypatch):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name fsynced descriptors")
    model = small_model()
    source = write_zarr(tmp_path / "in.zarr", vol)
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
        batch, ranges = block
        key = "c/" + "/".join(str(start // 4) for start, _ in ranges)
        chunk = target / key
        assert chunk.is_file()  # every block's chunk is a file, zeros included
        for path in [chunk, *[p for p in chunk.parents if p == target or target in p.parents]]:
            assert str(path) in synced, f"{path} not fsynced before the block's record"
        checked.append(block)
        return real_record(volume_job, block)

    monkeypatch.setattr(job, "_record", checking_record)
    run(model, source, target, scheduler="synchronous")
    assert len(checked) == 3 * 2 * 2
    # "complete" is written after the last record: a new zarr.json, fsynced, renamed
    # into place, then its folder fsynced.
    last = max(i for i, path in enumerate(synced) if path == str(target / "c" / "2" / "1"))
    after = synced[last + 1:]
    temp = [i for i, path in enumerate(after) if Path(path).name.startswith(".zarr.json.")]
    assert temp and str(target) in after[temp[-1] + 1:]
    attrs = json.loads((target / "zarr.json").read_text())["attributes"]["cthulhu"]
    assert attrs["complete"] is True


def test_a_finished_output_holds_only_zarr_files(tmp_path, vol):
    model = small_model()
    # All-zero output (ReLU of a negative bias): every chunk is still written, so that a
    # recorded block always has its file on disk.
    model.layers[-1].set_weights([np.zeros_like(model.layers[-1].get_weights()[0]),
                                  np.full((1,), -1.0, np.float32)])
    model = Pile([*model.layers, L.Azatoth("relu")])
    source = write_zarr(tmp_path / "in.zarr", vol)
    target = tmp_path / "out.zarr"
    run(model, source, target)
    names = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    chunks = {f"c/{i}/{j}/{k}" for i in range(3) for j in range(2) for k in range(2)}
    assert names == {"zarr.json"} | chunks
    assert not lock_file(target).exists()


# ---------------------------------------------------------------- bad input, nothing written


@pytest.mark.parametrize("case", ["empty", "complex", "text", "bad_scheduler", "bad_dtype"])
def test_bad_input_creates_nothing(tmp_path, vol, case):
    model = small_model()
    source, kw = write_zarr(tmp_path / "in.zarr", vol), {}
    error, words = ValueError, ""
    if case == "empty":
        source, words = write_zarr(tmp_path / "empty.zarr", np.zeros((0, 8, 7), np.float32)), \
            "empty"
    elif case == "complex":
        source = write_zarr(tmp_path / "c.zarr", vol.astype(np.complex64))
        error, words = TypeError, "complex64"
    elif case == "text":
        np.save(tmp_path / "s.npy", np.full((4, 4, 4), "a"))
        source, error, words = str(tmp_path / "s.npy"), TypeError, "<U1"
    elif case == "bad_scheduler":
        kw["scheduler"], words = "thread", "scheduler 'thread'"
    else:
        kw["dtype"], words = "int8", "dtype"
    target = tmp_path / "out.zarr"
    with pytest.raises(error, match=words):
        run(model, source, target, **kw)
    assert not target.exists() and not lock_file(target).exists()


@pytest.mark.slow
def test_an_unreachable_cluster_creates_nothing(tmp_path, vol):
    # The connection is made before the output or its lock exist (it takes its 10 s timeout).
    source = write_zarr(tmp_path / "in.zarr", vol)
    target = tmp_path / "sub" / "out.zarr"
    with pytest.raises(OSError, match="cannot reach the Dask scheduler"):
        run(small_model(), source, target, scheduler="tcp://127.0.0.1:1")
    assert not (tmp_path / "sub").exists()
