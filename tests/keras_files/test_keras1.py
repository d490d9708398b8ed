"""Keras 1 files and words in Keras 2 terms, checked against tf-keras 2.15's loader.

The oracle (in the index, written by ``generate_keras1.py``): for each Keras 1 fixture, the
Keras 2 twin built by hand in tf-keras, its layer configs, and the weights tf-keras's
legacy HDF5 loader produced from the Keras 1 file (its Keras-1 conversions). The Theano
kernel flip, which tf-keras no longer applies, is checked against plain-loop convolutions.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cthulhu.saving.keras import (
    KerasFileError,
    convert_weights,
    read_keras_json,
    translate_keras1_layer,
)
from cthulhu.saving.keras import read_keras as _read_keras
from tests.support.keras_fixture_index import (
    entries,
    entry_id,
    index,
    model_entry,
    path_of,
    sibling,
    truth,
    truth_weights,
    walk_layers,
)

pytest.importorskip("h5py")


def read_keras(path, **kwargs):
    """In this process (test_keras_isolated.py checks the isolated child agrees)."""
    return _read_keras(path, isolate=False, **kwargs)


KERAS1_MODELS = [m for m, meta in index("keras1")["models"].items() if meta["keras2_layers"]]
KERAS1_CONFIGS = [item for item in entries() if item[0] == "keras1"
                  and item[1]["model"] in KERAS1_MODELS
                  and item[1]["format"] in ("hdf5_model", "json_config")]
# arguments whose Keras 2 value the translation must reproduce, where the twin has them
COMPARED = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
            "use_bias", "activation", "units", "rate", "size", "pool_size", "cropping",
            "depth_multiplier", "recurrent_activation", "input_dim", "output_dim",
            "mask_zero", "epsilon", "momentum", "return_sequences", "unit_forget_bias",
            "dtype")


def _canonical(key, value, rank):
    """Keras accepts an int for a per-axis tuple and (a, b) for ((a, a), (b, b)) paddings."""
    if key in ("kernel_size", "strides", "dilation_rate", "size", "pool_size") and rank:
        values = list(value) if isinstance(value, (list, tuple)) else [value] * rank
        return [int(v) for v in values]
    if key in ("padding", "cropping") and not isinstance(value, str):
        if isinstance(value, int):
            value = [value] * rank
        pairs = []
        for item in value:
            pairs.append(list(item) if isinstance(item, (list, tuple)) else [item, item])
        return pairs
    if isinstance(value, tuple):
        return list(value)
    return value


def _rank(class_name, config):
    for digit in "123":
        if digit + "D" in class_name:
            return int(digit)
    return 1 if class_name in ("UpSampling1D", "Cropping1D") else 0


@pytest.mark.parametrize("item", KERAS1_CONFIGS, ids=entry_id)
def test_keras1_config_in_keras2_words_matches_tfkeras_twin(item):
    folder, entry = item
    kfile = read_keras(path_of(folder, entry))
    assert kfile.generation == "keras1"
    oracle = {layer["config"]["name"]: layer
              for layer in model_entry(folder, entry["model"])["keras2_layers"]}
    seen = set()
    for path, layer, _ in walk_layers(kfile.model_config):
        name = path[-1]
        if name not in oracle:
            # the InputLayer Keras 2 made from the first layer's batch_input_shape
            assert layer["class_name"] == "InputLayer", name
            continue
        seen.add(name)
        twin = oracle[name]
        assert layer["class_name"] == twin["class_name"], name
        rank = _rank(twin["class_name"], twin["config"])
        for key in COMPARED:
            if key in twin["config"] and key in layer["config"]:
                mine = _canonical(key, layer["config"][key], rank)
                theirs = _canonical(key, twin["config"][key], rank)
                assert mine == theirs, (name, key, mine, theirs)
            elif key in twin["config"] and key in ("filters", "units", "kernel_size",
                                                    "strides", "padding", "data_format"):
                pytest.fail(f"{name}: translation lost {key!r}")
    missing = set(oracle) - seen
    assert all(oracle[n]["class_name"] == "InputLayer" for n in missing), missing


@pytest.mark.parametrize("model", KERAS1_MODELS)
def test_keras1_input_shape_is_the_twins(model):
    kfile = read_keras(path_of("keras1", sibling("keras1", model, "hdf5_model")))
    first = kfile.model_config["config"]["layers"][0]
    assert first["class_name"] == "InputLayer"
    shape = first["config"]["batch_input_shape"]
    x = truth("keras1", f"{model}.truth.npz")["input/0"]
    assert list(shape[1:]) == list(x.shape[1:])
    assert first["config"]["dtype"] == x.dtype.name  # Keras 1's input_dtype: int32 tokens
    assert "input_dtype" not in kfile.model_config["config"]["layers"][1]["config"]


@pytest.mark.parametrize("model", KERAS1_MODELS)
def test_keras1_weights_equal_tfkeras_loader(model):
    kfile = read_keras(path_of("keras1", sibling("keras1", model, "hdf5_model")))
    assert kfile.weights_converted
    oracle = truth_weights("keras1", f"{model}.truth.npz")
    assert set(kfile.weights) == set(oracle)
    for key, arrays in oracle.items():
        for mine, theirs in zip(kfile.weights[key], arrays, strict=True):
            np.testing.assert_array_equal(mine, theirs)


def test_keras1_json_and_h5_read_alike():
    for model in KERAS1_MODELS:
        h5 = read_keras(path_of("keras1", sibling("keras1", model, "hdf5_model")))
        text = path_of("keras1", sibling("keras1", model, "json_config")).read_text()
        js = read_keras_json(text)
        assert js.model_config == h5.model_config, model
        assert js.generation == "keras1"


def test_keras1_file_without_version_is_keras1():
    kfile = read_keras(path_of("keras1", sibling("keras1", "k1_conv1d_legacy", "hdf5_model")))
    assert kfile.keras_version is None and kfile.generation == "keras1"
    assert any("Keras 1.0 Convolution1D" in note for note in kfile.notes)


def test_keras1_lstm_gates_reordered():
    kfile = read_keras(path_of("keras1", sibling("keras1", "k1_lstm_gates", "hdf5_model")))
    assert kfile.weight_names[("lstm_1",)] == ["kernel", "recurrent_kernel", "bias"]
    # by hand: Keras 1.1 stores W_i, U_i, b_i, W_c, U_c, b_c, W_f, ..., Keras 2 wants i, f, c, o
    raw = read_keras(path_of("keras1", sibling("keras1", "k1_lstm_gates",
                                               "hdf5_weights_legacy")))
    gates = dict(zip(raw.weight_names[("lstm_1",)], raw.weights[("lstm_1",)], strict=True))
    kernel = kfile.weights[("lstm_1",)][0]
    for g, gate in enumerate("ifco"):
        np.testing.assert_array_equal(kernel[:, 5 * g:5 * (g + 1)], gates[f"lstm_1_W_{gate}"])


def test_keras1_weight_only_files_wait_for_the_target_layer():
    kfile = read_keras(path_of("keras1", sibling("keras1", "k1_conv2d_th",
                                                 "hdf5_weights_legacy")))
    assert not kfile.weights_converted and kfile.generation == "keras1"
    assert kfile.weights[("convolution2d_1",)][0].shape == (4, 3, 3, 3)  # (F, C, r, c)


def test_keras1_lambda_is_recorded_never_decoded():
    for fmt in ("hdf5_model", "json_config"):
        kfile = read_keras(path_of("keras1", sibling("keras1", "k1_lambda", fmt)))
        assert [(r.path, r.kind) for r in kfile.code] == [(("lambda_1",), "lambda")]
    kfile = read_keras(path_of("keras1", sibling("keras1", "k1_lambda", "hdf5_model")))
    stored = truth_weights("keras1", "k1_lambda.truth.npz", prefix="keras1_weights/")
    for key, arrays in stored.items():
        for mine, theirs in zip(kfile.weights[key], arrays, strict=True):
            np.testing.assert_array_equal(mine, theirs)


# ---------------------------------------------------------------------------
# The Theano flip: a true convolution (Theano) vs a cross-correlation (TensorFlow)
# ---------------------------------------------------------------------------

def _true_convolution(x, kernel):
    """Theano's conv2d, 'valid', as a plain loop: the kernel is applied flipped."""
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, f))
    for b, i, j, o in itertools.product(range(n), range(h - kh + 1), range(w - kw + 1),
                                        range(f)):
        total = 0.0
        for a, d, ch in itertools.product(range(kh), range(kw), range(c)):
            total += x[b, i + a, j + d, ch] * kernel[kh - 1 - a, kw - 1 - d, ch, o]
        out[b, i, j, o] = total
    return out


