"""cthulhu's normalization, merge, advanced-activation and noise layers against real Keras 2.

The fixture (``keras2_reference_layers2.npz`` + ``.json``) was written by
``generate_layers2.py`` (Keras 2.15 on TensorFlow 2.15, CPU; see its
docstring). Nothing here imports TensorFlow. Every case rebuilds the cthulhu
layer from Keras's own ``get_config()`` (after ``build``: Keras rewrites a batch
normalisation's ``axis`` to a list then), loads Keras's weights unchanged, runs
Keras's inputs (a list for the merges; with Keras's mask where there was one)
and compares:

* the output (and its dtype) and ``compute_output_shape`` for an unknown batch;
* ``training=True`` of ``BatchNormalization``: the output (batch statistics) and
  the moving statistics after the call (Keras's fused kernel updates the moving
  variance with the unbiased batch variance, its other path with the biased one:
  both are cases here);
* the merges' output masks (``compute_mask``);
* the cases Keras refuses: cthulhu refuses them too, with a ``ValueError``
  naming the layer;
* the noise layers' training samples: random in both libraries, so their
  moments, and for ``AlphaDropout`` the affine map of kept units and the value
  of dropped ones (Keras's constants ``a`` and ``b``).

Each deterministic case also runs on array-api-strict (a second device) and on
Dask (odd chunks, nothing computed at call time) with NumPy's numbers.
Tolerances are those of ``test_keras_reference.py`` (see there why).
"""

from __future__ import annotations

import json
from pathlib import Path

import array_api_strict as xps
import numpy as np
import pytest

from cthulhu import layers

HERE = Path(__file__).resolve().parent
INDEX = json.loads((HERE / "keras2_reference_layers2.json").read_text())
CASES = INDEX["cases"]
TOLERANCE = {"float16": {"rtol": 5e-3, "atol": 5e-3},
             "float32": {"rtol": 1e-4, "atol": 1e-5},
             "float64": {"rtol": 1e-10, "atol": 1e-12}}
# Keras 2 config keys that are not constructor arguments of a forward pass
IGNORED = {"name"}
# Differences from Keras 2.15 that are data: case id -> (what differs, why).
CONFIG_ADDITIONS = {
    "alpha_dropout_noise_shape": ("noise_shape", "Keras 2.15's AlphaDropout.get_config() drops "
                                  "noise_shape (a reloaded layer loses it); cthulhu keeps it, "
                                  "so the case passes the generator's argument"),
}


@pytest.fixture(scope="module")
def arrays():
    with np.load(HERE / "keras2_reference_layers2.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _tuples(value):
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def cthulhu_kwargs(case):
    kwargs = {}
    for key, value in case["config"].items():
        if key in IGNORED or key.endswith("_initializer"):
            continue  # the weights are Keras's own
        if key.endswith(("_regularizer", "_constraint")):
            assert value is None, (case["id"], key)
            continue
        # axis / axes / shared_axes lists stay lists (the layers take both forms)
        kwargs[key] = value if key in ("axis", "axes", "shared_axes") else _tuples(value)
    if case["id"] in CONFIG_ADDITIONS:
        key = CONFIG_ADDITIONS[case["id"]][0]
        kwargs[key] = _tuples(case["keras_kwargs"][key])
    return kwargs


def make_layer(case):
    return getattr(layers, case["class_name"])(**cthulhu_kwargs(case))


def _inputs(case, arrays, convert=lambda a: a):
    xs = [convert(arrays[key]) for key in case["inputs"]]
    return xs if case["merge"] else xs[0]


def _call(layer, case, arrays, x, convert=lambda a: a):
    kwargs = {"training": case["training"]}
    if case["mask"] is not None:
        kwargs["mask"] = convert(arrays[case["mask"]])
    return layer(x, **kwargs)


def _built(case, arrays):
    layer = make_layer(case)
    shapes = [tuple(s) for s in case["input_shapes"]]
    layer.build(shapes if case["merge"] else shapes[0])
    layer.set_weights([arrays[key] for key in case["weights"]])
    return layer


def _assert_close(got, want, dtype):
    got = np.asarray(got)
    assert got.shape == want.shape
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                               **TOLERANCE[dtype])


DETERMINISTIC = [c for c in CASES if not c["error"] and not c["sample"]]
REFUSED = [c for c in CASES if c["error"]]
SAMPLES = [c for c in CASES if c["sample"]]


def _ids(cases):
    return [c["id"] for c in cases]


def test_fixture_covers_every_new_layer(arrays):
    classes = {c["class_name"] for c in CASES}
    assert classes == {"BatchNormalization", "LayerNormalization", "Add", "Subtract",
                       "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
                       "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "ReLU", "Softmax",
                       "GaussianNoise", "GaussianDropout", "AlphaDropout"}
    assert INDEX["keras"].startswith("2.")
    for case in CASES:
        keys = [*case["inputs"], *case["weights"], *case["updated_weights"], *case["outputs"]]
        keys += [k for k in (case["mask"], case["output_mask"], *(case["masks"] or ()))
                 if k is not None]
        assert all(k in arrays for k in keys), case["id"]
    assert set(CONFIG_ADDITIONS) <= {c["id"] for c in CASES}


