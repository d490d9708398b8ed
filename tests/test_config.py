"""~/.cthulhu/cthulhu.json (moved by CTHULHU_HOME): defaults, warnings, values."""

import json
import sys
import warnings

import pytest

from cthulhu import config


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CTHULHU_HOME", str(tmp_path))
    return tmp_path


def test_config_missing_file_gives_default_without_warning(home):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert config.image_data_format() == "channels_last"
    assert config.config_path() == home / "cthulhu.json"


def test_config_reads_channels_first(home):
    (home / "cthulhu.json").write_text(json.dumps({"image_data_format": "channels_first"}))
    assert config.image_data_format() == "channels_first"


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"image_data_format": "channels_middle"}), "channels_middle"),
])
def test_config_malformed_warns_and_defaults(home, text, fragment):
    (home / "cthulhu.json").write_text(text)
    with pytest.warns(UserWarning, match=fragment):
        assert config.image_data_format() == "channels_last"


def test_config_home_moves_with_env(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "cthulhu.json").write_text(json.dumps({"image_data_format": "channels_first"}))
    monkeypatch.setenv("CTHULHU_HOME", str(first))
    assert config.image_data_format() == "channels_first"
    monkeypatch.setenv("CTHULHU_HOME", str(second))
    assert config.image_data_format() == "channels_last"


@pytest.fixture
def no_override():
    yield
    config.set_image_data_format(None)


def test_config_setter_overrides_the_file_until_reset(home, no_override):
    (home / "cthulhu.json").write_text(json.dumps({"image_data_format": "channels_first"}))
    config.set_image_data_format("channels_last")
    assert config.image_data_format() == "channels_last"
    config.set_image_data_format(None)
    assert config.image_data_format() == "channels_first"
    assert json.loads((home / "cthulhu.json").read_text()) == {"image_data_format": "channels_first"}


def test_config_setter_reaches_new_layers(home, no_override):
    from cthulhu.layers import Cthalpa2D

    config.set_image_data_format("channels_first")
    layer = Cthalpa2D(4, 3)
    # channels_first: (batch, channels, rows, cols); a valid 3x3 window takes 2 off each side
    assert layer.compute_output_shape((None, 3, 10, 12)) == (None, 4, 8, 10)
    config.set_image_data_format(None)
    assert Cthalpa2D(4, 3).compute_output_shape((None, 10, 12, 3)) == (None, 8, 10, 4)


@pytest.mark.parametrize("bad", ["channels_middle", "NCHW", 1, ""])
def test_config_setter_rejects_bad_values(no_override, bad):
    with pytest.raises(ValueError, match=r"set_image_data_format: data_format must be one of") as info:
        config.set_image_data_format(bad)
    assert repr(bad) in str(info.value)
    assert config.image_data_format() in ("channels_last", "channels_first")


def test_config_cache_dir_env_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("CTHULHU_CACHE", str(tmp_path / "c"))
    assert config.cache_dir() == tmp_path / "c"
    from cthulhu.devices.numpy_ import _native

    assert _native.cache_dir() == tmp_path / "c" / "native"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG folders are Linux's")