def _cross_correlation(x, kernel):
    """TensorFlow's (and cthulhu's) conv2d, 'valid', as a plain loop."""
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, f))
    for b, i, j, o in itertools.product(range(n), range(h - kh + 1), range(w - kw + 1),
                                        range(f)):
        total = 0.0
        for a, d, ch in itertools.product(range(kh), range(kw), range(c)):
            total += x[b, i + a, j + d, ch] * kernel[a, d, ch, o]
        out[b, i, j, o] = total
    return out


def test_theano_kernels_flipped_so_correlation_equals_theano_convolution():
    kfile = read_keras(path_of("keras1", sibling("keras1", "keras2_theano", "hdf5_model")))
    assert kfile.backend == "theano" and kfile.generation == "keras2"
    data = truth("keras1", "keras2_theano.truth.npz")
    x = data["input/0"].astype(np.float64)
    stored = data["file_weights/conv2d_1/0"].astype(np.float64)
    converted = kfile.weights[("conv2d_1",)][0].astype(np.float64)
    theano = _true_convolution(x, stored)
    np.testing.assert_allclose(_cross_correlation(x, converted), theano, atol=1e-9)
    # and not a no-op: the stored kernel under correlation gives another answer
    assert np.abs(_cross_correlation(x, stored) - theano).max() > 1e-2
    # Dense weights are never flipped
    np.testing.assert_array_equal(kfile.weights[("dense_1",)][0], data["file_weights/dense_1/0"])
    assert any("Theano-trained kernel flipped" in note for note in kfile.notes)


