"""The command line's layer signatures bind positional arguments exactly as the constructors do."""

import inspect

import pytest

import cthulhu.layers as layers
from cthulhu.shapes.parse import parse_layer
from cthulhu.shapes.spec import LAYER_SIGNATURES


def _positional_names(cls):
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.kind in kinds and p.name != "self"]


@pytest.mark.parametrize("name", sorted(n for n in LAYER_SIGNATURES if n != "InputLayer"))
def test_layer_signature_table_matches_the_constructor(name):
    table = [p for p, _ in LAYER_SIGNATURES[name][2]]
    assert table == _positional_names(getattr(layers, name))


def test_lstm_positional_call_binds_like_python():
    # the second positional argument of Laldagorth is its activation, not return_sequences
    spec = parse_layer("Laldagorth(8, 'relu')")
    assert spec.get("return_sequences", False) is False
    spec = parse_layer("Laldagorth(8, return_sequences=True)")
    assert spec["return_sequences"] is True