def test_config_cache_dir_follows_xdg_on_linux(tmp_path, monkeypatch):
    monkeypatch.delenv("CTHULHU_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.cache_dir() == tmp_path / "xdg" / "cthulhu"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.cache_dir() == tmp_path / "home" / ".cache" / "cthulhu"


def test_config_file_stays_in_cthulhu_home_not_the_cache(tmp_path, monkeypatch):
    # API.md: the configuration file is $CTHULHU_HOME/cthulhu.json, else ~/.cthulhu/cthulhu.json
    monkeypatch.delenv("CTHULHU_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.config_path() == tmp_path / ".cthulhu" / "cthulhu.json"


def test_configured_channels_first_reaches_layers_and_the_command_line(home, capsys):
    """cthulhu.shapes reads no configuration: the layers and `cthulhu shape` resolve it."""
    from cthulhu import layers
    from cthulhu.cli import main

    (home / "cthulhu.json").write_text(json.dumps({"image_data_format": "channels_first"}))
    made = [layers.Cthalpa2D(4, 3), layers.SeparableCthalpa2D(4, 3), layers.Cthalpa2DTranspose(4, 3),
            layers.DepthwiseCthalpa2D(3), layers.Flatten(), layers.Cropping2D(),
            layers.UbboSathla3D(), layers.Xexanoth2D(), layers.SpatialDarkness2D(0.5)]
    assert {layer.data_format for layer in made} == {"channels_first"}
    # the 1D layers keep their documented channels_last
    assert layers.Cthalpa1D(4, 3).data_format == "channels_last"
    assert layers.Cropping1D().data_format == layers.SpatialDarkness1D(0.5).data_format \
        == "channels_last"
    assert layers.Cthalpa2D(4, 3).compute_output_shape((None, 3, 8, 8)) == (None, 4, 6, 6)
    assert main(["shape", "Cthalpa2D(4, 3)", "--input", "(None, 3, 8, 8)"]) == 0
    assert capsys.readouterr().out == "(None, 4, 6, 6)\n"
    # a chain without a layout of its own takes the configured one too
    assert main(["shape", "Azatoth('relu')", "--input", "(None, 3, 8, 8)", "--table"]) == 0
    assert "spatial axes:          2, 3 (channels_first)" in capsys.readouterr().out
    (home / "cthulhu.json").write_text(json.dumps({"image_data_format": "channels_last"}))
    assert layers.Cthalpa2D(4, 3).data_format == "channels_last"
    assert main(["shape", "Cthalpa2D(4, 3)", "--input", "(None, 8, 8, 3)"]) == 0
    assert capsys.readouterr().out == "(None, 6, 6, 4)\n"


# -- float32_precision --------------------------------------------------------------

def test_float32_precision_defaults_to_strict_float32(home):
    assert config.float32_precision() == "float32"


@pytest.mark.parametrize("value", ["tf32", "bfloat16", "float32"])
def test_float32_precision_read_from_the_file(home, value):
    (home / "cthulhu.json").write_text(json.dumps({"float32_precision": value}))
    assert config.float32_precision() == value


def test_float32_precision_bad_file_value_warns_and_stays_strict(home):
    (home / "cthulhu.json").write_text(json.dumps({"float32_precision": "fp8"}))
    with pytest.warns(UserWarning, match="float32_precision must be one of"):
        assert config.float32_precision() == "float32"


def test_float32_precision_setter_beats_the_file_and_scope_beats_the_setter(home):
    (home / "cthulhu.json").write_text(json.dumps({"float32_precision": "bfloat16"}))
    try:
        config.set_float32_precision("tf32")
        assert config.float32_precision() == "tf32"
        with config.float32_precision_scope("float32"):
            assert config.float32_precision() == "float32"
            with config.float32_precision_scope("bfloat16"):
                assert config.float32_precision() == "bfloat16"
            assert config.float32_precision() == "float32"
        assert config.float32_precision() == "tf32"
    finally:
        config.set_float32_precision(None)
    assert config.float32_precision() == "bfloat16"


def test_float32_precision_scope_is_per_thread(home):
    import threading

    seen = []
    with config.float32_precision_scope("tf32"):
        worker = threading.Thread(target=lambda: seen.append(config.float32_precision()))
        worker.start()
        worker.join()
        assert config.float32_precision() == "tf32"
    assert seen == ["float32"]


@pytest.mark.parametrize("bad", ["tf16", None, 32, "TF32"])
def test_float32_precision_rejects_unknown_values_naming_the_caller(home, bad):
    if bad is not None:
        with pytest.raises(ValueError, match="set_float32_precision: precision must be one of"):
            config.set_float32_precision(bad)
    with pytest.raises(ValueError, match="float32_precision_scope: precision must be one of"):
        with config.float32_precision_scope(bad):
            pass


def test_ops_precision_argument_is_checked_and_scoped(home):
    import numpy as np

    from cthulhu import ops

    x = np.ones((1, 4, 2), np.float32)
    k = np.ones((3, 2, 1), np.float32)
    with pytest.raises(ValueError, match="ops.conv: precision must be one of"):
        ops.conv(x, k, precision="fp8")
    with pytest.raises(ValueError, match="ops.matmul: precision must be one of"):
        ops.matmul(x, np.ones((2, 3), np.float32), precision="half")
    # NumPy computes in float32 whatever the precision; the call must still work
    np.testing.assert_array_equal(ops.conv(x, k, precision="tf32"), ops.conv(x, k))
    assert config.float32_precision() == "float32"  # the per-call scope is closed again