def test_keras1_theano_declared_by_caller_flips_too():
    path = path_of("keras1", sibling("keras1", "k1_conv2d_th", "hdf5_model"))
    plain = read_keras(path)
    flipped = read_keras(path, original_backend="theano")
    assert plain.backend is None and flipped.backend == "theano"
    np.testing.assert_array_equal(flipped.weights[("convolution2d_1",)][0],
                                  plain.weights[("convolution2d_1",)][0][::-1, ::-1])
    np.testing.assert_array_equal(flipped.weights[("dense_1",)][0],
                                  plain.weights[("dense_1",)][0])


def test_convert_weights_flips_every_spatial_axis_only():
    rng = np.random.default_rng(3)
    for class_name, shape in (("Conv1D", (3, 2, 4)), ("Conv3D", (2, 3, 2, 2, 3)),
                              ("Conv2DTranspose", (3, 2, 4, 5))):
        kernel = rng.standard_normal(shape)
        (out, bias), _ = convert_weights(class_name, {}, [kernel, np.ones(2)], "2.1.6", "theano")
        expected = kernel[tuple(slice(None, None, -1) for _ in shape[:-2])]
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(bias, np.ones(2))
    dense = rng.standard_normal((3, 4))
    (out,), notes = convert_weights("Dense", {}, [dense], "2.1.6", "theano")
    assert out is dense and not notes


# ---------------------------------------------------------------------------
# Keras 1 words, one rule at a time
# ---------------------------------------------------------------------------

def test_translate_convolution2d():
    name, cfg, notes = translate_keras1_layer("Convolution2D", {
        "name": "c", "nb_filter": 8, "nb_row": 3, "nb_col": 2, "init": "uniform",
        "border_mode": "same", "subsample": [2, 1], "dim_ordering": "th", "bias": False,
        "W_regularizer": {"name": "WeightRegularizer", "l1": 0.0, "l2": 0.01},
        "W_constraint": {"name": "MaxNorm", "m": 2, "axis": 0}})
    assert name == "Conv2D"
    assert cfg == {"name": "c", "filters": 8, "kernel_size": [3, 2], "padding": "same",
                   "strides": [2, 1], "data_format": "channels_first", "use_bias": False,
                   "kernel_initializer": "random_uniform",
                   "kernel_regularizer": {"class_name": "L1L2",
                                          "config": {"l1": 0.0, "l2": 0.01}},
                   "kernel_constraint": {"class_name": "MaxNorm",
                                         "config": {"max_value": 2, "axis": 0}}}
    assert notes == ["c: Keras 1 Convolution2D read as Conv2D"]


