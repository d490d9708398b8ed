"""``cthulhu predict`` and the built-in demo: results, summary, progress line, error lines."""


import numpy as np
import pytest
import zarr

from cthulhu.cli import main
from cthulhu.cli.predict import example_model, parse_block


@pytest.fixture
def files(tmp_path):
    model = example_model()
    model.save(tmp_path / "model.cthulhu")
    x = np.random.default_rng(2).standard_normal((12, 10, 9)).astype(np.float32)
    array = zarr.create_array(store=str(tmp_path / "in.zarr"), shape=x.shape, chunks=(5, 5, 5),
                              dtype="float32")
    array[...] = x
    return tmp_path, model, x


def test_predict_command_writes_the_result_and_one_summary_line(files, capsys):
    folder, model, x = files
    code = main(["predict", str(folder / "model.cthulhu"), "--input", str(folder / "in.zarr"),
                 "--output", str(folder / "out.zarr"), "--block", "6,5,5"])
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert "blocks computed" in lines[0] and "(12, 10, 9)" in lines[0]
    assert [line.split(": ")[1].split(" ")[0] for line in lines[1:]] == ["open", "view", "view"]
    assert "napari" in out and "neuroglancer" in out
    assert err == ""  # no progress line when stderr is not a terminal
    result = zarr.open_array(str(folder / "out.zarr"))
    assert result.chunks == (6, 5, 5)
    np.testing.assert_allclose(result[...], model.predict(x[None, ..., None])[0, ..., 0],
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["exists", "missing_input", "bad_model", "missing_model",
                                  "rank", "halo", "bad_block", "empty", "complex",
                                  "bad_scheduler", "overwrite_folder", "output_is_input"])
def test_predict_command_bad_input_is_one_line_exit_2(files, capsys, case):
    folder, _, x = files
    model, source = str(folder / "model.cthulhu"), str(folder / "in.zarr")
    target, block, extra = folder / "out.zarr", "8", []
    if case == "empty":
        zarr.create_array(store=str(folder / "empty.zarr"), shape=(0, 10, 9), chunks=(5, 5, 5),
                          dtype="float32")
        source = str(folder / "empty.zarr")
    elif case == "complex":
        array = zarr.create_array(store=str(folder / "c.zarr"), shape=x.shape, chunks=(5, 5, 5),
                                  dtype="complex64")
        array[...] = x + 1j
        source = str(folder / "c.zarr")
    elif case == "bad_scheduler":
        extra = ["--scheduler", "foo"]
    elif case == "overwrite_folder":
        target = folder / "notes"
        target.mkdir()
        (target / "todo.txt").write_text("keep me")
        extra = ["--overwrite"]
    elif case == "output_is_input":
        target, extra = folder / "in.zarr", ["--overwrite"]
    elif case == "exists":
        target.mkdir()
    elif case == "missing_input":
        source = str(folder / "missing.zarr")
    elif case == "bad_model":
        (folder / "junk.cthulhu").write_bytes(b"not a model")
        model = str(folder / "junk.cthulhu")
    elif case == "missing_model":
        model = str(folder / "missing.cthulhu")
    elif case == "rank":
        np.save(folder / "x2d.npy", x[0])
        source = str(folder / "x2d.npy")
    elif case == "halo":
        block = "2"
    else:
        block = "8,x"
    code = main(["predict", model, "--input", source, "--output", str(target), "--block", block,
                 *extra])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == "" and err.count("\n") == 1 and err.startswith("cthulhu predict: error: ")
    assert "Errno" not in err and "Traceback" not in err
    assert not (folder / "out.zarr.cthulhu-lock").exists()
    if case == "exists":
        assert list(target.iterdir()) == []
    elif case == "overwrite_folder":
        assert [p.name for p in target.iterdir()] == ["todo.txt"]
        assert (target / "todo.txt").read_text() == "keep me" and str(target) in err
    elif case == "output_is_input":
        np.testing.assert_array_equal(zarr.open_array(source)[...], x)
    else:
        assert not target.exists()


def test_parse_block():
    assert parse_block("64") == 64
    assert parse_block("64,32,16") == (64, 32, 16)
