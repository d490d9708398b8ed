"""cthulhu against numbers computed by real Keras 2 (Keras 2.15, TensorFlow backend).

The fixture (``keras2_reference.npz`` + ``keras2_reference.json``) was written by
``generate.py`` in this folder, which runs only under a TensorFlow virtual
environment (see its docstring for how to regenerate it). Nothing here imports
TensorFlow: every case rebuilds the cthulhu layer from Keras's own
``get_config()`` (class names mapped by API.md's table), loads Keras's weights
unchanged with ``set_weights``, runs Keras's input and compares with Keras's
output, and compares ``compute_output_shape`` / ``model.output_shape`` with
Keras's.

Tolerances. float32: ``rtol=1e-4, atol=1e-5``. Both sides compute in float32
but sum the products in different orders (TensorFlow's Eigen kernels vs our
GEMMs), and the LSTM carries rounding through its timesteps; with inputs and
weights of order 1 the observed differences are a few float32 ulps (~1e-6), so
these bounds catch any real error (a wrong tap, padding or gate is off by
~1e-1) without flaking. float64 cases: ``rtol=1e-10, atol=1e-12``, which only
exact formulas pass. float16 cases: ``rtol=atol=5e-3``, about five float16 ulps
(eps = 9.8e-4): the two libraries round the partial sums at different places,
and both land within about one ulp of the exact result of the float16 inputs.

Where cthulhu deliberately differs from Keras 2.15 (its docs say otherwise, or
it keeps Keras 2.2's rule), the difference is data: ``KNOWN_DIVERGENCES`` (layer
cases), ``CONFIG_DIVERGENCES`` (configs cthulhu refuses), ``FAN_DIVERGENCES``
(initializer fans) and the activity-penalty note of
``test_layer_losses_match_keras``, each with its reason and the behaviour checked
instead; nothing is skipped. They are also listed in docs/layers.md.

Besides the layers, the fixture holds Keras's ``model.output_shape`` and
parameter counts for the docs' ``Pile`` examples, output shapes with unknown
sizes, initializer fans and sample moments, regularizer penalties, constraint
projections and activation functions with arguments. Every layer case also runs
through array-api-strict, PyTorch and (a per-family subset) Dask inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cthulhu import activations, layers
from cthulhu.models import Lump, Pile

HERE = Path(__file__).resolve().parent
INDEX = json.loads((HERE / "keras2_reference.json").read_text())
CASES = INDEX["cases"]


@pytest.fixture(scope="module")
def arrays():
    with np.load(HERE / "keras2_reference.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# API.md's name table; every other Keras class keeps its name.
KERAS_TO_CTHULHU = {
    "Conv1D": "Cthalpa1D", "Conv2D": "Cthalpa2D", "Conv3D": "Cthalpa3D",
    "Conv2DTranspose": "Cthalpa2DTranspose", "Conv3DTranspose": "Cthalpa3DTranspose",
    "SeparableConv1D": "SeparableCthalpa1D", "SeparableConv2D": "SeparableCthalpa2D",
    "DepthwiseConv2D": "DepthwiseCthalpa2D",
    "UpSampling1D": "UbboSathla1D", "UpSampling2D": "UbboSathla2D", "UpSampling3D": "UbboSathla3D",
    "ZeroPadding1D": "Xexanoth1D", "ZeroPadding2D": "Xexanoth2D", "ZeroPadding3D": "Xexanoth3D",
    "Dense": "Daoloth", "Activation": "Azatoth", "Dropout": "Darkness",
    "SpatialDropout1D": "SpatialDarkness1D", "SpatialDropout2D": "SpatialDarkness2D",
    "SpatialDropout3D": "SpatialDarkness3D",
    "Lambda": "LuKthu", "LSTM": "Laldagorth", "Embedding": "TheHydra",
}

# Keras 2.15 config keys that are not layer semantics, and why they are not passed on.
IGNORED_KEYS = {
    "name": "automatic names differ between the two libraries",
    "trainable": "no effect on a forward pass",
    # 'dtype' IS passed on: as in Keras it is the dtype the weights are stored in
    # (set_weights casts to it), so a float64 case needs a float64 layer.
    "batch_input_shape": "single layers are built from the stored input shape instead",
}
# Keys whose weights we set ourselves: the initializer never runs on the compared weights.
IGNORED_SUFFIXES = ("_initializer",)
# Keys Keras 2.15 added after Keras 2.2 that cthulhu's docs do not have: only their
# neutral value is accepted (any other value would change the numbers).
NEUTRAL_KEYS = {"groups": 1, "time_major": False}

TOLERANCE = {"float16": {"rtol": 5e-3, "atol": 5e-3},
             "float32": {"rtol": 1e-4, "atol": 1e-5},
             "float64": {"rtol": 1e-10, "atol": 1e-12}}

# Where cthulhu deliberately differs from Keras 2.15: case id -> what differs, why, and
# what is checked instead. Also listed in docs/layers.md ("Where cthulhu differs").
KNOWN_DIVERGENCES = {
    **{case: {
        "reason": "tf.image.resize (behind Keras's bilinear UpSampling2D) always returns "
                  "float32, so Keras turns a float64 or float16 input into a float32 output; "
                  "API.md: cthulhu's result keeps the input's floating dtype",
        "dtype": dtype,
        # TF resizes in float32 arithmetic; the float16 result is then rounded by cthulhu
        "tolerance": TOLERANCE[dtype if dtype == "float16" else "float32"],
    } for case, dtype in (("upsampling2d_bilinear_f64", "float64"),
                          ("float16_bilinear", "float16"))},
    **{case: {
        "reason": "Keras 2.15 (tf.keras) silently drops a mask that reaches a layer which "
                  "cannot use it; the cthulhu docs (Masking) say an exception is raised, as "
                  "Keras 2.2 did: cthulhu raises TypeError naming the layer",
        "raises": (TypeError, "does not support masking"),
    } for case in ("mask_into_flatten", "mask_into_conv1d")},
    **{f"conv3dT_dilated_{pad}_{fmt}": {
        "reason": "Keras 2.15's Conv3DTranspose accepts dilation_rate but ignores it (call() "
                  "never passes it, get_config() drops it); the cthulhu docs describe it and "
                  "cthulhu applies it. The stored output is Keras's Conv3DTranspose with the "
                  "kernel dilated by hand (zeros between the taps, dilation_rate=1), a "
                  "construction the generator checks against Keras's own dilated "
                  "Conv2DTranspose",
    } for pad in ("valid", "same") for fmt in ("cl", "cf")},
}


def _tuples(value):
    """JSON lists back to the tuples Keras's get_config() returned."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def cthulhu_kwargs(class_name, config, keep_batch_shape=False):
    """Keras 2.15 ``get_config()`` -> cthulhu constructor arguments (same key names)."""
    kwargs = {}
    for key, value in config.items():
        if key == "batch_input_shape" and keep_batch_shape:
            kwargs[key] = _tuples(value)
        elif key in IGNORED_KEYS or key.endswith(IGNORED_SUFFIXES):
            continue
        elif key.endswith(("_regularizer", "_constraint")):
            # training-only; the generator never sets one, so nothing is hidden by dropping it
            assert value is None, f"{class_name}: {key}={value!r} is not translated"
        elif key in NEUTRAL_KEYS:
            assert value == NEUTRAL_KEYS[key], f"{class_name}: {key}={value!r} has no cthulhu form"
        else:
            kwargs[key] = _tuples(value)
    return kwargs


