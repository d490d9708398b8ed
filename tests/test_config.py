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
