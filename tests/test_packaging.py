"""pyproject.toml: our own distribution name, runtime extras apart from dev tools, hints that
name the right distribution, a LICENSE, and tests that skip cleanly without the PyTorch peer."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import cthulhu
from cthulhu import _extras

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the check is the same on every Python

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
EXTRAS = PROJECT["optional-dependencies"]
GROUPS = PYPROJECT["dependency-groups"]


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower()


def test_packaging_distribution_name_is_ours_and_hints_use_it():
    assert PROJECT["name"] == "cthulhu-layers" == _extras.DISTRIBUTION
    assert _extras.install_hint("dask") == 'pip install "cthulhu-layers[dask]"'
    assert "cthulhu-layers[cuda12]" in _extras.install_hint("cuda12")


def test_packaging_version_is_the_package_version():
    assert PROJECT["version"] == cthulhu.__version__


def test_packaging_test_extra_is_the_test_group_plus_the_runtime_features():
    assert EXTRAS["test"][0] == "cthulhu-layers[dask,keras]"
    assert EXTRAS["test"][1:] == GROUPS["test"]


def test_packaging_torch_only_in_the_peer_group():
    for extra, requirements in EXTRAS.items():
        assert "torch" not in {_name(r) for r in requirements}, extra
    assert [_name(r) for r in GROUPS["peer"]] == ["torch"]
    assert {"include-group": "peer"} in GROUPS["bench"]


def test_packaging_all_means_runtime_features():
    runtime = {e for e in EXTRAS if e not in ("all", "test")}
    for requirement in EXTRAS["all"]:
        match = re.fullmatch(r"cthulhu-layers\[([a-z0-9_,]+)\]", requirement)
        assert match, requirement
        assert set(match.group(1).split(",")) <= runtime
    tools = {_name(r) for g in GROUPS.values() for r in g if isinstance(r, str)}
    assert not tools & {_name(r) for r in EXTRAS["all"]}


def test_packaging_extras_modules_match_pyproject():
    # distribution -> the module it installs, for the runtime extras cthulhu checks
    module_of = {"dask": "dask", "distributed": "distributed", "zarr": "zarr", "h5py": "h5py", "tqdm": "tqdm",
                 "cupy-cuda12x": "cupy", "cupy-cuda13x": "cupy"}
    for extra, modules in _extras.EXTRAS.items():
        listed = [module_of[_name(r)] for r in EXTRAS[extra]]
        assert tuple(dict.fromkeys(listed)) == modules, extra


def test_packaging_group_script_resolves_includes():
    out = subprocess.run([sys.executable, str(ROOT / ".ci" / "group.py"), "bench"],
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.splitlines() == [*GROUPS["peer"], "dask-image>=2024.5"]
    bad = subprocess.run([sys.executable, str(ROOT / ".ci" / "group.py"), "nope"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "no dependency group 'nope'" in bad.stderr


def test_packaging_no_hint_names_the_unrelated_distribution():
    stale = re.compile(r"(?<![\w-])cthulhu\[")
    found = []
    paths = [*ROOT.joinpath("cthulhu").rglob("*.py"), *ROOT.joinpath("docs").rglob("*.md"),
             ROOT / "README.md"]
    for path in paths:
        rel = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if stale.search(line):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_packaging_license_file_is_mit():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY" in text
    assert PROJECT["license"] == {"text": "MIT"}


TORCH_TESTS = ["tests/ops/test_torch_compat.py", "tests/layers/test_layers_vs_torch.py",
               "tests/engine/test_models.py::test_pile_runs_on_torch_tensors",
               "tests/devices/test_registry.py::test_namespace_key_of_torch_tensor"]


def test_packaging_torch_tests_skip_cleanly_without_torch():
    # torch made unimportable (a None entry in sys.modules), as on a machine without the peer
    code = ("import sys; sys.modules['torch'] = None; import pytest; "
            f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', *{TORCH_TESTS!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "skipped" in out.stdout and "error" not in out.stdout.lower()


def test_packaging_whole_suite_collects_without_torch():
    code = ("import sys; sys.modules['torch'] = None; import pytest; "
            "sys.exit(pytest.main(['-q', '--collect-only', '-p', 'no:cacheprovider', 'tests']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "error" not in out.stdout.lower().split("\n")[-2]
