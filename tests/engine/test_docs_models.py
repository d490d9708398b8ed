"""Every ```python block of docs/models.md runs, and the printed summary matches the page."""

import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest

pytest.importorskip("cthulhu.layers")

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_docs_models_example_runs(index):
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(BLOCKS[index], f"docs/models.md block {index}", "exec"), {"__name__": "docs"})


def test_docs_models_summary_text_is_what_summary_prints():
    block = next(b for b in BLOCKS if "model.summary()" in b)
    printed = re.search(r"prints\n\n```text\n(.*?)```", DOC.read_text(), flags=re.S).group(1)
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(block, "summary block", "exec"), {"__name__": "docs"})
    assert out.getvalue() == printed
