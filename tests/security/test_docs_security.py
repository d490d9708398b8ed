"""docs/security.md: its examples run as written (in order, one namespace), its limits are the code's."""

import re
from pathlib import Path

from cthulhu.saving import model_file

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
TEXT = DOC.read_text(encoding="utf-8")


def test_security_page_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
    assert len(blocks) >= 4, "docs/security.md lost its examples"
    namespace = {"__name__": "docs"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"docs/security.md block {index}", "exec"), namespace)


def test_security_page_limits_match_the_code():
    assert model_file.MAX_CONFIG_BYTES == 16 * 2**20 and "| 16 MiB |" in TEXT
    assert f"| {model_file.MAX_JSON_DEPTH} levels |" in TEXT
    assert f"{model_file.MAX_ENTRIES:,} entries / 16 MiB" in TEXT
    assert model_file.MAX_DIRECTORY_BYTES == 16 * 2**20
    assert f"{model_file.MAX_NPY_HEADER:,} bytes" in TEXT
    assert f"at most {model_file.MAX_DEFLATE_RATIO}:1" in TEXT


def test_security_page_is_linked():
    root = DOC.parents[1]
    assert "docs/security.md" in (root / "README.md").read_text(encoding="utf-8")
    assert "security.md" in (root / "docs" / "models.md").read_text(encoding="utf-8")
