"""``cthulhu convert`` and ``cthulhu inspect`` on Keras files (and cthulhu's own)."""

from __future__ import annotations

import numpy as np
import pytest

from cthulhu.cli import main
from cthulhu.models import load_model
from tests.keras_files.test_keras_models import assert_like_keras
from tests.support.keras_fixture_index import FIXTURES, truth, truth_weights

pytest.importorskip("h5py")

TCN = FIXTURES / "tfkeras" / "tcn.h5"


def _tcn_truth():
    data = truth("tfkeras", "tcn.truth.npz")
    return data["input/0"], data["output/0"]


@pytest.mark.parametrize("suffix", [".cthulhu", ".keras", ".h5"])
def test_convert_a_keras_file_prints_summary_and_certificate(suffix, tmp_path, capsys):
    out = tmp_path / f"tcn{suffix}"
    assert main(["convert", str(TCN), str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'Model: "tcn"' in printed and "c3 (Cthalpa1D)" in printed
    assert "certificate check passed on numpy" in printed
    assert printed.rstrip().endswith(f"wrote {out} " + {
        ".cthulhu": "(cthulhu file)", ".keras": "(Keras 3 .keras)",
        ".h5": "(Keras 2 legacy HDF5)"}[suffix])
    model = load_model(out, verify=True)  # the certificate travels in the file
    x, y = _tcn_truth()
    assert_like_keras(model.predict(x), [y])


def test_convert_checks_a_stored_certificate_first(tmp_path, capsys):
    first, second = tmp_path / "a.cthulhu", tmp_path / "b.keras"
    assert main(["convert", str(TCN), str(first)]) == 0
    capsys.readouterr()
    assert main(["convert", str(first), str(second), "--device", "array_api_strict"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("certificate check passed on array_api_strict") == 2
    assert printed.index("certificate check") < printed.index('Model: "tcn"')


def test_convert_refuses_a_damaged_certificate(tmp_path, capsys):
    """A model whose weights changed after its certificate was recorded is refused."""
    good, bad, out = tmp_path / "good.cthulhu", tmp_path / "bad.cthulhu", tmp_path / "o.h5"
    assert main(["convert", str(TCN), str(good)]) == 0
    from cthulhu.saving import certificate as cert

    model = load_model(good)
    stored = cert.attached(model)
    weights = model.get_weights()
    model.set_weights([w + 0.5 for w in weights])
    model.save(bad, certificate=stored)  # the old test vector, new weights
    capsys.readouterr()
    assert main(["convert", str(bad), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("cthulhu convert: error:")
    assert "certificate check failed" in err
    assert not out.exists()


def test_convert_never_overwrites_unasked(tmp_path, capsys):
    out = tmp_path / "tcn.keras"
    out.write_bytes(b"mine")
    assert main(["convert", str(TCN), str(out)]) == 2
    assert capsys.readouterr().err.strip() == \
        f"cthulhu convert: error: {out} exists (--overwrite replaces it)"
    assert out.read_bytes() == b"mine"
    assert main(["convert", str(TCN), str(out), "--overwrite"]) == 0
    assert out.read_bytes()[:2] == b"PK"


@pytest.mark.parametrize("name", ["lambda_model.keras", "custom_model.h5"])
def test_convert_refuses_code_in_one_line(name, tmp_path, capsys):
    out = tmp_path / "o.cthulhu"
    assert main(["convert", str(FIXTURES / "keras3" / name), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "custom_objects" in err
    assert not out.exists()


def test_inspect_a_keras_file(capsys):
    path = FIXTURES / "keras3" / "nested.keras"
    assert main(["inspect", str(path)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{path}: Keras .keras archive (keras)")
    params = sum(a.size for arrays in truth_weights("keras3", "nested.truth.npz").values()
                 for a in arrays)
    assert f"Total params: {params:,}" in printed
    assert "inner (Pile)" in printed


def test_inspect_allocates_no_weights(monkeypatch, capsys):
    """The summary comes from placeholders: no weight array is ever filled from the file."""
    import cthulhu.saving.keras_model as keras_model

    def boom(*args, **kwargs):
        raise AssertionError("inspect installed weights")

    monkeypatch.setattr(keras_model, "install_weights", boom)
    assert main(["inspect", str(FIXTURES / "tfkeras" / "family_conv.h5")]) == 0
    assert "Total params" in capsys.readouterr().out


def test_inspect_missing_and_foreign_files(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "none.h5")]) == 2
    assert "does not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert main(["inspect", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("cthulhu inspect: error:")


def test_convert_and_inspect_are_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    printed = capsys.readouterr().out
    assert "convert" in printed and "inspect" in printed
    assert np.all([word in printed for word in ("cthulhu convert model.h5",)])


def test_predict_takes_a_keras_file(tmp_path, capsys):
    """``cthulhu predict`` reads a Keras file like any model file: run over the fixture's
    first input image, it writes what Keras predicted for it."""
    pytest.importorskip("dask")
    zarr = pytest.importorskip("zarr")
    path = FIXTURES / "keras3" / "family_depthwise.keras"
    data = truth("keras3", "family_depthwise.truth.npz")
    np.save(tmp_path / "img.npy", data["input/0"][0])
    out = tmp_path / "out.zarr"
    assert main(["predict", str(path), "--input", str(tmp_path / "img.npy"), "--output",
                 str(out), "--no-progress", "-q"]) == 0
    assert_like_keras([zarr.open_array(str(out))[...]], [data["output/0"][0]])
