"""Generate the Keras 2 reference fixture of issue 10's first layers.

Normalization (``BatchNormalization``, ``LayerNormalization``), merge (``Add`` ...
``Dot``, ``Concatenate``), advanced activations (``LeakyReLU``, ``PReLU``, ``ELU``,
``ThresholdedReLU``, ``ReLU``, ``Softmax``) and noise layers (``GaussianNoise``,
``GaussianDropout``, ``AlphaDropout``). Like ``generate.py`` beside it, this
script runs ONLY under a TensorFlow virtual environment, never in the test
suite (``test_keras_layers2.py`` reads the stored files with plain NumPy)::

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1 numpy
    /tmp/tfenv/bin/python tests/keras_reference/generate_layers2.py

It writes ``keras2_reference_layers2.npz`` (every array, no pickles) and
``keras2_reference_layers2.json`` (the index). Each case is one Keras layer:
its class name and ``get_config()``, its inputs (a list for the merges), its
weights in ``get_weights()`` order, whether it was called with
``training=True`` (then also the weights after the call: a batch
normalisation's updated moving statistics), an optional mask, and Keras's
output, output mask (merges), ``compute_output_shape`` for an unknown batch,
or the error Keras raised (the refusal cases). Inputs and weights come from
NumPy generators seeded per case, so a second run rewrites identical files.

The noise layers' training outputs are random in both libraries: the fixture
keeps large samples, whose moments (and, for ``AlphaDropout``, the two values
a unit can take) the test compares.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

K = tf.keras
L = tf.keras.layers
SEED = 20260310
HERE = Path(__file__).resolve().parent
NPZ = HERE / "keras2_reference_layers2.npz"
INDEX = HERE / "keras2_reference_layers2.json"


def case(case_id, cls, kwargs, shapes, **options):
    """One case: a Keras layer class and arguments, the input shape(s) (a list: a merge)."""
    return (case_id, cls, kwargs, shapes, options)


def build_cases():
    cases = []
    add = cases.append

    # ---- BatchNormalization, inference: the moving statistics
    add(case("bn_rank2", "BatchNormalization", {}, (3, 5)))
    add(case("bn_rank3_axis1", "BatchNormalization", {"axis": 1}, (2, 4, 3)))
    add(case("bn_rank4_cl", "BatchNormalization", {}, (2, 3, 4, 5)))
    add(case("bn_rank4_cf", "BatchNormalization", {"axis": 1}, (2, 5, 3, 4)))
    add(case("bn_rank4_axis2", "BatchNormalization", {"axis": 2, "epsilon": 0.01},
             (2, 3, 4, 5)))
    add(case("bn_rank4_axis_minus3", "BatchNormalization", {"axis": -3}, (2, 3, 4, 2)))
    add(case("bn_rank5_cl", "BatchNormalization", {"epsilon": 1e-5}, (1, 2, 3, 4, 3)))
    add(case("bn_rank5_cf", "BatchNormalization", {"axis": 1}, (1, 3, 2, 3, 4)))
    add(case("bn_multi_axis", "BatchNormalization", {"axis": [1, 3]}, (2, 3, 4, 5)))
    add(case("bn_no_center", "BatchNormalization", {"center": False}, (3, 4)))
    add(case("bn_no_scale", "BatchNormalization", {"scale": False}, (3, 4)))
    add(case("bn_neither", "BatchNormalization", {"center": False, "scale": False,
                                                  "axis": 1}, (2, 3, 4, 2)))
    add(case("bn_f64", "BatchNormalization", {"dtype": "float64"}, (2, 3, 4, 5),
             dtype="float64"))
    add(case("bn_f16", "BatchNormalization", {"dtype": "float16"}, (2, 3, 4, 5),
             dtype="float16"))
    # ---- BatchNormalization, training=True: batch statistics and the moving update
    train = {"training": True}
    add(case("bn_train_rank2", "BatchNormalization", {}, (6, 4), **train))
    add(case("bn_train_rank3", "BatchNormalization", {"momentum": 0.9}, (3, 5, 4), **train))
    add(case("bn_train_rank4_cl", "BatchNormalization", {}, (2, 3, 4, 5), **train))
    add(case("bn_train_rank4_cf", "BatchNormalization", {"axis": 1, "momentum": 0.8},
             (2, 5, 3, 4), **train))
    add(case("bn_train_rank4_axis2", "BatchNormalization", {"axis": 2}, (2, 3, 4, 5),
             **train))
    add(case("bn_train_rank5_cl", "BatchNormalization", {}, (2, 2, 3, 2, 3), **train))
    add(case("bn_train_rank5_cf", "BatchNormalization", {"axis": 1}, (2, 3, 2, 3, 2),
             **train))
    add(case("bn_train_rank5_axis3", "BatchNormalization", {"axis": 3}, (2, 2, 3, 4, 2),
             **train))
    add(case("bn_train_multi_axis", "BatchNormalization", {"axis": [1, 3]}, (3, 2, 4, 3),
             **train))
    add(case("bn_train_no_center_scale", "BatchNormalization",
             {"center": False, "scale": False}, (2, 3, 3, 4), **train))
    add(case("bn_train_f64", "BatchNormalization", {"dtype": "float64"}, (2, 3, 4, 5),
             dtype="float64", **train))
    add(case("bn_train_single_position", "BatchNormalization", {}, (1, 1, 1, 3), **train))
    add(case("bn_train_masked", "BatchNormalization", {}, (3, 5, 4),
             mask=[(0, 1), (1, 4), (2, 0), (2, 2)], **train))
    add(case("bn_train_not_trainable", "BatchNormalization", {"trainable": False},
             (4, 3), **train))

    # ---- LayerNormalization
    add(case("ln_rank2", "LayerNormalization", {}, (3, 6)))
    add(case("ln_rank3", "LayerNormalization", {"epsilon": 1e-6}, (2, 4, 5)))
    add(case("ln_rank4_trailing", "LayerNormalization", {"axis": [1, 2, 3]}, (2, 3, 4, 2)))
    add(case("ln_rank4_spatial", "LayerNormalization", {"axis": [1, 2]}, (2, 3, 4, 2)))
    add(case("ln_axis1", "LayerNormalization", {"axis": 1}, (2, 4, 3)))
    add(case("ln_unsorted_axes", "LayerNormalization", {"axis": [-1, 1]}, (2, 3, 4)))
    add(case("ln_no_center_scale", "LayerNormalization", {"center": False, "scale": False},
             (2, 5)))
    add(case("ln_f64", "LayerNormalization", {"dtype": "float64"}, (2, 3, 4),
             dtype="float64"))
    add(case("ln_f16", "LayerNormalization", {"dtype": "float16"}, (2, 3, 6),
             dtype="float16"))

    # ---- merges
    add(case("add_two", "Add", {}, [(2, 3, 4), (2, 3, 4)]))
    add(case("add_three", "Add", {}, [(2, 5), (2, 5), (2, 5)]))
    add(case("add_single", "Add", {}, [(2, 4)]))
    add(case("add_broadcast", "Add", {}, [(2, 3, 4), (2, 1, 4)]))
    add(case("add_lower_rank", "Add", {}, [(2, 3, 4), (2, 4)]))
    add(case("add_rank_expansion", "Add", {}, [(2, 3), (2, 3, 1)]))
    add(case("add_f64", "Add", {"dtype": "float64"}, [(2, 3), (2, 3)], dtype="float64"))
    add(case("add_f16", "Add", {"dtype": "float16"}, [(2, 3), (2, 3)], dtype="float16"))
    add(case("subtract", "Subtract", {}, [(2, 3, 2), (2, 3, 2)]))
    add(case("subtract_broadcast", "Subtract", {}, [(2, 3, 2), (2, 1, 1)]))
    add(case("multiply_three", "Multiply", {}, [(2, 4), (2, 4), (2, 1)]))
    add(case("average", "Average", {}, [(2, 3, 4), (2, 3, 4), (2, 3, 4)]))
    add(case("average_broadcast", "Average", {}, [(2, 1, 4), (2, 3, 1)]))
    add(case("maximum", "Maximum", {}, [(2, 5), (2, 5)]))
    add(case("minimum", "Minimum", {}, [(2, 2, 3), (2, 2, 3), (2, 2, 3)]))
    add(case("concatenate_last", "Concatenate", {}, [(2, 3, 4), (2, 3, 2)]))
    add(case("concatenate_axis1", "Concatenate", {"axis": 1}, [(2, 3, 4), (2, 1, 4),
                                                               (2, 2, 4)]))
    add(case("concatenate_axis_minus2", "Concatenate", {"axis": -2},
             [(2, 2, 3, 4), (2, 2, 1, 4)]))
    add(case("concatenate_single", "Concatenate", {}, [(2, 3)]))
    add(case("concatenate_f64", "Concatenate", {"dtype": "float64"}, [(2, 3), (2, 2)],
             dtype="float64"))
    add(case("dot_2d", "Dot", {"axes": 1}, [(3, 4), (3, 4)]))
    add(case("dot_2d_normalize", "Dot", {"axes": -1, "normalize": True}, [(3, 4), (3, 4)]))
    add(case("dot_3d_last", "Dot", {"axes": -1}, [(2, 3, 4), (2, 5, 4)]))
    add(case("dot_3d_pair", "Dot", {"axes": [1, 2]}, [(2, 3, 4), (2, 5, 3)]))
    add(case("dot_3d_2d", "Dot", {"axes": [2, 1]}, [(2, 3, 4), (2, 4)]))
    add(case("dot_2d_3d", "Dot", {"axes": (1, 2)}, [(2, 4), (2, 3, 4)]))
    add(case("dot_4d_3d", "Dot", {"axes": [3, 1], "normalize": True},
             [(2, 2, 3, 4), (2, 4, 3)]))
    add(case("dot_f64", "Dot", {"axes": 1, "dtype": "float64"}, [(2, 5), (2, 5)],
             dtype="float64"))
    # ---- merges with masks (compute_mask)
    masks = [[(0, 1), (1, 2)], [(1, 0)]]
    add(case("add_masked", "Add", {}, [(2, 4, 3), (2, 4, 3)], masks=masks))
    add(case("concatenate_masked_last", "Concatenate", {}, [(2, 4, 3), (2, 4, 2)],
             masks=[[(0, 1), (1, 2)], None]))
    add(case("concatenate_masked_axis1", "Concatenate", {"axis": 1}, [(2, 3, 2), (2, 2, 2)],
             masks=[[(0, 1)], [(1, 0)]]))
    # ---- merges Keras refuses
    add(case("add_incompatible", "Add", {}, [(2, 3), (2, 4)], error=True))
    add(case("add_batch_mismatch", "Add", {}, [(2, 3), (1, 3)], error=True))
    add(case("subtract_three", "Subtract", {}, [(2, 3), (2, 3), (2, 3)], error=True))
    add(case("concatenate_mismatch", "Concatenate", {}, [(2, 3, 4), (2, 2, 4)], error=True))
    add(case("concatenate_ranks", "Concatenate", {}, [(2, 3, 4), (2, 3)], error=True))
    add(case("dot_size_mismatch", "Dot", {"axes": 1}, [(2, 3), (2, 4)], error=True))
    add(case("dot_batch_axis", "Dot", {"axes": 0}, [(2, 3), (2, 3)], error=True))

    # ---- advanced activations
    add(case("leaky_relu_default", "LeakyReLU", {}, (3, 6), scale=3.0))
    add(case("leaky_relu_alpha", "LeakyReLU", {"alpha": 0.1}, (2, 3, 4), scale=3.0))
    add(case("leaky_relu_f64", "LeakyReLU", {"alpha": 0.3, "dtype": "float64"}, (3, 5),
             dtype="float64", scale=3.0))
    add(case("prelu_full", "PReLU", {}, (2, 3, 4), scale=2.0))
    add(case("prelu_shared", "PReLU", {"shared_axes": [1, 2]}, (2, 3, 4, 5), scale=2.0))
    add(case("prelu_shared_cf", "PReLU", {"shared_axes": [2, 3]}, (2, 3, 4, 2), scale=2.0))
    add(case("prelu_shared_int", "PReLU", {"shared_axes": 1}, (2, 3, 4), scale=2.0))
    add(case("elu_default", "ELU", {}, (3, 6), scale=3.0))
    add(case("elu_alpha", "ELU", {"alpha": 0.5}, (2, 3, 4), scale=3.0))
    add(case("elu_f64", "ELU", {"alpha": 1.7, "dtype": "float64"}, (3, 5), dtype="float64",
             scale=3.0))
    add(case("thresholded_relu_default", "ThresholdedReLU", {}, (3, 6), scale=2.0))
    add(case("thresholded_relu_theta", "ThresholdedReLU", {"theta": 0.3}, (2, 3, 4),
             scale=2.0))
    add(case("relu_default", "ReLU", {}, (3, 6), scale=3.0))
    add(case("relu6", "ReLU", {"max_value": 6.0}, (3, 6), scale=5.0))
    add(case("relu_slope", "ReLU", {"negative_slope": 0.2}, (3, 6), scale=3.0))
    add(case("relu_threshold", "ReLU", {"threshold": 0.5}, (3, 6), scale=3.0))
    add(case("relu_all", "ReLU", {"max_value": 2.0, "negative_slope": 0.1, "threshold": 0.5},
             (2, 3, 4), scale=3.0))
    add(case("relu_f64", "ReLU", {"max_value": 1.5, "negative_slope": 0.3, "dtype": "float64"},
             (3, 5), dtype="float64", scale=3.0))
    add(case("softmax_default", "Softmax", {}, (3, 6), scale=3.0))
    add(case("softmax_axis1", "Softmax", {"axis": 1}, (2, 3, 4), scale=3.0))
    add(case("softmax_axes", "Softmax", {"axis": [1, 2]}, (2, 3, 4), scale=3.0))
    add(case("softmax_axis_list_one", "Softmax", {"axis": [-1]}, (2, 3, 4), scale=3.0))
    # an attention-style mask of the input's shape (Keras adds it, broadcasting at the end)
    add(case("softmax_masked", "Softmax", {}, (2, 3, 4), scale=3.0, full_mask=True))
    add(case("softmax_f64", "Softmax", {"dtype": "float64"}, (2, 5), dtype="float64",
             scale=3.0))
    add(case("softmax_f16", "Softmax", {"dtype": "float16"}, (2, 5), dtype="float16",
             scale=3.0))

    # ---- noise layers: the identity at inference, samples in training
    add(case("gaussian_noise_inference", "GaussianNoise", {"stddev": 0.5}, (2, 3)))
    add(case("gaussian_dropout_inference", "GaussianDropout", {"rate": 0.3}, (2, 3)))
    add(case("alpha_dropout_inference", "AlphaDropout", {"rate": 0.2}, (2, 3)))
    add(case("gaussian_noise_train", "GaussianNoise", {"stddev": 0.5, "seed": 1},
             (64, 64), sample=True, **train))
    add(case("gaussian_dropout_train", "GaussianDropout", {"rate": 0.3, "seed": 1},
             (64, 64), sample=True, **train))
    add(case("alpha_dropout_train", "AlphaDropout", {"rate": 0.2, "seed": 1},
             (64, 64), sample=True, **train))
    add(case("alpha_dropout_noise_shape", "AlphaDropout",
             {"rate": 0.4, "noise_shape": (64, 1), "seed": 2}, (64, 16), sample=True,
             **train))
    return cases


# ---------------------------------------------------------------------------
# Running Keras
# ---------------------------------------------------------------------------

def draw_weights(rng, keras_layer, dtype):
    """Weights in get_weights() order: positive variances, gammas near 1."""
    out = []
    for variable, value in zip(keras_layer.weights, keras_layer.get_weights(), strict=True):
        name = variable.name.split("/")[-1].split(":")[0]
        if "variance" in name:
            w = rng.uniform(0.5, 1.5, value.shape)
        elif name == "gamma":
            w = 1.0 + 0.3 * rng.standard_normal(value.shape)
        else:
            w = 0.5 * rng.standard_normal(value.shape)
        out.append(w.astype(value.dtype))
    return out


def mask_of(shape, masked):
    """A boolean mask over the first two axes, False at the ``masked`` (sample, step) pairs."""
    mask = np.ones(shape[:2], dtype=bool)
    for sample, step in masked:
        mask[sample, step] = False
    return mask


def shape_list(shape):
    return [None if d is None else int(d) for d in tf.TensorShape(shape).as_list()]


def run_case(number, case_id, cls, kwargs, shapes, options, arrays):
    rng = np.random.default_rng([SEED, number])
    dtype = options.get("dtype", "float32")
    merge = isinstance(shapes, list)
    shape_list_in = shapes if merge else [shapes]
    xs = [(rng.standard_normal(s) * options.get("scale", 1.0)).astype(dtype)
          for s in shape_list_in]
    entry = {"id": case_id, "class_name": cls, "keras_kwargs": kwargs, "merge": merge,
             "input_dtype": dtype,
             "input_shapes": [list(s) for s in shape_list_in], "inputs": [],
             "training": bool(options.get("training")), "sample": bool(options.get("sample")),
             "mask": None, "masks": None, "error": None, "weights": [], "weight_names": [],
             "updated_weights": [], "outputs": [], "output_mask": None, "note": None}
    for k, x in enumerate(xs):
        arrays[f"{case_id}/input{k}"] = x
        entry["inputs"].append(f"{case_id}/input{k}")
    layer = getattr(L, cls)(**kwargs)
    entry["config"] = layer.get_config()
    if options.get("error"):
        try:
            layer([tf.constant(x) for x in xs])
        except (ValueError, tf.errors.InvalidArgumentError) as exc:
            entry["error"] = {"type": type(exc).__name__, "message": str(exc).splitlines()[0]}
            return entry
        raise RuntimeError(f"{case_id}: Keras accepted the inputs")
    layer.build([tuple(s) for s in shape_list_in] if merge else shape_list_in[0])
    entry["config"] = layer.get_config()  # after build: Keras rewrites some axes
    weights = draw_weights(rng, layer, dtype)
    layer.set_weights(weights)
    for j, w in enumerate(weights):
        arrays[f"{case_id}/w{j}"] = w
        entry["weights"].append(f"{case_id}/w{j}")
    entry["weight_names"] = [v.name.split("/")[-1].split(":")[0] for v in layer.weights]
    call = {"training": bool(options.get("training"))}
    if "mask" in options:
        mask = mask_of(shape_list_in[0], options["mask"])
        arrays[f"{case_id}/mask"] = mask
        entry["mask"] = f"{case_id}/mask"
        call["mask"] = tf.constant(mask)
    if options.get("full_mask"):
        mask = rng.random(shape_list_in[0]) < 0.7
        arrays[f"{case_id}/mask"] = mask
        entry["mask"] = f"{case_id}/mask"
        call["mask"] = tf.constant(mask)
    if "masks" in options:
        masks, keys = [], []
        for k, masked in enumerate(options["masks"]):
            if masked is None:
                masks.append(None)
                keys.append(None)
                continue
            m = mask_of(shape_list_in[k], masked)
            arrays[f"{case_id}/mask{k}"] = m
            masks.append(tf.constant(m))
            keys.append(f"{case_id}/mask{k}")
        entry["masks"] = keys
    inputs = [tf.constant(x) for x in xs] if merge else tf.constant(xs[0])
    out = layer(inputs, **call)
    arrays[f"{case_id}/output0"] = out.numpy()
    entry["outputs"].append(f"{case_id}/output0")
    entry["output_dtype"] = out.dtype.name
    if "masks" in options:  # a merge's call takes no mask: its compute_mask combines them
        out_mask = layer.compute_mask(inputs, masks)
        if out_mask is not None:
            arrays[f"{case_id}/output_mask"] = out_mask.numpy()
            entry["output_mask"] = f"{case_id}/output_mask"
    if options.get("training"):
        for j, w in enumerate(layer.get_weights()):
            arrays[f"{case_id}/updated{j}"] = w
            entry["updated_weights"].append(f"{case_id}/updated{j}")
    unknown_batch = ([(None, *s[1:]) for s in shape_list_in] if merge
                     else (None, *shape_list_in[0][1:]))
    entry["output_shape"] = shape_list(layer.compute_output_shape(unknown_batch))
    return entry


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or type(obj).__name__ == "ListWrapper":
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, np.ndarray)):
        return float(obj)
    return obj


def main():
    tf.config.set_visible_devices([], "GPU")
    arrays, index = {}, []
    for number, (case_id, cls, kwargs, shapes, options) in enumerate(build_cases(), start=1):
        index.append(run_case(number, case_id, cls, kwargs, shapes, options, arrays))
    ids = [e["id"] for e in index]
    if len(set(ids)) != len(ids):
        sys.exit("duplicate case ids")
    np.savez_compressed(NPZ, **arrays)
    import keras

    meta = {"generator": "tests/keras_reference/generate_layers2.py",
            "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "seed": SEED, "cases": index}
    INDEX.write_text(json.dumps(jsonable(meta), indent=1) + "\n")
    print(f"{len(index)} cases, {len(arrays)} arrays, {NPZ.stat().st_size / 1e6:.2f} MB npz, "
          f"{INDEX.stat().st_size / 1e6:.2f} MB json")


if __name__ == "__main__":
    main()
