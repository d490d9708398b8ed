"""docs/keras.md's examples run as written, on real Keras files; the readers' doctests pass."""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.support.keras_fixture_index import FIXTURES, truth

pytest.importorskip("h5py")
DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_keras_page_examples(tmp_path, monkeypatch):
    text = (DOCS / "keras.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 8, "docs/keras.md lost an example"
    # the user's files the page talks about, made real
    shutil.copy(FIXTURES / "keras3" / "resnet.keras", tmp_path / "model.keras")
    shutil.copy(FIXTURES / "tfkeras" / "tcn.h5", tmp_path / "tcn.h5")
    for name in ("text_lstm.json", "text_lstm.weights.h5", "lambda_model.keras",
                 "custom_model.keras"):
        shutil.copy(FIXTURES / "keras3" / name, tmp_path / name)
    shutil.copy(FIXTURES / "keras1" / "k1_conv2d_th.h5", tmp_path / "vgg16_weights_th.h5")
    (tmp_path / "suspicious.keras").write_bytes(b"PK\x03\x04 not really a zip")
    monkeypatch.chdir(tmp_path)
    tcn, text = truth("tfkeras", "tcn.truth.npz"), truth("keras3", "text_lstm.truth.npz")
    # the user's data the page's examples name
    namespace = {"__name__": "keras_md", "x": tcn["input/0"], "tokens": text["input/0"]}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, "docs/keras.md", "exec"), namespace)
    printed = out.getvalue().splitlines()
    # the model sections
    assert printed[0] == "Lump ['InputLayer', 'Cthalpa1D', 'Cthalpa1D']"
    np.testing.assert_allclose(namespace["y"], tcn["output/0"], rtol=1e-4, atol=1e-5)
    assert printed[1] == str(text["output/0"].shape)
    page = " ".join(text_.strip() for text_ in (DOCS / "keras.md").read_text().splitlines())
    assert printed[2] in page and printed[2].startswith("custom_model.keras: layer 'scale'")
    assert namespace["again"].count_params() == namespace["model"].count_params()
    printed = printed[3:]
    assert printed[0] == "keras_zip"
    assert printed[1] == "keras3 3.15.1 keras_zip"
    assert "stem_conv [(3, 3, 3, 4)]" in printed
    assert printed[-1].startswith("refused: suspicious.keras: not a readable zip archive")
    assert namespace["kfile"].backend == "theano"


@pytest.mark.parametrize("name", ["cthulhu.saving.keras", "cthulhu.saving.keras._sniff"])
def test_reader_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