@pytest.mark.parametrize("case", DETERMINISTIC, ids=_ids(DETERMINISTIC))
def test_layer_matches_keras(case, arrays):
    layer = _built(case, arrays)
    y = _call(layer, case, arrays, _inputs(case, arrays))
    want = arrays[case["outputs"][0]]
    _assert_close(y, want, case["input_dtype"])
    shapes = [(None, *s[1:]) for s in case["input_shapes"]]
    predicted = layer.compute_output_shape(shapes if case["merge"] else shapes[0])
    assert list(predicted) == case["output_shape"]
    # the moving statistics after one training call, and the other weights untouched
    if case["training"]:
        for got, key in zip(layer.get_weights(), case["updated_weights"], strict=True):
            _assert_close(got, arrays[key], case["input_dtype"])
    if case["output_mask"] is not None:
        masks = [None if k is None else arrays[k] for k in case["masks"]]
        np.testing.assert_array_equal(layer.compute_mask(_inputs(case, arrays), masks),
                                      arrays[case["output_mask"]])


@pytest.mark.parametrize("case", [c for c in DETERMINISTIC if c["input_dtype"] != "float16"],
                         ids=_ids([c for c in DETERMINISTIC if c["input_dtype"] != "float16"]))
def test_layer_matches_keras_on_other_devices(case, arrays):
    """array-api-strict on its second device, and Dask with odd chunks, give NumPy's numbers."""
    import dask
    import dask.array as da

    want = arrays[case["outputs"][0]]
    device = xps.Device("device1")
    layer = _built(case, arrays)
    y = _call(layer, case, arrays, _inputs(case, arrays, lambda a: xps.asarray(a, device=device)),
              lambda a: xps.asarray(a, device=device))
    assert y.device == device
    _assert_close(np.from_dlpack(y), want, case["input_dtype"])
    if case["training"]:
        for got, key in zip(layer.get_weights(), case["updated_weights"], strict=True):
            _assert_close(got, arrays[key], case["input_dtype"])

    def chunked(a):
        return da.from_array(a, chunks=tuple(max(1, n // 2) for n in a.shape))

    layer = _built(case, arrays)
    computes = []

    def counting(*args, **kwargs):
        computes.append(1)
        return dask.get(*args, **kwargs)

    with dask.config.set(scheduler=counting):
        yd = _call(layer, case, arrays, _inputs(case, arrays, chunked), chunked)
    # training=True copies the batch statistics to the host: that one computation
    assert len(computes) == (1 if case["training"] and case["class_name"] ==
                             "BatchNormalization" and layer.trainable else 0)
    assert isinstance(yd, da.Array)
    _assert_close(yd.compute(scheduler="sync"), want, case["input_dtype"])


@pytest.mark.parametrize("case", REFUSED, ids=_ids(REFUSED))
def test_layer_refuses_what_keras_refuses(case, arrays):
    layer = make_layer(case)
    with pytest.raises(ValueError, match=f"{case['class_name']} '{layer.name}'"):
        layer(_inputs(case, arrays))
    # and the shape alone is refused the same way
    with pytest.raises(ValueError, match=case["class_name"]):
        layer.compute_output_shape([tuple(s) for s in case["input_shapes"]])


def _sample(case, arrays):
    layer = make_layer(case)
    x = _inputs(case, arrays)
    return x, np.asarray(layer(x, training=True)), arrays[case["outputs"][0]]


@pytest.mark.parametrize("case", SAMPLES, ids=_ids(SAMPLES))
def test_noise_samples_match_keras(case, arrays):
    x, ours, keras = _sample(case, arrays)
    assert ours.shape == keras.shape and ours.dtype == keras.dtype
    assert not np.array_equal(ours, x)                 # training=True really adds noise
    n = x.size
    if case["class_name"] == "GaussianNoise":
        noises = [ours - x, keras - x]
        center, spread = 0.0, case["config"]["stddev"]
    elif case["class_name"] == "GaussianDropout":
        noises = [ours / x, keras / x]
        rate = case["config"]["rate"]
        center, spread = 1.0, np.sqrt(rate / (1 - rate))
    else:
        _check_alpha_dropout(case, x, ours, keras)
        return
    for noise in noises:   # mean within 5 standard errors, std within 5 of its own
        assert abs(noise.mean() - center) < 5 * spread / np.sqrt(n)
        assert abs(noise.std() - spread) < 5 * spread / np.sqrt(2 * n)


def _check_alpha_dropout(case, x, ours, keras):
    rate = case["keras_kwargs"]["rate"]
    for y in (ours, keras):
        # dropped units all take one value; kept ones are one affine map of x
        values, counts = np.unique(np.round(y, 5), return_counts=True)
        dropped_value = values[np.argmax(counts)]
        dropped = np.isclose(y, dropped_value, atol=1e-5)
        assert abs(dropped.mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / dropped.size) + 0.02
        slope, intercept = np.polyfit(x[~dropped], y[~dropped], 1)
        if y is ours:
            mine = (dropped_value, slope, intercept)
        else:
            theirs = (dropped_value, slope, intercept)
        if case["keras_kwargs"].get("noise_shape") == [64, 1]:
            # one draw per row: a row is all dropped or all kept
            assert all(len(set(row)) == 1 for row in dropped)
    np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)


def test_bn_training_variance_rule_is_keras_fused_rule(arrays):
    """The cases show both of Keras 2's rules; the layer names which one it follows."""
    def rule(case_id):
        case = next(c for c in CASES if c["id"] == case_id)
        layer = _built(case, arrays)
        return layer._fused_in_keras(len(case["input_shapes"][0]))

    assert rule("bn_train_rank4_cl") and rule("bn_train_rank4_cf") and rule("bn_train_rank5_cf")
    assert not rule("bn_train_rank2") and not rule("bn_train_rank4_axis2")
    assert not rule("bn_train_rank5_axis3") and not rule("bn_train_f64")
    assert not rule("bn_train_multi_axis")
