"""Progress: a tqdm bar within 80 columns, Jupyter, Dask's own bars, the dashboard link."""

import io
import re

import numpy as np
import pytest
import zarr

import cthulhu
from cthulhu.blockwise import progress as progress_module
from cthulhu.blockwise.progress import Progress, format_seconds
from cthulhu.cli.predict import example_model


def _redraws(text):
    return [part.rstrip("\n") for part in re.split(r"[\r\n]", text) if part.strip()]


def test_bar_counts_blocks_with_throughput_and_fits_80_columns():
    stream = io.StringIO()
    bar = Progress(10, voxels_per_block=1e6, stream=stream, enabled=True, rate=1e9,
                   done_before=3)
    for _ in range(4):
        bar.update()
    assert "7/13 blocks" in bar.line() and "Mvox/s" in bar.line()
    bar.close()
    drawn = _redraws(stream.getvalue())
    assert drawn[0].lstrip().startswith("23%") and "3/13 blocks" in drawn[0]  # starts at the resume
    assert "7/13 blocks" in drawn[-1]
    assert all(len(line) <= 80 for line in drawn), [len(line) for line in drawn]
    assert stream.getvalue().endswith("\n")
    assert format_seconds(3725) == "1:02:05" and format_seconds(65) == "1:05"


def test_bar_draws_only_on_a_terminal_or_in_jupyter(monkeypatch):
    quiet = io.StringIO()
    bar = Progress(3, stream=quiet)  # not a terminal: nothing
    bar.update()
    bar.close()
    assert quiet.getvalue() == "" and not bar.enabled
    shown = io.StringIO()
    monkeypatch.setattr("sys.stderr", shown)
    monkeypatch.setattr(progress_module, "in_notebook", lambda: True)
    bar = Progress(3)
    bar.update()
    bar.close()
    assert bar.enabled and "1/3 blocks" in shown.getvalue()


def test_in_notebook_is_false_outside_a_kernel():
    assert progress_module.in_notebook() is False


def test_predict_volume_with_dasks_own_progress_bar(tmp_path, capsys):
    model = example_model(width=2)
    x = np.random.default_rng(0).standard_normal((12, 10, 9)).astype(np.float32)
    cthulhu.predict_volume(model, x, tmp_path / "out.zarr", block_shape=6, progress="dask",
                           scheduler="synchronous")
    err = capsys.readouterr().err
    assert "100% Completed" in err  # dask.diagnostics.ProgressBar
    np.testing.assert_allclose(zarr.open_array(str(tmp_path / "out.zarr"))[...],
                               model.predict(x[None, ..., None])[0, ..., 0],
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad", ["tqdm", 2, "bar"])
def test_bad_progress_argument_is_refused_before_anything_is_written(tmp_path, bad):
    with pytest.raises(ValueError, match="progress must be"):
        cthulhu.predict_volume(example_model(width=2), np.zeros((4, 4, 4), np.float32),
                               tmp_path / "out.zarr", progress=bad)
    assert not (tmp_path / "out.zarr").exists()


def test_cluster_run_prints_the_dashboard_link_and_runs_dasks_bar(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    model = example_model(width=2)
    x = np.random.default_rng(1).standard_normal((10, 9, 8)).astype(np.float32)
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        link = client.dashboard_link
        cthulhu.predict_volume(model, x, tmp_path / "a.zarr", block_shape=5, scheduler=client)
        first = capsys.readouterr()
        cthulhu.predict_volume(model, x, tmp_path / "b.zarr", block_shape=5, scheduler=client,
                               progress="dask")
        second = capsys.readouterr()
        cthulhu.predict_volume(model, x, tmp_path / "c.zarr", block_shape=5, scheduler=client,
                               progress=False)
        third = capsys.readouterr()
    assert f"Dask dashboard at {link}" in first.err
    assert f"Dask dashboard at {link}" in second.err and "100% Completed" in second.out
    assert "dashboard" not in third.err
    expected = model.predict(x[None, ..., None])[0, ..., 0]
    for name in "abc":
        np.testing.assert_allclose(zarr.open_array(str(tmp_path / f"{name}.zarr"))[...],
                                   expected, rtol=1e-5, atol=1e-5)
