"""``read_keras`` in a child process (the default): the same answer as in-process reading,
and a file that makes libhdf5 loop forever, or a child that crashes, refused cleanly."""

from __future__ import annotations

import os
import stat
import sys
import time

import numpy as np
import pytest

from cthulhu.saving.keras import KerasFileError, read_keras
from tests.support.keras_fixture_index import FIXTURES

pytest.importorskip("h5py")

SAMPLES = ["keras3/unet3d.keras", "keras3/nested.h5", "keras3/unet3d_sharded.weights.json",
           "tfkeras/nested.weights.h5", "keras1/k1_lstm_gates.h5", "keras3/lambda_model.keras",
           "tfkeras/custom_model.json", "keras3/bf16_dense.keras"]


@pytest.mark.parametrize("name", SAMPLES)
def test_isolated_read_equals_in_process(name):
    path = FIXTURES / name
    child = read_keras(path)
    here = read_keras(path, isolate=False)
    for field in ("source", "format", "generation", "keras_version", "backend",
                  "model_config", "weight_names", "layer_order", "keyed_by",
                  "weights_converted", "code", "custom", "notes"):
        assert getattr(child, field) == getattr(here, field), field
    assert list(child.weights) == list(here.weights)
    for key, arrays in here.weights.items():
        for mine, theirs in zip(child.weights[key], arrays, strict=True):
            assert mine.dtype == theirs.dtype
            np.testing.assert_array_equal(mine, theirs)


def test_isolated_refusals_match_in_process(tmp_path):
    good = (FIXTURES / "keras3" / "resnet.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(good[: len(good) // 2])
    messages = []
    for isolate in (True, False):
        with pytest.raises(KerasFileError) as info:
            read_keras(tmp_path / "cut.keras", isolate=isolate)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    with pytest.raises(FileNotFoundError):
        read_keras(tmp_path / "nothing.h5")


def _heap_that_hangs_libhdf5(tmp_path):
    """A Keras 3 legacy .h5 whose first global-heap object is zeroed: libhdf5 then loops
    forever reading the model_config attribute (found by fuzzing the fixtures)."""
    data = bytearray((FIXTURES / "keras3" / "family_dense.h5").read_bytes())
    heap = data.find(b"GCOL")
    assert heap > 0
    data[heap + 16:heap + 80] = bytes(64)
    path = tmp_path / "hangs.h5"
    path.write_bytes(bytes(data))
    return path


def test_file_that_hangs_libhdf5_refused_by_timeout(tmp_path):
    path = _heap_that_hangs_libhdf5(tmp_path)
    start = time.monotonic()
    with pytest.raises(KerasFileError, match="did not finish in 3 s") as info:
        read_keras(path, timeout=3)
    assert time.monotonic() - start < 30
    assert "\n" not in str(info.value)


def test_crashed_child_refused(tmp_path, monkeypatch):
    # stand-in for libhdf5 crashing on a damaged file: the child dies of SIGSEGV
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\nkill -SEGV $$\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(sys, "executable", str(script))
    with pytest.raises(KerasFileError, match=r"died \(signal 11\)"):
        read_keras(FIXTURES / "keras3" / "tcn.h5")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_child_that_cannot_start_says_how_to_opt_out(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with pytest.raises(RuntimeError, match="isolate=False"):
        read_keras(FIXTURES / "keras3" / "tcn.h5")