def test_translate_atrous_and_deconvolution():
    name, cfg, _ = translate_keras1_layer("AtrousConvolution1D", {
        "name": "a", "nb_filter": 2, "filter_length": 3, "atrous_rate": 4,
        "subsample_length": 1, "border_mode": "valid", "input_dim": 5, "input_length": 9})
    assert name == "Conv1D"
    assert (cfg["filters"], cfg["kernel_size"], cfg["dilation_rate"], cfg["strides"]) == (
        2, 3, 4, 1)
    assert cfg["batch_input_shape"] == [None, 9, 5] and "input_dim" not in cfg
    name, cfg, notes = translate_keras1_layer("Deconvolution2D", {
        "name": "d", "nb_filter": 3, "nb_row": 3, "nb_col": 3,
        "output_shape": [None, 3, 25, 25], "subsample": [2, 2], "dim_ordering": "th"})
    assert name == "Conv2DTranspose" and "output_shape" not in cfg
    assert cfg["keras1_dropped"] == {"output_shape": [None, 3, 25, 25]}
    assert any("output_shape" in note for note in notes)


def test_translate_separable_and_conv3d():
    name, cfg, _ = translate_keras1_layer("SeparableConvolution2D", {
        "name": "s", "nb_filter": 4, "nb_row": 3, "nb_col": 3, "init": "glorot_normal",
        "depth_multiplier": 2, "dim_ordering": "tf", "bias": True})
    assert name == "SeparableConv2D"
    assert cfg["depthwise_initializer"] == cfg["pointwise_initializer"] == "glorot_normal"
    assert cfg["data_format"] == "channels_last" and cfg["use_bias"] is True
    name, cfg, _ = translate_keras1_layer("Convolution3D", {
        "name": "v", "nb_filter": 2, "kernel_dim1": 1, "kernel_dim2": 2, "kernel_dim3": 3,
        "subsample": [1, 1, 2], "dim_ordering": "tf"})
    assert name == "Conv3D" and cfg["kernel_size"] == [1, 2, 3] and cfg["strides"] == [1, 1, 2]


def test_translate_recurrent_dense_embedding_dropout():
    name, cfg, _ = translate_keras1_layer("LSTM", {
        "name": "l", "output_dim": 7, "init": "glorot_uniform", "inner_init": "orthogonal",
        "forget_bias_init": "one", "inner_activation": "hard_sigmoid", "dropout_W": 0.1,
        "dropout_U": 0.2, "consume_less": "gpu", "U_regularizer": None,
        "input_dim": 3, "input_length": None})
    assert cfg == {"name": "l", "units": 7, "kernel_initializer": "glorot_uniform",
                   "recurrent_initializer": "orthogonal", "unit_forget_bias": True,
                   "recurrent_activation": "hard_sigmoid", "dropout": 0.1,
                   "recurrent_dropout": 0.2, "implementation": 2,
                   "recurrent_regularizer": None, "batch_input_shape": [None, None, 3]}
    _, cfg, _ = translate_keras1_layer("LSTM", {"name": "l", "output_dim": 2,
                                                "forget_bias_init": "zero"})
    assert cfg["keras1_dropped"] == {"forget_bias_init": "zero"} and "unit_forget_bias" not in cfg
    _, cfg, _ = translate_keras1_layer("Dense", {"name": "d", "output_dim": 4, "bias": False,
                                                 "input_dim": 6, "init": "zero"})
    assert cfg == {"name": "d", "units": 4, "use_bias": False, "batch_input_shape": [None, 6],
                   "kernel_initializer": "zeros"}
    _, cfg, _ = translate_keras1_layer("Embedding", {"name": "e", "input_dim": 9,
                                                     "output_dim": 3, "dropout": 0.5,
                                                     "W_regularizer": None, "init": "normal"})
    assert cfg == {"name": "e", "input_dim": 9, "output_dim": 3,
                   "embeddings_regularizer": None, "embeddings_initializer": "random_normal",
                   "keras1_dropped": {"dropout": 0.5}}
    assert translate_keras1_layer("Dropout", {"name": "x", "p": 0.3})[1] == {"name": "x",
                                                                             "rate": 0.3}
    assert translate_keras1_layer("SpatialDropout2D", {"name": "x", "p": 0.3,
                                                       "dim_ordering": "th"})[1] == {
        "name": "x", "rate": 0.3, "data_format": "channels_first"}


