"""The Examples sections of the engine, names, saving and of activations/initializers/regularizers/constraints run."""

import doctest
import importlib

import pytest

MODULES = ["cthulhu.engine.input_layer", "cthulhu.engine.pile", "cthulhu.engine.lump",
           "cthulhu.engine.graph", "cthulhu.engine.weights", "cthulhu.engine.services",
           "cthulhu.names", "cthulhu.names.registry", "cthulhu.names.resolver",
           "cthulhu.names.functions", "cthulhu.saving.config", "cthulhu.activations", "cthulhu.initializers",
           "cthulhu.regularizers", "cthulhu.constraints"]


@pytest.mark.parametrize("name", MODULES)
def test_engine_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
