"""~/.cthulhu/cthulhu.json (moved by CTHULHU_HOME): defaults, warnings, values."""

import json
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
