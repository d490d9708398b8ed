"""``cthulhu shape`` and ``cthulhu demo``: output, tables and one-line errors."""

import shutil
import subprocess
import sys

import pytest

from cthulhu.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_shape_single_layer(capsys):
    code, out, err = run(capsys, "shape", "Cthalpa2D(64, 3, strides=2, padding='same')",
                         "--input", "(None, 224, 224, 3)")
    assert (code, out, err) == (0, "(None, 112, 112, 64)\n", "")


def test_cli_shape_keras_name_and_symbolic_single_layer(capsys):
    code, out, _ = run(capsys, "shape", "Conv1D(4, 3, padding='valid')", "--input", "b, n, 2")
    assert code == 0 and out == "(b, n - 2, 4)\n"


def test_cli_shape_chain_table(capsys):
    code, out, err = run(capsys, "shape", "Cthalpa3D(8, 3) | UbboSathla3D(2) | Cropping3D(1)",
                         "--input", "b, d, h, w, 1")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["#", "layer", "output", "shape", "receptive", "field", "jump"]
    assert "(b, d - 2, h - 2, w - 2, 8)" in lines[2] and "Cthalpa3D(8, 3)" in lines[2]
    assert "(b, 2*d - 4, 2*h - 4, 2*w - 4, 8)" in lines[3]
    assert "(b, 2*d - 6, 2*h - 6, 2*w - 6, 8)" in lines[4]
    assert "receptive field:       3 x 3 x 3" in out
    assert "jump (input/output):   1/2 x 1/2 x 1/2" in out
    assert "halo (before, after):  (0, 3) x (0, 3) x (0, 3)" in out
    assert "requires:              d >= 4" in out


def test_cli_shape_pooling_receptive_field_halo_and_global_stop(capsys):
    # receptive field by hand: conv 3 (rf 3), max pool 2 (rf 4, jump 2), conv 3 (rf 4 + 2*2 = 8)
    code, out, err = run(capsys, "shape", "Cthalpa3D(8, 3, padding='same') | MaxPooling3D(2) | "
                         "Cthalpa3D(8, 3, padding='same') | GlobalAveragePooling3D(keepdims=True)",
                         "--input", "(None, 64, 64, 64, 1)")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert "(None, 32, 32, 32, 8)" in lines[3] and "4 x 4 x 4" in lines[3]
    assert "(None, 32, 32, 32, 8)" in lines[4] and "8 x 8 x 8" in lines[4]
    assert "(None, 1, 1, 1, 8)" in lines[5]
    assert "receptive field:       8 x 8 x 8" in out
    assert "spatial analysis stops at layer 4: GlobalAveragePooling3D" in out
    code, out, _ = run(capsys, "shape", "AveragePooling2D(3, strides=2, padding='same')",
                       "--input", "b, h, w, 3")
    assert code == 0 and out == "(b, ceil(h/2), ceil(w/2), 3)\n"


def test_cli_shape_bind_and_stop_reason(capsys):
    code, out, _ = run(capsys, "shape", "Cthalpa2D(4, 3, strides=2, padding='same') | Flatten()",
                       "--input", "b, h, w, 3", "--bind", "h=33", "w=32")
    assert code == 0
    assert "(b, 17, 16, 4)" in out and "(b, 1088)" in out
    assert "spatial analysis stops at layer 2" in out
    assert "halo (before, after):  (1, 0) x (0, 1)" in out


@pytest.mark.parametrize("argv, message", [
    (["Cthalpa2D(64, 3)", "--input", "(None, 2, 2, 3)"], "must be at least 3, got 2"),
    (["Nyarlathotep(3)", "--input", "(None, 8, 3)"], "unknown layer 'Nyarlathotep'"),
    (["Cthalpa2D(64, x)", "--input", "(None, 8, 8, 3)"], "arguments must be literals"),
    (["Cthalpa2D(64, __import__('os'))", "--input", "(None, 8, 8, 3)"], "literals"),
    (["Cthalpa2D(64, 3", "--input", "(None, 8, 8, 3)"], "cannot read the layer"),
    (["Cthalpa2D(64, 3, bogus=1)", "--input", "(None, 8, 8, 3)"], "unexpected keyword"),
    (["Cthalpa2D(64, 3) | ", "--input", "(None, 8, 8, 3)"], "empty layer"),
    (["Cthalpa2D(64, 3)", "--input", "(None, 8, 3)"], "expected an input of rank 4"),
    (["Cthalpa2D(64, 3)", "--input", "(None, 8.5, 8, 3)"], "cannot read the size"),
    (["Cthalpa2D(64, 3)", "--input", "b, h, w, 3", "--bind", "h"], "--bind expects NAME=INT"),
    (["Cthalpa2D(64, 3)", "--input", "b, h, w, 3", "--bind", "h=1"], "at least 3, got 1"),
])
def test_cli_shape_errors_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, "shape", *argv)
    assert code == 2 and out == ""
    assert err.startswith("cthulhu shape: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_shape_unet_like_chain_symbolic_and_concrete(capsys):
    chain = ("Cthalpa3D(8, 3) | Cthalpa3D(16, 2, strides=2) | Cthalpa3D(16, 3) | "
             "UbboSathla3D(2) | Cthalpa3D(8, 3) | Cropping3D(1)")
    code, out, _ = run(capsys, "shape", chain, "--input", "b, d, h, w, 1")
    assert code == 0 and out.count("receptive field:") == 1
    assert "(b, 2*floor(d/2) - 10, 2*floor(h/2) - 10, 2*floor(w/2) - 10, 8)" in out
    assert "requires:              d >= 12" in out
    code, out, _ = run(capsys, "shape", chain, "--input", "(1, 64, 64, 64, 1)")
    assert code == 0 and "(1, 54, 54, 54, 8)" in out


def test_cli_demo_prints_its_models_table(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "demo", "--size", "12", "--block", "6", "--no-progress")
    assert code == 0 and out.count("receptive field:") == 1
    assert "(b, d, h, w, 8)" in out and "7 x 7 x 7" in out
    assert "halo (before, after):  (3, 3) x (3, 3) x (3, 3)" in out


def test_cli_console_script_in_a_subprocess():
    exe = shutil.which("cthulhu")
    argv = [exe] if exe else [sys.executable, "-m", "cthulhu"]
    out = subprocess.run([*argv, "shape", "Cthalpa2D(64, 3, strides=2, padding='same')",
                          "--input", "(None, 224, 224, 3)"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "(None, 112, 112, 64)\n"
    bad = subprocess.run([*argv, "shape", "Cthalpa2D(64, 3)", "--input", "(None, 2, 2, 3)"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("cthulhu shape: error:")
    assert "Traceback" not in bad.stderr


def test_cli_shape_does_not_import_numpy():
    code = ("import sys\nfrom cthulhu.cli import main\n"
            "main(['shape', 'Cthalpa3D(8, 3) | UbboSathla3D(2)', '--input', 'b, d, h, w, 1'])\n"
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
