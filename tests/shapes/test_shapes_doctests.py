"""The examples in the docstrings of cthulhu.shapes run and hold."""

import doctest
import importlib

import pytest

MODULES = ["normalize", "lengths", "spatial", "nonspatial", "_arith", "errors", "layout", "checks",
           "catalog", "kinds.base", "kinds.axes", "kinds.merge", "spec", "chain", "graph",
           "inverse", "parse", "geometry"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"cthulhu.shapes.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_docs_formulas_section_examples():
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "shapes.md").read_text(encoding="utf-8")
    start = text.index("## 1. Formulas")
    end = text.find("\n## 2", start)
    section = text[start:] if end < 0 else text[start:end]
    parser = doctest.DocTestParser()
    test = parser.get_doctest(section, {}, "docs/shapes.md#formulas", "docs/shapes.md", 0)
    assert test.examples, "the Formulas section lost its examples"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