def test_translate_pooling_upsampling_padding():
    _, cfg, _ = translate_keras1_layer("MaxPooling1D", {"name": "p", "pool_length": 3,
                                                        "stride": 2, "border_mode": "same"})
    assert cfg == {"name": "p", "pool_size": 3, "strides": 2, "padding": "same",
                   "data_format": "channels_last"}
    _, cfg, _ = translate_keras1_layer("AveragePooling2D", {
        "name": "p", "pool_size": [2, 2], "strides": None, "border_mode": "valid",
        "dim_ordering": "th"})
    assert cfg["padding"] == "valid" and cfg["data_format"] == "channels_first"
    assert translate_keras1_layer("UpSampling1D", {"name": "u", "length": 3})[1] == {
        "name": "u", "size": 3}
    _, cfg, _ = translate_keras1_layer("ZeroPadding2D", {
        "name": "z", "padding": {"top_pad": 1, "bottom_pad": 2, "left_pad": 0, "right_pad": 3},
        "dim_ordering": "tf"})
    assert cfg["padding"] == [[1, 2], [0, 3]] and cfg["data_format"] == "channels_last"
    _, cfg, _ = translate_keras1_layer("ZeroPadding2D", {"name": "z", "padding": [1, 2, 3, 4]})
    assert cfg["padding"] == [[1, 2], [3, 4]]
    _, cfg, _ = translate_keras1_layer("Flatten", {"name": "f"})
    assert cfg["data_format"] == "channels_last"  # Keras 1 flattens in memory order


def test_translate_merge_modes():
    expected = {"sum": ("Add", {}), "mul": ("Multiply", {}), "ave": ("Average", {}),
                "max": ("Maximum", {}), "concat": ("Concatenate", {"axis": 1}),
                "dot": ("Dot", {"axes": 2, "normalize": False}),
                "cos": ("Dot", {"axes": 2, "normalize": True})}
    for mode, (class_name, extra) in expected.items():
        name, cfg, _ = translate_keras1_layer("Merge", {
            "name": "m", "mode": mode, "concat_axis": 1, "dot_axes": 2, "mode_type": "raw",
            "output_shape": None, "arguments": {}})
        assert name == class_name, mode
        assert cfg == {"name": "m", "trainable": True, **extra}, mode


def test_translate_keeps_what_keras2_cannot_say():
    # Theano's 'full' border mode has no Keras 2 word: kept, for the catalog to refuse
    _, cfg, _ = translate_keras1_layer("Convolution2D", {"name": "c", "nb_filter": 1,
                                                         "nb_row": 3, "nb_col": 3,
                                                         "border_mode": "full"})
    assert cfg["padding"] == "full"
    _, cfg, _ = translate_keras1_layer("BatchNormalization", {"name": "b", "mode": 2,
                                                              "beta_init": "zero"})
    assert cfg["mode"] == 2 and cfg["beta_initializer"] == "zeros"
    name, cfg, notes = translate_keras1_layer("UpSampling2D", {"name": "u", "size": [2, 2],
                                                               "dim_ordering": "default"})
    assert cfg["data_format"] is None and any("'default'" in n for n in notes)
    name, cfg, _ = translate_keras1_layer("Merge", {"name": "m", "mode": "AAAA",
                                                    "mode_type": "lambda"})
    assert name == "Merge" and cfg["mode_type"] == "lambda"


def test_translate_refuses_both_words():
    with pytest.raises(KerasFileError, match="Keras 1 argument 'nb_filter' and the Keras 2 'filters' are both given"):
        translate_keras1_layer("Convolution2D", {"name": "c", "nb_filter": 2, "filters": 2,
                                                 "nb_row": 1, "nb_col": 1})


def test_conv1d_kernel_of_neither_layout_refused():
    with pytest.raises(KerasFileError, match="fits neither"):
        convert_weights("Conv1D", {"kernel_size": 3, "filters": 2},
                        [np.zeros((5, 1, 4, 7)), np.zeros(2)], "1.2.2", None)
