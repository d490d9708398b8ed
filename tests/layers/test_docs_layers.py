"""Every ```python block of docs/layers.md runs as written; module docstring examples too."""

import doctest
import importlib
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "layers.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
MODULES = ["convolutional", "convolutional_transpose", "separable", "reshaping", "core",
           "lukthu", "dropout", "recurrent", "embeddings", "normalization", "merge",
           "advanced_activations", "noise"]


def test_docs_layers_has_examples_for_every_family():
    text = DOC.read_text(encoding="utf-8")
    import cthulhu.layers as layers

    for name in layers.__all__:
        if name in ("Layer", "InputLayer"):
            continue
        assert f"`{name}" in text or name in text, name
    assert len(BLOCKS) >= 12
    assert "half-pixel" in text  # the bilinear convention is stated


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_docs_layers_example_runs(index):
    exec(compile(BLOCKS[index], f"docs/layers.md block {index}", "exec"), {"__name__": "docs"})


@pytest.mark.parametrize("module", MODULES)
def test_layer_docstring_examples(module):
    mod = importlib.import_module(f"cthulhu.layers.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
