"""The examples of docs/devices.md and docs/out-of-core.md run as written.

(docs/layers.md, docs/models.md and docs/shapes.md are run by the tests of their
own areas.) The out-of-core page talks about a user's files - ``model.cthulhu``,
``scan.zarr`` - and a cluster at ``tcp://host:8786``: the test makes those real
(a saved example model, a Zarr volume on disk, a ``LocalCluster``) and then runs
the page's Python blocks in order, in one namespace, as a reader would.
"""

import doctest
import os
import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _python_blocks(name):
    text = (DOCS / name).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_example(tmp_path, monkeypatch):
    text = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README lost its first-model example"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["y"].shape == (4, 10)
    assert (tmp_path / "first.cthulhu").is_file()


def test_devices_page_examples():
    blocks = [b for b in _python_blocks("devices.md") if b.lstrip().startswith(">>>")]
    assert blocks, "docs/devices.md lost its interactive examples"
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for index, block in enumerate(blocks):
        test = parser.get_doctest(block, {}, f"devices.md[{index}]", "docs/devices.md", 0)
        runner.run(test)
    assert runner.failures == 0


@pytest.fixture
def user_files(tmp_path):
    """The files the out-of-core page assumes: a saved model and a Zarr volume."""
    from cthulhu.cli.predict import example_model, example_volume

    example_model().save(tmp_path / "model.cthulhu")
    example_volume(tmp_path / "scan.zarr", shape=(40, 36, 33), chunks=(16, 16, 16))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)


def test_out_of_core_page_examples(user_files):
    from distributed import LocalCluster

    import cthulhu
    from cthulhu.models import load_model

    blocks = _python_blocks("out-of-core.md")
    assert len(blocks) >= 3, "docs/out-of-core.md lost its examples"
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        namespace = {"__name__": "docs"}
        for index, block in enumerate(blocks):
            code = block.replace("tcp://host:8786", cluster.scheduler_address)
            code = code.replace("/shared/", str(user_files) + "/")
            if "out.zarr" in code:  # the cluster block writes again: a fresh output each time
                code = code.replace("out.zarr", f"out{index}.zarr")
            exec(compile(code, f"docs/out-of-core.md block {index}", "exec"), namespace)
        if "client" in namespace:  # the page's Client: closed before its cluster goes away
            namespace["client"].close()

    # what the page promised: the prediction on disk equals the in-memory model
    import zarr

    model = load_model(user_files / "model.cthulhu")
    volume = zarr.open_array(str(user_files / "scan.zarr"), mode="r")[...]
    result = zarr.open_array(str(user_files / "segmentation.zarr"), mode="r")[...]
    expected = model.predict(volume[None, ..., None])[0, ..., 0]
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)
    assert cthulhu.predict_volume is not None
