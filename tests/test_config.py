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