def make_layer(spec, keep_batch_shape=False):
    name = KERAS_TO_CTHULHU.get(spec["class_name"], spec["class_name"])
    cls = getattr(layers, name)
    return cls(**cthulhu_kwargs(spec["class_name"], spec["config"], keep_batch_shape))


def _listify(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _shape_list(shape):
    return [list(s) for s in shape] if shape and isinstance(shape[0], (tuple, list)) else [
        list(shape)]


def run_layers_case(case, arrays):
    """Build the cthulhu layer(s) from Keras's configs, load Keras's weights, run Keras's input."""
    x = arrays[case["input"]]
    built = [make_layer(spec) for spec in case["layers"]]
    input_shape = tuple(case["input_shape"])
    symbolic_input = (None, *input_shape[1:])
    if len(built) == 1:
        (layer,) = built
        layer.build(input_shape)
        layer.set_weights([arrays[k] for k in case["layers"][0]["weights"]])
        outputs = _listify(layer(x))
        for key in case["more_inputs"]:  # a stateful layer, called again as in Keras
            outputs += _listify(layer(arrays[key]))
        predicted_shapes = _shape_list(layer.compute_output_shape(symbolic_input))
    elif case.get("functional"):  # the last layer has several outputs (return_state)
        inputs = layers.Input(batch_shape=symbolic_input, dtype=case["input_dtype"])
        tensor = inputs
        for layer in built:
            tensor = layer(tensor)
        model = Lump(inputs, tensor)
    else:
        model = Pile([layers.Input(batch_shape=symbolic_input, dtype=case["input_dtype"]),
                      *built])
    if len(built) > 1:
        for layer, spec in zip(built, case["layers"], strict=True):
            layer.set_weights([arrays[k] for k in spec["weights"]])
        outputs = _listify(model(x))
        predicted_shapes = _shape_list(model.output_shape)
    return outputs, predicted_shapes


LAYER_CASES = [c for c in CASES if c["kind"] == "layers"]
FUNCTION_CASES = [c for c in CASES if c["kind"] == "function"]
SEQUENTIAL_CASES = [c for c in CASES if c["kind"] == "sequential_shapes"]


def _ids(cases):
    return [c["id"] for c in cases]


def test_fixture_is_complete(arrays):
    """Every key the index names is in the npz, and the fixture covers the brief's layers."""
    for case in LAYER_CASES + FUNCTION_CASES:
        keys = [case["input"], *case.get("more_inputs", ()), *case["outputs"]]
        keys += [k for spec in case.get("layers", ()) for k in spec["weights"]]
        missing = [k for k in keys if k not in arrays]
        assert not missing, (case["id"], missing)
    classes = {spec["class_name"] for c in LAYER_CASES for spec in c["layers"]}
    expected = {"Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose",
                "SeparableConv1D", "SeparableConv2D", "DepthwiseConv2D", "UpSampling1D",
                "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
                "Cropping1D", "Cropping2D", "Cropping3D", "Dense", "Flatten", "Reshape", "Permute",
                "RepeatVector", "LSTM", "Masking", "Embedding", "Activation", "Dropout",
                "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                "ActivityRegularization"}
    assert expected <= classes, expected - classes
    assert INDEX["keras"].startswith("2."), INDEX["keras"]
    for key in KNOWN_DIVERGENCES:
        assert key in {c["id"] for c in CASES}, f"stale divergence entry {key}"


@pytest.mark.parametrize("case", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_layer_matches_keras(case, arrays):
    divergence = KNOWN_DIVERGENCES.get(case["id"], {})
    if "raises" in divergence:
        error, words = divergence["raises"]
        with pytest.raises(error, match=words):
            run_layers_case(case, arrays)
        return
    outputs, predicted_shapes = run_layers_case(case, arrays)
    expected = [arrays[k] for k in case["outputs"]]
    assert len(outputs) == len(expected)
    # output shape: compute_output_shape with an unknown batch equals Keras's
    assert predicted_shapes == case["output_shapes"]
    tol = divergence.get("tolerance", TOLERANCE.get(case["input_dtype"], TOLERANCE["float32"]))
    for got, want in zip(outputs, expected, strict=True):
        got = np.asarray(got)
        assert got.shape == want.shape
        if want.dtype.kind == "f":
            assert got.dtype == divergence.get("dtype", want.dtype), (got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("case", FUNCTION_CASES, ids=_ids(FUNCTION_CASES))
def test_activation_function_matches_keras(case, arrays):
    x = arrays[case["input"]]
    want = arrays[case["outputs"][0]]
    got = np.asarray(activations.get(case["function"])(x, **case["kwargs"]))
    tol = KNOWN_DIVERGENCES.get(case["id"], {}).get("tolerance", TOLERANCE["float32"])
    np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("case", SEQUENTIAL_CASES, ids=_ids(SEQUENTIAL_CASES))
def test_sequential_output_shapes_match_keras(case):
    """The docs' Pile examples: model.output_shape after each add equals Keras's."""
    model = Pile()
    got = []
    for index, spec in enumerate(case["layers"]):
        model.add(make_layer(spec, keep_batch_shape=index == 0))
        got.append(list(model.output_shape))
    assert got == case["output_shapes_after_each_layer"]
    # and the parameter counts of model.summary(), layer by layer
    assert [layer.count_params() for layer in model.layers] == case["count_params"]
    assert model.count_params() == case["total_params"]


def _json_normal(value):
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("case", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_config_keys_match_keras(case):
    """cthulhu's get_config() gives Keras's values under Keras's keys (for the keys it shares)."""
    for spec in case["layers"]:
        layer = make_layer(spec)
        config = _json_normal(layer.get_config())
        keras = spec["config"]
        for key in cthulhu_kwargs(spec["class_name"], keras):
            assert key in config, f"{spec['class_name']}: get_config() lacks {key!r}"
            assert config[key] == keras[key], (spec["class_name"], key, config[key], keras[key])


UNKNOWN_CASES = [c for c in LAYER_CASES if c.get("unknown_sizes")]


@pytest.mark.parametrize("case", UNKNOWN_CASES, ids=_ids(UNKNOWN_CASES))
def test_output_shape_with_unknown_sizes_matches_keras(case):
    """compute_output_shape with every size unknown (but the one the weights need) = Keras's."""
    layer = make_layer(case["layers"][0])
    record = case["unknown_sizes"]
    got = _shape_list(layer.compute_output_shape(tuple(record["input_shape"])))
    assert got == record["keras"]


# Keras 2.15 configs that cthulhu refuses on purpose (docs/layers.md, "Where cthulhu
# differs"): class -> (reason, the error expected).
CONFIG_DIVERGENCES = {
    "SeparableConv1D": ("Keras 2 silently ignores kernel_initializer/regularizer/constraint "
                        "on separable convolutions; cthulhu refuses them and names the "
                        "depthwise_*/pointwise_* arguments", TypeError, "pointwise"),
    "SeparableConv2D": ("as SeparableConv1D", TypeError, "pointwise"),
}


@pytest.mark.parametrize("case", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_from_config_accepts_keras_config(case):
    """Keras 2.15's whole get_config() (initializer dicts included) rebuilds the layer.

    Only the keys Keras added after Keras 2.2 with their neutral values (groups=1,
    time_major=False) and batch_input_shape are left out.
    """
    for spec in case["layers"]:
        config = {k: v for k, v in spec["config"].items()
                  if k not in NEUTRAL_KEYS and k != "batch_input_shape"}
        cls = getattr(layers, KERAS_TO_CTHULHU.get(spec["class_name"], spec["class_name"]))
        divergence = CONFIG_DIVERGENCES.get(spec["class_name"])
        if divergence is not None:
            _, error, words = divergence
            with pytest.raises(error, match=words):
                cls.from_config(config)
            continue
        layer = cls.from_config(config)
        assert layer.get_config()["name"] == spec["config"]["name"]


def _to_library(x, library):
    if library == "torch":
        import torch

        return torch.from_numpy(x.copy())
    if library == "array_api_strict":
        import array_api_strict as xs

        return xs.asarray(x)
    import dask.array as da

    # small chunks on every axis but the channels: blocks need halos from their neighbours
    return da.from_array(x, chunks=tuple(max(1, (n + 1) // 2) for n in x.shape))


def _from_library(y, library):
    if library == "dask":
        assert type(y).__module__.startswith("dask"), type(y)
        y = y.compute()
    if library == "torch":
        assert type(y).__module__.startswith("torch"), type(y)
    return np.asarray(y)


# The other code paths against the same Keras numbers: the generic Array API code
# (array-api-strict inputs), PyTorch CPU tensors (through array-api-compat) and the
# Dask device (chunked inputs; window layers run block by block with halos planned by
# cthulhu.shapes). Every case, models included; array-api-strict has no float16.
OTHER_PATH_CASES = [c for c in LAYER_CASES
                    if "raises" not in KNOWN_DIVERGENCES.get(c["id"], {})]
# elementwise layers: Dask maps them over the chunks with no cthulhu planning; the
# array-api-strict and torch runs cover their formulas (keeps the test budget)
ELEMENTWISE = {"Activation", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
               "SpatialDropout3D", "ActivityRegularization", "Masking"}


def _dask_key(case):
    first = case["layers"][0]["config"]
    return (tuple(s["class_name"] for s in case["layers"]), first.get("data_format"),
            case["input_dtype"], case["id"].startswith("sweep"))


def _other_path_params():
    """Every case through array-api-strict and torch. Dask, the slow one (a graph per
    call), gets every model and the first two cases of each (layer classes, data
    format, dtype) group, sweep apart: each layer in each format, chunked."""
    params = []
    dask_seen: dict = {}
    for case in OTHER_PATH_CASES:
        for library in ("array_api_strict", "torch", "dask"):
            if library == "array_api_strict" and case["input_dtype"] == "float16":
                continue  # array-api-strict has no float16
            if library == "dask":
                if {s["class_name"] for s in case["layers"]} <= ELEMENTWISE:
                    continue
                key = _dask_key(case)
                dask_seen[key] = dask_seen.get(key, 0) + 1
                if len(case["layers"]) == 1 and dask_seen[key] > 2:
                    continue
            params.append(pytest.param(case, library, id=f"{case['id']}-{library}"))
    return params


@pytest.mark.parametrize(("case", "library"), _other_path_params())
def test_other_code_paths_match_keras(case, library, arrays):
    pytest.importorskip(library if library != "dask" else "dask.array")
    converted = dict(arrays)
    for key in [case["input"], *case["more_inputs"]]:
        converted[key] = _to_library(arrays[key], library)
    outputs, _ = run_layers_case(case, converted)
    divergence = KNOWN_DIVERGENCES.get(case["id"], {})
    tol = divergence.get("tolerance", TOLERANCE.get(case["input_dtype"], TOLERANCE["float32"]))
    for got, key in zip(outputs, case["outputs"], strict=True):
        np.testing.assert_allclose(_from_library(got, library), arrays[key], **tol)


# ---------------------------------------------------------------------------
# Initializers: Keras 2.15's fan rule and the moments of its samples
# ---------------------------------------------------------------------------
INITIALIZERS = INDEX["initializers"]

# Shapes whose fans cthulhu computes by Keras 2.2's rule (sqrt of the element count for
# ranks other than 2..5) where Keras 2.15 uses its newer one: shape -> reason.
FAN_DIVERGENCES = {
    (7,): "Keras 2.15: (n, n) for a 1D weight; cthulhu keeps Keras 2.2's (sqrt(n), sqrt(n))",
    (2, 2, 2, 2, 3, 5): "Keras 2.15 treats rank >= 6 as a kernel; Keras 2.2 (cthulhu) used "
                        "sqrt(prod(shape))",
}


@pytest.mark.parametrize("record", INITIALIZERS["fans"], ids=lambda r: str(tuple(r["shape"])))
def test_compute_fans_matches_keras(record):
    from cthulhu.initializers import compute_fans

    shape = tuple(record["shape"])
    got = compute_fans(shape)
    if shape in FAN_DIVERGENCES:
        root = float(np.sqrt(np.prod(shape)))
        assert got == (root, root), FAN_DIVERGENCES[shape]
        return
    assert list(got) == record["keras"]


def _sample_id(record):
    return f"{record['name']}{record['config'] or ''}-{tuple(record['shape'])}"


@pytest.mark.parametrize("record", INITIALIZERS["samples"], ids=_sample_id)
def test_initializer_samples_match_keras_moments(record):
    """Keras's serialized initializer, read by cthulhu, draws the same distribution.

    The moments of a cthulhu sample and of Keras's sample (both >= 18432 values) must
    agree within sampling error: the standard error of a mean is std/sqrt(n) (5 of
    them allowed) and of a std about std/sqrt(2n) (2% allowed, > 5 standard errors).
    The extremes of bounded distributions (uniform, 2-std truncated normal) agree
    within 2%.
    """
    from cthulhu import initializers

    init = initializers.get(record["keras_serialized"])
    values = np.asarray(init(tuple(record["shape"]), dtype="float32"), dtype=np.float64)
    n, std = record["count"], record["std"]
    assert values.size == n
    assert abs(values.mean() - record["mean"]) < 5 * std * np.sqrt(2 / n)
    assert values.std() == pytest.approx(std, rel=0.02)
    name = record["keras_serialized"]["class_name"]
    bounded = ("Uniform" in name or "Truncated" in name
               or record["keras_serialized"]["config"].get("distribution") in (
                   "uniform", "truncated_normal", "normal")
               or name in ("GlorotNormal", "HeNormal", "LecunNormal"))
    if bounded:
        spread = record["max"] - record["min"]
        assert values.max() == pytest.approx(record["max"], abs=0.02 * spread)
        assert values.min() == pytest.approx(record["min"], abs=0.02 * spread)


@pytest.mark.parametrize("record", INITIALIZERS["deterministic"],
                         ids=lambda r: f"{r['name']}{tuple(r['shape'])}")
def test_deterministic_initializers_match_keras(record, arrays):
    from cthulhu import initializers

    init = initializers.get(record["keras_serialized"])
    got = np.asarray(init(tuple(record["shape"]), dtype="float32"))
    np.testing.assert_array_equal(got, arrays[record["values"]])


# ---------------------------------------------------------------------------
# Regularizers, constraints and a layer's losses
# ---------------------------------------------------------------------------
WEIGHT_RULES = INDEX["weight_rules"]


def _regularizer_params():
    params = []
    for r in WEIGHT_RULES["regularizers"]:
        forms = ["keras_serialized"] + (["name"] if r["config"] is None else [])
        params += [pytest.param(r, form, id=f"{r['name']}{r['config'] or ''}-{form}")
                   for form in forms]
    return params


@pytest.mark.parametrize(("record", "form"), _regularizer_params())
def test_regularizer_penalty_matches_keras(record, form, arrays):
    from cthulhu import regularizers

    identifier = record["name"] if form == "name" else record["keras_serialized"]
    penalty = float(regularizers.get(identifier)(arrays[record["weight"]]))
    assert penalty == pytest.approx(record["penalty"], rel=1e-5)


@pytest.mark.parametrize("record", WEIGHT_RULES["constraints"],
                         ids=lambda r: f"{r['name']}{r['config'] or ''}")
def test_constraint_matches_keras(record, arrays):
    from cthulhu import constraints

    got = constraints.get(record["keras_serialized"])(arrays[record["weight"]])
    np.testing.assert_allclose(np.asarray(got), arrays[record["output"]], rtol=1e-5, atol=1e-6)
    if record["config"] is None:  # and by name, with Keras's defaults
        got = constraints.get(record["name"])(arrays[record["weight"]])
        np.testing.assert_allclose(np.asarray(got), arrays[record["output"]], rtol=1e-5,
                                   atol=1e-6)


def test_layer_losses_match_keras(arrays):
    """Kernel and bias penalties equal Keras's. Known divergence: Keras 2.15 (tf.keras)
    divides an activity regularizer's penalty by the batch size; cthulhu records the
    plain penalty, as Keras 2.2 did and docs/layers.md says (ActivityRegularization)."""
    record = WEIGHT_RULES["layer_losses"]
    layer = layers.Daoloth.from_config(
        {k: v for k, v in record["config"].items() if k != "batch_input_shape"})
    x = arrays[record["input"]]
    layer.build(x.shape)
    layer.set_weights([arrays[k] for k in record["weights"]])
    y = np.asarray(layer(x))
    ours = sorted(float(v) for v in layer.losses)
    kernel_l2 = 0.1 * float(np.sum(arrays[record["weights"][0]].astype(np.float64) ** 2))
    bias_l1 = 0.2 * float(np.sum(np.abs(arrays[record["weights"][1]].astype(np.float64))))
    activity = 0.05 * float(np.abs(y).sum()) + 0.01 * float((y.astype(np.float64) ** 2).sum())
    batch = x.shape[0]
    keras = sorted(record["keras_losses"])
    # Keras's three numbers: the weight penalties as they are, the activity one / batch
    np.testing.assert_allclose(keras, sorted([kernel_l2, bias_l1, activity / batch]),
                               rtol=1e-5)
    np.testing.assert_allclose(ours, sorted([kernel_l2, bias_l1, activity]), rtol=1e-5)


# get_config() key sets: cthulhu's equals Keras 2.15's (less the neutral post-2.2 keys),
# except: class -> (keys only cthulhu writes, keys only Keras writes, reason).
CONFIG_KEY_DIFFERENCES = {
    "Conv3DTranspose": ({"dilation_rate"}, set(),
                        "Keras 2.15 ignores dilation_rate there and drops it from its config"),
    "SeparableConv1D": (set(), {"kernel_initializer", "kernel_regularizer", "kernel_constraint"},
                        "Keras 2 ignores these on separable convolutions; cthulhu refuses them"),
    "SeparableConv2D": (set(), {"kernel_initializer", "kernel_regularizer", "kernel_constraint"},
                        "as SeparableConv1D"),
    "SpatialDropout2D": ({"data_format"}, set(),
                         "Keras 2.15 leaves data_format out of SpatialDropout2D/3D configs, so "
                         "a channels_first layer comes back channels_last; cthulhu keeps it"),
    "SpatialDropout3D": ({"data_format"}, set(), "as SpatialDropout2D"),
}


@pytest.mark.parametrize("case", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_config_key_sets_match_keras(case):
    for spec in case["layers"]:
        # batch_input_shape depends on how a layer was made (input_shape=, input_length=)
        ours = set(make_layer(spec).get_config()) - {"batch_input_shape"}
        keras = set(spec["config"]) - set(NEUTRAL_KEYS) - {"batch_input_shape"}
        keras -= set(spec.get("added_to_keras_config", ()))  # keys the generator added
        only_ours, only_keras, _ = CONFIG_KEY_DIFFERENCES.get(spec["class_name"],
                                                              (set(), set(), ""))
        assert ours - keras == only_ours, spec["class_name"]
        assert keras - ours == only_keras, spec["class_name"]
