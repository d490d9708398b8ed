"""``cthulhu demo``: one story that leaves a model and a volume to run ``cthulhu predict`` on."""

import io
import os
import re
import shlex

import numpy as np
import pytest
import zarr

from cthulhu.cli import main
from cthulhu.cli.demo import run_demo
from cthulhu.models import load_model


def test_demo_tells_the_story_and_its_next_command_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--size", "20", "--block", "10", "--no-progress"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "cthulhu-demo"
    for step in ("1/4", "2/4", "3/4", "4/4"):
        assert f"cthulhu demo: {step}" in out
    # the summary keeps every channel count; the shape table gives the halo
    assert "(None, None, None, None, 8)" in out and "halo (before, after):  (3, 3) x (3, 3) x (3, 3)" in out
    assert "8 blocks computed" in out and "(ok)" in out
    assert sorted(os.listdir(folder)) == ["cthulhu-demo.json", "model.cthulhu", "plan.svg",
                                          "prediction.zarr", "volume.zarr"]
    # the model the demo printed is the one it saved, and the next command is exact
    next_line = next(line for line in out.splitlines() if line.strip().startswith("cthulhu predict "))
    argv = shlex.split(next_line)
    assert main(argv[1:] + ["--no-progress"]) == 0
    again = capsys.readouterr().out
    assert "1 blocks computed" in again  # its own default block: 64, the whole 20^3 volume
    assert (folder / "my-plan.svg").is_file()
    model = load_model(folder / "model.cthulhu")
    volume = zarr.open_array(str(folder / "volume.zarr"))[...]
    mine = zarr.open_array(str(folder / "my-prediction.zarr"))[...]
    np.testing.assert_allclose(mine, model.predict(volume[None, ..., None])[0, ..., 0],
                               rtol=1e-5, atol=1e-5)
    assert re.search(r"view it in napari: .*prediction\.zarr", out)


def test_demo_runs_again_in_its_own_folder_and_leaves_yours_alone(tmp_path):
    folder = tmp_path / "demo"
    assert run_demo(folder, size=12, block=6, stream=io.StringIO(), progress=False) == 0
    (folder / "my-notes.txt").write_text("mine")
    stream = io.StringIO()
    assert run_demo(folder, size=14, block=7, stream=stream, progress=False) == 0
    assert "8 blocks computed" in stream.getvalue()
    assert (folder / "my-notes.txt").read_text() == "mine"
    assert zarr.open_array(str(folder / "volume.zarr")).shape == (14, 14, 14)


@pytest.mark.parametrize("case", ["foreign_folder", "changed_model", "foreign_volume",
                                  "foreign_prediction", "a_file"])
def test_demo_never_overwrites_a_users_files(tmp_path, capsys, case):
    folder = tmp_path / "demo"
    if case == "foreign_folder":
        folder.mkdir()
        (folder / "model.cthulhu").write_text("my model")
        kept = folder / "model.cthulhu"
    elif case == "a_file":
        folder.write_text("a file")
        kept = folder
    else:
        assert run_demo(folder, size=12, block=6, stream=io.StringIO(), progress=False) == 0
        name = {"changed_model": "model.cthulhu", "foreign_volume": "volume.zarr",
                "foreign_prediction": "prediction.zarr"}[case]
        kept = folder / name
        if case == "changed_model":
            kept.write_bytes(kept.read_bytes() + b"\n")
        else:
            extra = kept / "README.txt"
            extra.write_text("mine")
            kept = extra
    before = kept.read_bytes()
    code = main(["demo", "--folder", str(folder), "--size", "12", "--block", "6",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert kept.read_bytes() == before
