"""The ``cthulhu`` command itself: --version, -v/-q and logging, help texts, missing extras."""

import logging
import subprocess
import sys

import pytest

import cthulhu
from cthulhu import _extras
from cthulhu.cli import COMMANDS, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert out.startswith(f"cthulhu {cthulhu.__version__} (distribution cthulhu-layers")


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_cli_help_reads_for_users(capsys, command):
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr().out
    assert info.value.code == 0
    # developer notes use reST markup and talk about the code; user help does neither
    for word in ("``", "thin wrapper", "sub-command", "module", "run_demo", "NotImplemented"):
        assert word not in out, (command, word)
    if command is None:
        assert "examples:" in out and all(name in out for name in COMMANDS)
    else:
        assert "--verbose" in out and "--quiet" in out


def test_cli_verbose_shows_device_choices_quiet_hides_them():
    code = ("from cthulhu.cli import main; import numpy as np, sys\n"
            "from cthulhu import ops\n"
            "sys.argv = ['cthulhu'] + sys.argv[1:]\n"
            "main(sys.argv[1:])\n"
            "ops.conv(np.ones((1, 5, 5, 1), np.float32), np.ones((3, 3, 1, 1), np.float32))\n")
    loud = subprocess.run([sys.executable, "-c", code, "-v", "devices"], capture_output=True,
                          text=True, timeout=120)
    assert loud.returncode == 0, loud.stderr
    assert "cthulhu.devices.registry: INFO: 'numpy' arrays: plugin 'numpy'" in loud.stderr
    quiet = subprocess.run([sys.executable, "-c", code, "devices", "-q"], capture_output=True,
                           text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_cli_logging_levels():
    from cthulhu.cli import configure_logging

    logger = logging.getLogger("cthulhu")
    try:
        for (verbose, quiet), level in {(0, 0): logging.WARNING, (1, 0): logging.INFO,
                                        (2, 0): logging.DEBUG, (0, 1): logging.ERROR}.items():
            configure_logging(verbose, quiet)
            assert logger.level == level
            assert sum(getattr(h, "_cthulhu_cli", False) for h in logger.handlers) == 1
    finally:
        for handler in [h for h in logger.handlers if getattr(h, "_cthulhu_cli", False)]:
            logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


@pytest.mark.parametrize("argv", [["demo"], ["predict", "m.cthulhu", "-i", "a.zarr", "-o", "b.zarr"]])
@pytest.mark.parametrize("missing", ["zarr", "dask"])
def test_cli_missing_extra_is_one_line(capsys, monkeypatch, argv, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # find_spec and import now fail for it
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"cthulhu {argv[0]}: error: cthulhu {argv[0]} needs the 'dask' extra")
    assert f"{missing} not installed" in err and 'pip install "cthulhu-layers[dask]"' in err


def test_cli_missing_module_raised_later_is_one_line(capsys, monkeypatch):
    import cthulhu.cli.devices as devices

    def boom(args):
        raise ModuleNotFoundError("No module named 'h5py'", name="h5py")

    monkeypatch.setattr(devices, "run", boom)
    code, _, err = run(capsys, "devices")
    assert code == 2
    # h5py comes with both 'dask' and 'keras'; the hint names the smaller extra
    assert err == ("cthulhu devices: error: h5py is not installed; it comes with the 'keras' "
                   'extra: pip install "cthulhu-layers[keras]"\n')


def test_cli_unrelated_missing_module_keeps_its_traceback(monkeypatch):
    import cthulhu.cli.devices as devices

    def boom(args):
        raise ModuleNotFoundError("No module named 'nonexistent'", name="nonexistent")

    monkeypatch.setattr(devices, "run", boom)
    with pytest.raises(ModuleNotFoundError):
        main(["devices"])


def test_extras_require_passes_when_installed():
    pytest.importorskip("zarr")
    pytest.importorskip("distributed")
    pytest.importorskip("h5py")
    assert _extras.missing_modules("dask") == []
    _extras.require("dask", "test")
    with pytest.raises(ValueError, match="unknown extra 'nope'"):
        _extras.missing_modules("nope")


def test_cli_log_handler_follows_the_current_stderr(capsys):
    from cthulhu.cli import configure_logging

    logger = logging.getLogger("cthulhu")
    try:
        configure_logging(0, 0)
        capsys.readouterr()
        logging.getLogger("cthulhu.test").warning("to the stderr of now")
        assert capsys.readouterr().err == "cthulhu.test: WARNING: to the stderr of now\n"
    finally:
        for handler in [h for h in logger.handlers if getattr(h, "_cthulhu_cli", False)]:
            logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
