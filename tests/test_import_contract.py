"""The floors of docs/internals.md hold: import-linter keeps every contract of pyproject.toml.

The contracts (``[tool.importlinter]``) are checked on this checkout with the
``lint-imports`` command; a broken contract fails here with import-linter's
report. A copy of the package with one upward import added shows that the check
can fail. The ``ignore_imports`` lists name today's breaches with who removes
them; they may only shrink, so a new breach cannot hide in them.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the test extra and group")

ROOT = Path(__file__).resolve().parents[1]


def _config():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the same on every Python
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"]

# Every breach the contracts tolerate today, and who removes it. A new entry in
# pyproject.toml fails test_ignored_imports_only_shrink: fix the import instead.
KNOWN_BREACHES = {
    # permanent: a Dask block re-enters the ops (docs/internals.md)
    "cthulhu.devices.dask_.ops -> cthulhu.ops",
}


def _lint(root):
    """``lint-imports`` in ``root`` (it reads ``root/pyproject.toml``), on ``root/cthulhu``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import "
                           "lint_imports_command; sys.exit(lint_imports_command())",
                           "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "0 broken" in done.stdout


def test_an_upward_import_breaks_the_contracts(tmp_path):
    """The check can fail: the engine importing cthulhu.saving breaks two contracts."""
    shutil.copytree(ROOT / "cthulhu", tmp_path / "cthulhu",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.cu", "*.c", "*.h"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    summary = tmp_path / "cthulhu" / "engine" / "summary.py"
    summary.write_text(summary.read_text() + "\n\ndef _upward():\n"
                       "    from cthulhu.saving import save_model  # noqa: F401\n")
    done = _lint(tmp_path)
    assert done.returncode != 0
    assert "cthulhu.engine imports no layer, saving or command-line module BROKEN" in done.stdout
    assert "cthulhu.engine.summary -> cthulhu.saving" in done.stdout


def test_ignored_imports_only_shrink():
    for contract in _config()["contracts"]:
        extra = set(contract.get("ignore_imports", ())) - KNOWN_BREACHES
        assert not extra, (f"contract {contract['id']!r} ignores new imports {sorted(extra)}: "
                           "fix the import instead (the lists may only shrink)")


def test_known_breaches_are_all_still_ignored():
    """The list above shrinks with pyproject.toml's: a breach fixed there is gone here too
    (the blockwise round removed the whole-model runner's, the ops-objects round the
    plugins' ``ops._args`` imports)."""
    listed = {entry for contract in _config()["contracts"]
              for entry in contract.get("ignore_imports", ())}
    assert KNOWN_BREACHES == listed, sorted(KNOWN_BREACHES ^ listed)


def test_every_top_level_module_is_on_a_floor():
    """The floors contract is exhaustive: a new top-level module must be given a floor."""
    floors = next(c for c in _config()["contracts"] if c["id"] == "floors")
    assert floors["type"] == "layers" and floors["exhaustive"] is True
    listed = {name.strip(" ()") for layer in floors["layers"]
              for name in layer.replace(":", "|").split("|")}
    package = ROOT / "cthulhu"
    modules = {p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    modules |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert modules <= listed, sorted(modules - listed)


def test_the_floors_picture_shows_the_contracts_floors():
    """docs/img/floors.svg (docs/internals.md) draws the floors of the contract, in order."""
    import xml.etree.ElementTree as ET

    floors = next(c for c in _config()["contracts"] if c["id"] == "floors")["layers"]
    svg = ET.parse(ROOT / "docs" / "img" / "floors.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    drawn = [g.get("data-floor") for g in svg.iter(f"{ns}g") if g.get("class") == "floor"]
    names = [t.text for t in svg.iter(f"{ns}text") if t.get("class") == "floor-name"]
    assert drawn == names == [f.strip("()") for f in floors]
    assert "img/floors.svg" in (ROOT / "docs" / "internals.md").read_text(encoding="utf-8")
