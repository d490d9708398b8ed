"""Importing the light parts of cthulhu must not drag in the heavy libraries."""

import subprocess
import sys

import pytest


def _modules_after(statement):
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_shapes_does_not_import_numpy():
    loaded = _modules_after("import cthulhu.shapes")
    assert "numpy" not in loaded
    assert not any(name.startswith("cthulhu.layers") for name in loaded)


@pytest.mark.parametrize("heavy", ["cupy", "dask", "torch"])
def test_import_cthulhu_is_light(heavy):
    loaded = _modules_after("import cthulhu")
    assert heavy not in loaded
