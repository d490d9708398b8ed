"""Installing cthulhu as a new user would, in fresh virtual environments (slow; needs the
package index): the README's two commands, and a base install without the extras.

Deselected by default (they take minutes and download packages); run them with
``python3 -m pytest -m install`` (CI does).
"""

import os
import re
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.install]


def _env(bin_dir):
    """The machine's environment with the virtual environment first on the PATH, and
    nothing that points Python at this checkout (PYTHONPATH) or at another environment."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTEST_ADDOPTS")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    return env


def _fresh_venv(path):
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / ("Scripts" if os.name == "nt" else "bin")


def _sh(command, cwd, env, timeout=1500):
    start = time.perf_counter()
    done = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, executable="/bin/bash" if os.name != "nt" else None)
    return done, time.perf_counter() - start


def _copy_checkout(target):
    """The tracked files of this checkout (what a user gets from a clone), without builds."""
    files = None
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, text=True)
        if listed.returncode == 0:
            files = [f for f in listed.stdout.splitlines() if (ROOT / f).is_file()]
    if files is None:
        ignore = shutil.ignore_patterns(".git", "site", "build", "*.egg-info", "__pycache__",
                                        ".nox", ".pytest_cache", ".hypothesis")
        shutil.copytree(ROOT, target, ignore=ignore)
        return target
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    return target


def _readme_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", quick, flags=re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_install_readme_commands_in_a_fresh_venv(tmp_path):
    commands = _readme_commands()
    assert len(commands) == 2 and all(c.startswith("python3 -m pip install") for c in commands)
    checkout = _copy_checkout(tmp_path / "cthulhu")
    env = _env(_fresh_venv(tmp_path / "venv"))
    demo, demo_s = _sh(commands[0], checkout, env)
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    assert "largest difference from the in-memory model.predict" in demo.stdout
    assert "(ok)" in demo.stdout
    # The second command runs the whole suite; here a small part of it is enough to show
    # that the test install works (this test runs inside that suite already).
    env["PYTEST_ADDOPTS"] = "-q -x -p no:cacheprovider tests/test_cli_shape.py tests/test_config.py"
    tests, tests_s = _sh(commands[1], checkout, env)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-4000:]
    assert re.search(r"\d+ passed", tests.stdout)
    print(f"README command 1: {demo_s:.0f} s; command 2 (install + a part of the tests): "
          f"{tests_s:.0f} s")


def test_install_without_extras_says_what_to_install(tmp_path):
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(wheels), str(_copy_checkout(tmp_path / "src"))],
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-4000:]
    wheel = next(wheels.glob("cthulhu_layers-*.whl"))
    env = _env(_fresh_venv(tmp_path / "venv"))
    install, _ = _sh(f'python -m pip install -q "{wheel}"', tmp_path, env)
    assert install.returncode == 0, install.stderr[-4000:]
    listed, _ = _sh("python -m pip list --format=freeze", tmp_path, env)
    names = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert "cthulhu-layers" in names and not names & {"dask", "zarr", "h5py", "distributed",
                                                      "torch", "pytest"}

    for argv in ("demo", "predict model.cthulhu --input in.zarr --output out.zarr"):
        done, _ = _sh(f"cthulhu {argv}", tmp_path, env)
        command = argv.split()[0]
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(f"cthulhu {command}: error: cthulhu {command} needs the "
                                      "'dask' extra")
        assert 'pip install "cthulhu-layers[dask]"' in done.stderr

    # the install-time build is the extension: the engine is called without ctypes
    native, _ = _sh('python -c "from cthulhu.devices.numpy_ import _native; '
                    'print(_native.describe())"', tmp_path, env)
    assert native.returncode == 0, native.stderr
    assert "installed build, engine calls: direct)" in native.stdout, native.stdout

    # what a base install does offer works
    shape, _ = _sh("cthulhu shape \"Cthalpa2D(64, 3, strides=2, padding='same')\" "
                   "--input '(None, 224, 224, 3)'", tmp_path, env)
    assert (shape.returncode, shape.stdout) == (0, "(None, 112, 112, 64)\n")
    version, _ = _sh("cthulhu --version", tmp_path, env)
    assert version.stdout.startswith("cthulhu 0.1.0 (distribution cthulhu-layers")
    code = ("import numpy as np\nfrom cthulhu import Pile\nfrom cthulhu.layers import Daoloth\n"
            "m = Pile([Daoloth(2, input_shape=(3,))])\nprint(m.predict(np.ones((4, 3))).shape)")
    run, _ = _sh(f"python -c '{code}'", tmp_path, env)
    assert run.stdout.strip() == "(4, 2)", run.stderr
    # the wheel carries the licence
    meta, _ = _sh("python -c \"import importlib.metadata as m; d = m.distribution('cthulhu-layers');"
                  " print(sorted(str(f) for f in d.files if 'LICENSE' in str(f)))\"", tmp_path, env)
    assert "LICENSE" in meta.stdout
