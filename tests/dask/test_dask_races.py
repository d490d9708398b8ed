"""Real processes racing on one output: a run killed with SIGKILL, a second run (with or
without ``--overwrite``) started while one is running, a resume after the input was
re-exported. Each uses a real Zarr volume and the ``cthulhu`` command line."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from cthulhu import layers as L
from cthulhu.models import Pile

BLOCK = 3
TOTAL = 3 * 3 * 3  # output 8x7x7 (one stride-2 layer over 15x14x13) in blocks of 3

RUN_CLI = "import sys; from cthulhu.cli import main; sys.exit(main(sys.argv[1:]))"

CHILD = textwrap.dedent("""
    import os, sys, time
    from cthulhu.cli import main
    from cthulhu.blockwise import volume

    real = volume.VolumeJob.run_block
    hold = os.environ.get("HOLD_WHILE")

    def slow(self, block):
        time.sleep(float(sys.argv[1]))  # slow enough for the parent to act mid-run
        while hold and os.path.exists(hold):  # and held while the parent wants it running
            time.sleep(0.01)
        return real(self, block)

    volume.VolumeJob.run_block = slow
    sys.exit(main(sys.argv[2:]))
""")


def lock_file(target):
    target = Path(target).resolve()
    return target.parent / (target.name + ".cthulhu-lock")


def markers(target):
    """The block records of an unfinished output (one empty file per block written)."""
    return [p for p in (Path(target) / "cthulhu_done").glob("*/*") if p.is_file()]


def cli(*args):
    return subprocess.run([sys.executable, "-c", RUN_CLI, *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def start_slow(folder, target, delay, *extra, hold=None):
    script = folder / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, HOLD_WHILE=str(hold or ""))
    return subprocess.Popen([sys.executable, str(script), str(delay), "predict",
                             str(folder / "model.cthulhu"), "--input", str(folder / "in.zarr"),
                             "--output", str(target), "--block", str(BLOCK), "--no-progress",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def wait_for_markers(child, target, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (Path(target) / "cthulhu_done").is_dir() and len(markers(target)) >= count:
            return
        assert child.poll() is None, f"the child ended early: {child.communicate()}"
        time.sleep(0.01)
    raise AssertionError("the child made no progress")


def _text(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def write_input(path, x):
    array = zarr.create_array(store=str(path), shape=x.shape, chunks=(6, 6, 6), dtype="float32")
    array[...] = x


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A folder with a model, an input, a reference output and an output whose run was
    killed with SIGKILL midway (its lock file left behind, as a kill leaves it)."""
    folder = tmp_path_factory.mktemp("killed")
    model = Pile([L.InputLayer(input_shape=(None, None, None, 1)),
                  L.Cthalpa3D(2, 3, padding="same", activation="relu"),
                  L.Cthalpa3D(1, 3, strides=2, padding="same")])
    model.save(folder / "model.cthulhu")
    x = np.random.default_rng(3).standard_normal((15, 14, 13)).astype(np.float32)
    write_input(folder / "in.zarr", x)
    target = folder / "out.zarr"
    child = start_slow(folder, target, 0.1)
    try:
        wait_for_markers(child, target, 5)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert lock_file(target).exists()  # a kill leaves the lock: it must be found stale
    done = cli("predict", folder / "model.cthulhu", "--input", folder / "in.zarr", "--output",
               folder / "ref.zarr", "--block", BLOCK, "--no-progress")
    assert done.returncode == 0, done.stderr
    return folder, x


def copy_of(killed, tmp_path):
    folder, x = killed
    for name in ("model.cthulhu", "in.zarr", "ref.zarr", "out.zarr", "out.zarr.cthulhu-lock"):
        src, dst = folder / name, tmp_path / name
        shutil.copytree(src, dst) if src.is_dir() else shutil.copy2(src, dst)
    return tmp_path, x


def test_sigkill_then_resume_takes_over_the_lock_and_is_bitwise_identical(killed, tmp_path):
    folder, _ = copy_of(killed, tmp_path)
    target = folder / "out.zarr"
    recorded = len(markers(target))
    assert 5 <= recorded < TOTAL
    assert dict(zarr.open_array(str(target)).attrs)["cthulhu"]["complete"] is False
    done = cli("predict", folder / "model.cthulhu", "--input", folder / "in.zarr", "--output",
               target, "--block", BLOCK, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "stale lock" in done.stderr and "taking it over" in done.stderr
    assert f"{TOTAL - recorded} blocks computed, {recorded} already done" in done.stdout
    np.testing.assert_array_equal(zarr.open_array(str(target))[...],
                                  zarr.open_array(str(folder / "ref.zarr"))[...])
    assert dict(zarr.open_array(str(target)).attrs)["cthulhu"]["complete"] is True
    leftovers = [p for p in target.rglob("*") if p.is_file() and p.name != "zarr.json"
                 and not p.relative_to(target).parts[0] == "c"]
    assert leftovers == [] and not list(target.rglob("*.partial"))
    assert not lock_file(target).exists()


def test_resume_after_the_input_was_re_exported_is_refused(killed, tmp_path):
    folder, x = copy_of(killed, tmp_path)
    target = folder / "out.zarr"
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    changed = x.copy()
    changed[12:] *= -1
    shutil.rmtree(folder / "in.zarr")
    write_input(folder / "in.zarr", changed)  # same path, shape and dtype
    done = cli("predict", folder / "model.cthulhu", "--input", folder / "in.zarr", "--output",
               target, "--block", BLOCK, "--no-progress")
    assert done.returncode == 2
    err = done.stderr.strip().splitlines()[-1]
    assert err.startswith("cthulhu predict: error: ") and "changed" in err and "c/2/" in err
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before


def test_a_second_run_while_one_runs_is_refused_whatever_the_flags(killed, tmp_path):
    folder, _ = copy_of(killed, tmp_path)
    target = folder / "out.zarr"
    # The first run is a resume of the killed run (it takes over the stale lock), held
    # mid-run while the file `hold` exists ...
    hold = folder / "hold"
    hold.touch()
    child = start_slow(folder, target, 0.0, hold=hold)
    try:
        deadline = time.monotonic() + 60
        while f'"pid": {child.pid},' not in _text(lock_file(target)):
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.01)
        # ... and an overwrite, a plain rerun and a run on another spelling of the same
        # output all arrive while it runs.
        spelled = folder / "in.zarr" / ".." / "out.zarr"
        for out, extra in ((target, ["--overwrite"]), (target, []), (spelled, ["--overwrite"])):
            done = cli("predict", folder / "model.cthulhu", "--input", folder / "in.zarr",
                       "--output", out, "--block", BLOCK, "--no-progress", *extra)
            assert done.returncode == 2, done.stdout
            line = done.stderr.strip()
            assert "\n" not in line and "in use" in line and str(child.pid) in line
        assert child.poll() is None  # the running job was not disturbed
        hold.unlink()
    finally:
        stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 0, stderr
    np.testing.assert_array_equal(zarr.open_array(str(target))[...],
                                  zarr.open_array(str(folder / "ref.zarr"))[...])
    assert dict(zarr.open_array(str(target)).attrs)["cthulhu"]["complete"] is True
    assert not lock_file(target).exists()
