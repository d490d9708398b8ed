"""The examples in the docstrings of cthulhu.shapes run and hold."""

import doctest
import importlib

import pytest

MODULES = ["normalize", "lengths", "layers", "core", "_arith", "errors"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"cthulhu.shapes.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
