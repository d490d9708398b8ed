"""docs/keras.md's examples run as written, on real Keras files; the readers' doctests pass."""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import re
import shutil
from pathlib import Path

import pytest

from tests.support.keras_fixture_index import FIXTURES

pytest.importorskip("h5py")
DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_keras_page_examples(tmp_path, monkeypatch):
    text = (DOCS / "keras.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 3, "docs/keras.md lost an example"
    # the user's files the page talks about, made real
    shutil.copy(FIXTURES / "keras3" / "resnet.keras", tmp_path / "model.keras")
    shutil.copy(FIXTURES / "keras1" / "k1_conv2d_th.h5", tmp_path / "vgg16_weights_th.h5")
    (tmp_path / "suspicious.keras").write_bytes(b"PK\x03\x04 not really a zip")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "keras_md"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, "docs/keras.md", "exec"), namespace)
    printed = out.getvalue().splitlines()
    assert printed[0] == "keras_zip"
    assert printed[1] == "keras3 3.15.1 keras_zip"
    assert "stem_conv [(3, 3, 3, 4)]" in printed
    assert printed[-1].startswith("refused: suspicious.keras: not a readable zip archive")
    assert namespace["kfile"].backend == "theano"


@pytest.mark.parametrize("name", ["cthulhu.saving.keras", "cthulhu.saving.keras._sniff"])
def test_reader_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
