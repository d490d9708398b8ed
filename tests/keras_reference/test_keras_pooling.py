"""cthulhu's pooling layers against real Keras 2 (``keras2_reference_pooling.npz`` + ``.json``,
written by ``generate_pooling.py`` with Keras 2.15 on TensorFlow 2.15, CPU; nothing here
imports TensorFlow).

Every case rebuilds the cthulhu layer from Keras's own ``get_config()``, runs Keras's
input (with Keras's mask where there was one) and compares the output, its dtype and
``compute_output_shape`` for an unknown batch; then the same on array-api-strict (a second
device) and Dask (odd chunks, nothing computed at call time). Tolerances as
``test_keras_layers2.py``: pooling only selects or sums a window, so float32 agrees to
rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import array_api_strict as xps
import dask
import dask.array as da
import numpy as np
import pytest

from cthulhu import layers

HERE = Path(__file__).resolve().parent
INDEX = json.loads((HERE / "keras2_reference_pooling.json").read_text())
CASES = INDEX["cases"]
TOLERANCE = {"float16": {"rtol": 5e-3, "atol": 5e-3},
             "float32": {"rtol": 1e-6, "atol": 1e-6},
             "float64": {"rtol": 1e-12, "atol": 1e-12}}


@pytest.fixture(scope="module")
def arrays():
    with np.load(HERE / "keras2_reference_pooling.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def make_layer(case):
    kwargs = {k: _tuples(v) for k, v in case["config"].items() if k != "name"}
    return getattr(layers, case["class_name"])(**kwargs)


def _run(case, arrays, convert=lambda a: a):
    layer = make_layer(case)
    kwargs = {}
    if case["mask"] is not None:
        kwargs["mask"] = convert(arrays[case["mask"]])
    return layer, layer(convert(arrays[case["inputs"][0]]), **kwargs)


def _assert_close(got, want, dtype):
    got = np.asarray(got)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                               **TOLERANCE[dtype])


def _ids(cases):
    return [c["id"] for c in cases]


def test_fixture_covers_every_pooling_layer(arrays):
    names = {f"{g}{k}Pooling{r}D" for g in ("", "Global") for k in ("Max", "Average")
             for r in (1, 2, 3)}
    assert {c["class_name"] for c in CASES} == names
    assert INDEX["keras"].startswith("2.")
    for case in CASES:
        assert all(k in arrays for k in [*case["inputs"], *case["outputs"]]), case["id"]
    # both formats, both paddings, three dtypes, keepdims and a mask are all there
    configs = [c["config"] for c in CASES]
    assert {c.get("padding") for c in configs} >= {"valid", "same"}
    assert {c["data_format"] for c in configs} == {"channels_last", "channels_first"}
    assert {c["input_dtype"] for c in CASES} == {"float16", "float32", "float64"}
    assert any(c.get("keepdims") for c in configs) and any(c["mask"] for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_layer_matches_keras(case, arrays):
    layer, y = _run(case, arrays)
    _assert_close(y, arrays[case["outputs"][0]], case["input_dtype"])
    shape = (None, *case["input_shapes"][0][1:])
    assert list(layer.compute_output_shape(shape)) == case["output_shape"]
    assert layer.get_config() == {**{k: _tuples(v) for k, v in case["config"].items()},
                                  "name": layer.name}


NOT_HALF = [c for c in CASES if c["input_dtype"] != "float16"]


@pytest.mark.parametrize("case", NOT_HALF, ids=_ids(NOT_HALF))
def test_layer_matches_keras_on_other_devices(case, arrays):
    want = arrays[case["outputs"][0]]
    device = xps.Device("device1")
    _, y = _run(case, arrays, lambda a: xps.asarray(a, device=device))
    assert y.device == device
    _assert_close(np.from_dlpack(y), want, case["input_dtype"])

    def chunked(a):
        return da.from_array(a, chunks=tuple(max(1, n // 2) for n in a.shape))

    def refuse(*args, **kwargs):
        raise AssertionError("computed at call time")

    with dask.config.set(scheduler=refuse):
        _, yd = _run(case, arrays, chunked)
    assert isinstance(yd, da.Array)
    _assert_close(yd.compute(scheduler="sync"), want, case["input_dtype"])
