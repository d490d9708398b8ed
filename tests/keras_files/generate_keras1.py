"""Generate the Keras 1 fixtures of ``tests/keras_files`` and their tf-keras oracle.

Never run by the test suite; only in the tf-keras venv (see README.md)::

    /tmp/kf_tf215/bin/python tests/keras_files/generate_keras1.py

Keras 1 itself (Python 2 era, Theano or TF 1.0) cannot be installed today, so its files
are written here from the documented format, with h5py: a full-model file holds
``model_config`` (Keras 1 words: ``Convolution2D``, ``nb_filter``, ``border_mode``,
``subsample``, ``dim_ordering``, ``init``, ``W_regularizer``, ``bias``, ...), optionally
``keras_version`` (``1.x``; the oldest files have none), ``training_config`` and a
``model_weights`` group whose ``layer_names``/``weight_names`` attributes are fixed-length
byte strings and whose datasets carry Keras 1 names (``convolution2d_1_W``; with ``:0`` when
the TF backend wrote them). The weights are in Keras 1 layouts: ``th`` kernels
``(filters, stack, rows, cols)``, Convolution1D ``(length, 1, input_dim, filters)`` (1.1+)
or ``(filters, input_dim, length, 1)`` (1.0), Deconvolution2D like Convolution2D, the
Keras 1.1 LSTM as twelve gate arrays ``W_i, U_i, b_i, W_c, U_c, b_c, W_f, ..., b_o``.

The ORACLE is tf-keras 2.15's legacy HDF5 loader, which still applies Keras 2's Keras-1
conversions (``preprocess_weights_for_loading``): each fixture's Keras 2 twin is built
here by hand in tf-keras, ``model.load_weights(<keras 1 file>)`` converts, and its
``get_weights()`` and ``predict`` are stored in ``<name>.truth.npz`` (keys ``weights/...``,
``input/i``, ``output/i``), with the twin's layer configs in ``index_keras1.json``
(``keras2_layers``). tf-keras no longer flips Theano-trained kernels; ``keras2_theano``
is a Keras 2.1 file with ``backend='theano'`` whose flip the tests check against a
plain-loop true convolution.

TF's CPU kernels lack NCHW convolution and pooling: for ``th`` models the oracle output
is computed layer by layer, each channels_first layer by its channels_last clone (same
weights) on moved axes; Flatten flattens the NCHW tensor in memory order, as Keras 1 did.
"""

from __future__ import annotations

import base64
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import FIXTURES, write_index  # noqa: E402
from _models import rng_for  # noqa: E402

K = tf.keras
L = tf.keras.layers
OUT = FIXTURES / "keras1"

TRAINING_CONFIG = {"optimizer_config": {"class_name": "SGD", "config": {"lr": 0.01}},
                   "loss": "categorical_crossentropy", "metrics": ["accuracy"],
                   "sample_weight_mode": None, "loss_weights": None}


# ---------------------------------------------------------------------------
# Keras 1 layer configs (every argument Keras 1.2 wrote, with its defaults)
# ---------------------------------------------------------------------------

def _base(name, batch_input_shape=None):
    cfg = {"name": name, "trainable": True}
    if batch_input_shape is not None:
        cfg["batch_input_shape"] = list(batch_input_shape)
        cfg["input_dtype"] = "float32"
    return cfg


def _w_args(W_regularizer=None, bias=True):
    return {"init": "glorot_uniform", "W_regularizer": W_regularizer, "b_regularizer": None,
            "activity_regularizer": None, "W_constraint": None, "b_constraint": None,
            "bias": bias}


def conv2d(name, nb_filter, nb_row, nb_col, dim_ordering, border_mode="valid",
           subsample=(1, 1), activation="linear", bias=True, W_regularizer=None,
           batch_input_shape=None):
    return ("Convolution2D", {**_base(name, batch_input_shape), "nb_filter": nb_filter,
                              "nb_row": nb_row, "nb_col": nb_col, "activation": activation,
                              "border_mode": border_mode, "subsample": list(subsample),
                              "dim_ordering": dim_ordering,
                              **_w_args(W_regularizer, bias)})


def atrous2d(name, nb_filter, nb_row, nb_col, atrous_rate, dim_ordering, border_mode="valid",
             batch_input_shape=None):
    cls, cfg = conv2d(name, nb_filter, nb_row, nb_col, dim_ordering, border_mode,
                      batch_input_shape=batch_input_shape)
    return ("AtrousConvolution2D", {**cfg, "atrous_rate": list(atrous_rate)})


def deconv2d(name, nb_filter, nb_row, nb_col, output_shape, dim_ordering, border_mode="valid",
             subsample=(1, 1), batch_input_shape=None):
    cls, cfg = conv2d(name, nb_filter, nb_row, nb_col, dim_ordering, border_mode, subsample,
                      batch_input_shape=batch_input_shape)
    return ("Deconvolution2D", {**cfg, "output_shape": list(output_shape)})


def separable2d(name, nb_filter, nb_row, nb_col, depth_multiplier, dim_ordering,
                border_mode="valid", batch_input_shape=None):
    return ("SeparableConvolution2D", {
        **_base(name, batch_input_shape), "nb_filter": nb_filter, "nb_row": nb_row,
        "nb_col": nb_col, "init": "glorot_uniform", "activation": "linear",
        "border_mode": border_mode, "subsample": [1, 1], "depth_multiplier": depth_multiplier,
        "dim_ordering": dim_ordering, "depthwise_regularizer": None,
        "pointwise_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
        "depthwise_constraint": None, "pointwise_constraint": None, "b_constraint": None,
        "bias": True})


def conv1d(name, nb_filter, filter_length, border_mode="valid", subsample_length=1,
           activation="linear", input_dim=None, input_length=None, cls="Convolution1D",
           **extra):
    cfg = {**_base(name), "nb_filter": nb_filter, "filter_length": filter_length,
           "activation": activation, "border_mode": border_mode,
           "subsample_length": subsample_length, **_w_args(), **extra}
    if input_dim is not None:
        cfg["input_dim"] = input_dim
        cfg["input_length"] = input_length
        cfg["batch_input_shape"] = [None, input_length, input_dim]
        cfg["input_dtype"] = "float32"
    return (cls, cfg)


def conv3d(name, nb_filter, k1, k2, k3, dim_ordering, border_mode="valid",
           subsample=(1, 1, 1), batch_input_shape=None):
    return ("Convolution3D", {**_base(name, batch_input_shape), "nb_filter": nb_filter,
                              "kernel_dim1": k1, "kernel_dim2": k2, "kernel_dim3": k3,
                              "activation": "linear", "border_mode": border_mode,
                              "subsample": list(subsample), "dim_ordering": dim_ordering,
                              **_w_args()})


def dense(name, output_dim, activation="linear", input_dim=None, bias=True,
          W_regularizer=None):
    cfg = {**_base(name), "output_dim": output_dim, "activation": activation,
           **_w_args(W_regularizer, bias)}
    cfg["input_dim"] = input_dim
    if input_dim is not None:
        cfg["batch_input_shape"] = [None, input_dim]
        cfg["input_dtype"] = "float32"
    return ("Dense", cfg)


def simple(cls, name, **cfg):
    return (cls, {**_base(name), **cfg})


def lstm(name, output_dim, consume_less="cpu", return_sequences=False):
    return ("LSTM", {**_base(name), "output_dim": output_dim, "init": "glorot_uniform",
                     "inner_init": "orthogonal", "forget_bias_init": "one",
                     "activation": "tanh", "inner_activation": "hard_sigmoid",
                     "W_regularizer": None, "U_regularizer": None, "b_regularizer": None,
                     "dropout_W": 0.0, "dropout_U": 0.0, "consume_less": consume_less,
                     "return_sequences": return_sequences, "go_backwards": False,
                     "stateful": False, "unroll": False, "input_dim": None,
                     "input_length": None})


# ---------------------------------------------------------------------------
# Keras 1 weight layouts: drawn in Keras 2's layout, turned into Keras 1's by hand
# ---------------------------------------------------------------------------

def to_keras1(cls, cfg, keras2_weights, variant):
    """Keras 2 layout -> (suffixes, Keras 1 layout) for one layer (the inverse of what
    Keras 2's loader does; tf-keras converts them back, which checks this inverse)."""
    w = list(keras2_weights)
    th = cfg.get("dim_ordering") == "th"
    if cls in ("Convolution2D", "AtrousConvolution2D") and th:
        w[0] = np.transpose(w[0], (3, 2, 0, 1))          # (r, c, C, F) -> (F, C, r, c)
    elif cls == "Deconvolution2D":
        # Keras 2 (r, c, F, C); Keras 1 'tf' (r, c, C, F), 'th' (F, C, r, c)
        w[0] = np.transpose(w[0], (2, 3, 0, 1) if th else (0, 1, 3, 2))
    elif cls == "Convolution3D" and th:
        w[0] = np.transpose(w[0], (4, 3, 0, 1, 2))       # (d1, d2, d3, C, F) -> (F, C, d...)
    elif cls in ("Convolution1D", "AtrousConvolution1D"):
        k = w[0][:, None, :, :]                           # (L, C, F) -> (L, 1, C, F)
        w[0] = np.transpose(k, (3, 2, 0, 1)) if variant == "keras10" else k
    elif cls == "LSTM" and cfg["consume_less"] != "gpu":
        units = cfg["output_dim"]
        kernel, recurrent, bias = w
        gates = {}
        for g, name in enumerate("ifco"):  # Keras 2 gate order i, f, c, o
            sl = slice(g * units, (g + 1) * units)
            gates[name] = (kernel[:, sl], recurrent[:, sl], bias[sl])
        w = [a for name in "icfo" for a in gates[name]]  # Keras 1.1 order i, c, f, o
    return w


def suffixes(cls, cfg, count):
    if cls == "LSTM" and count == 12:
        return [f"{kind}_{g}" for g in "icfo" for kind in ("W", "U", "b")]
    if cls == "LSTM":
        return ["W", "U", "b"]
    if cls == "SeparableConvolution2D":
        return ["depthwise_kernel", "pointwise_kernel", "b"][:count]
    if cls == "BatchNormalization":
        return ["gamma", "beta", "running_mean", "running_std"]
    if cls == "Embedding":
        return ["W"]
    return ["W", "b"][:count]


def draw(layer, rng):
    out = []
    for v in layer.weights:
        shape = tuple(v.shape)
        if "moving_variance" in v.name or "gamma" in v.name:
            out.append(rng.uniform(0.5, 1.5, size=shape).astype("float32"))
        else:
            out.append((rng.standard_normal(shape) * 0.4).astype("float32"))
    return out


# ---------------------------------------------------------------------------
# The fixtures: Keras 1 description + hand-built Keras 2 twin (tf-keras)
# ---------------------------------------------------------------------------

def model_conv2d(ordering):
    first = ordering == "th"
    shape = (None, 3, 8, 8) if first else (None, 8, 8, 3)
    fmt = "channels_first" if first else "channels_last"
    k1 = [conv2d("convolution2d_1", 4, 3, 3, ordering, "same", activation="relu",
                 W_regularizer={"name": "WeightRegularizer", "l1": 0.0, "l2": 0.0005},
                 batch_input_shape=shape),
          simple("MaxPooling2D", "maxpooling2d_1", pool_size=[2, 2], strides=[2, 2],
                 border_mode="valid", dim_ordering=ordering),
          conv2d("convolution2d_2", 2, 3, 2, ordering, "valid", subsample=(1, 2), bias=False),
          simple("Flatten", "flatten_1"),
          dense("dense_1", 3, "softmax")]
    k2 = K.Sequential([
        K.Input(shape=shape[1:]),
        L.Conv2D(4, 3, padding="same", activation="relu", data_format=fmt,
                 name="convolution2d_1"),
        L.MaxPooling2D(2, data_format=fmt, name="maxpooling2d_1"),
        L.Conv2D(2, (3, 2), strides=(1, 2), use_bias=False, data_format=fmt,
                 name="convolution2d_2"),
        # Keras 1's Flatten flattens the tensor as it lies in memory: data_format
        # 'channels_last' is Keras 2's word for "no permutation first"
        L.Flatten(data_format="channels_last", name="flatten_1"),
        L.Dense(3, activation="softmax", name="dense_1")])
    return {"container": "Sequential", "layers": k1, "model": k2,
            "inputs": [(2, *shape[1:])]}


def model_atrous_deconv_tf():
    shape = (None, 6, 6, 2)
    k1 = [("InputLayer", {"batch_input_shape": list(shape), "input_dtype": "float32",
                          "sparse": False, "name": "input_1"}, []),
          (*atrous2d("atrousconvolution2d_1", 3, 3, 3, (2, 2), "tf", "same"), ["input_1"]),
          (*deconv2d("deconvolution2d_1", 2, 3, 3, (None, 12, 12, 2), "tf", "same",
                     subsample=(2, 2)), ["atrousconvolution2d_1"]),
          (*deconv2d("deconvolution2d_2", 2, 2, 2, (None, 7, 7, 2), "tf", "valid"),
           ["atrousconvolution2d_1"])]
    inputs = K.Input(shape=shape[1:], name="input_1")
    a = L.Conv2D(3, 3, dilation_rate=2, padding="same", name="atrousconvolution2d_1")(inputs)
    b = L.Conv2DTranspose(2, 3, strides=2, padding="same", name="deconvolution2d_1")(a)
    c = L.Conv2DTranspose(2, 2, name="deconvolution2d_2")(a)
    k2 = K.Model(inputs, [b, c])
    return {"container": "Model", "layers": k1, "model": k2, "inputs": [(2, 6, 6, 2)],
            "outputs": ["deconvolution2d_1", "deconvolution2d_2"]}


def model_deconv_th():
    shape = (None, 2, 4, 5)
    k1 = [deconv2d("deconvolution2d_1", 3, 3, 2, (None, 3, 9, 10), "th", "valid",
                   subsample=(2, 2), batch_input_shape=shape),
          simple("UpSampling2D", "upsampling2d_1", size=[2, 1], dim_ordering="th"),
          simple("ZeroPadding2D", "zeropadding2d_1", padding=[1, 0], dim_ordering="th")]
    k2 = K.Sequential([
        K.Input(shape=shape[1:]),
        L.Conv2DTranspose(3, (3, 2), strides=2, data_format="channels_first",
                          name="deconvolution2d_1"),
        L.UpSampling2D((2, 1), data_format="channels_first", name="upsampling2d_1"),
        L.ZeroPadding2D((1, 0), data_format="channels_first", name="zeropadding2d_1")])
    return {"container": "Sequential", "layers": k1, "model": k2, "inputs": [(2, 2, 4, 5)]}


def model_conv1d(variant):
    k1 = [conv1d("convolution1d_1", 4, 3, "same", input_dim=3, input_length=10,
                 activation="tanh"),
          conv1d("atrousconvolution1d_1", 2, 2, "valid", cls="AtrousConvolution1D",
                 atrous_rate=2),
          simple("UpSampling1D", "upsampling1d_1", length=2),
          simple("Cropping1D", "cropping1d_1", cropping=[1, 2]),
          simple("Flatten", "flatten_1"),
          dense("dense_1", 2)]
    k2 = K.Sequential([
        K.Input(shape=(10, 3)),
        L.Conv1D(4, 3, padding="same", activation="tanh", name="convolution1d_1"),
        L.Conv1D(2, 2, dilation_rate=2, name="atrousconvolution1d_1"),
        L.UpSampling1D(2, name="upsampling1d_1"),
        L.Cropping1D((1, 2), name="cropping1d_1"),
        L.Flatten(name="flatten_1"),
        L.Dense(2, name="dense_1")])
    return {"container": "Sequential", "layers": k1, "model": k2, "inputs": [(2, 10, 3)],
            "variant": variant}


def model_conv3d_th():
    shape = (None, 2, 4, 5, 4)
    k1 = [conv3d("convolution3d_1", 3, 2, 3, 2, "th", "same", batch_input_shape=shape),
          simple("ZeroPadding3D", "zeropadding3d_1", padding=[1, 0, 1], dim_ordering="th"),
          simple("UpSampling3D", "upsampling3d_1", size=[1, 2, 1], dim_ordering="th"),
          simple("Cropping3D", "cropping3d_1", cropping=[[0, 1], [1, 0], [0, 0]],
                 dim_ordering="th")]
    fmt = "channels_first"
    k2 = K.Sequential([
        K.Input(shape=shape[1:]),
        L.Conv3D(3, (2, 3, 2), padding="same", data_format=fmt, name="convolution3d_1"),
        L.ZeroPadding3D((1, 0, 1), data_format=fmt, name="zeropadding3d_1"),
        L.UpSampling3D((1, 2, 1), data_format=fmt, name="upsampling3d_1"),
        L.Cropping3D(((0, 1), (1, 0), (0, 0)), data_format=fmt, name="cropping3d_1")])
    return {"container": "Sequential", "layers": k1, "model": k2, "inputs": [(1, *shape[1:])]}


def model_separable():
    shape = (None, 7, 6, 3)
    k1 = [separable2d("separableconvolution2d_1", 4, 3, 3, 2, "tf", "valid",
                      batch_input_shape=shape),
          simple("Activation", "activation_1", activation="relu"),
          simple("SpatialDropout2D", "spatialdropout2d_1", p=0.2, dim_ordering="tf"),
          simple("Cropping2D", "cropping2d_1", cropping=[[1, 0], [0, 1]], dim_ordering="tf")]
    k2 = K.Sequential([
        K.Input(shape=shape[1:]),
        L.SeparableConv2D(4, 3, depth_multiplier=2, name="separableconvolution2d_1"),
        L.Activation("relu", name="activation_1"),
        L.SpatialDropout2D(0.2, name="spatialdropout2d_1"),
        L.Cropping2D(((1, 0), (0, 1)), name="cropping2d_1")])
    return {"container": "Sequential", "layers": k1, "model": k2, "inputs": [(2, 7, 6, 3)]}


def model_lstm(consume_less):
    k1 = [simple("Embedding", "embedding_1", input_dim=20, output_dim=4, init="uniform",
                 input_length=6, W_regularizer=None, activity_regularizer=None,
                 W_constraint=None, mask_zero=True, dropout=0.0,
                 batch_input_shape=[None, 6], input_dtype="int32"),
          lstm("lstm_1", 5, consume_less),
          dense("dense_1", 3, "softmax")]
    k2 = K.Sequential([
        K.Input(shape=(6,), dtype="int32"),
        L.Embedding(20, 4, mask_zero=True, name="embedding_1"),
        L.LSTM(5, recurrent_activation="hard_sigmoid", name="lstm_1"),
        L.Dense(3, activation="softmax", name="dense_1")])
    return {"container": "Sequential", "layers": k1, "model": k2, "inputs": [(3, 6)],
            "int_inputs": 20}


def model_merge():
    k1 = [("InputLayer", {"batch_input_shape": [None, 6], "input_dtype": "float32",
                          "sparse": False, "name": "input_1"}, []),
          (*dense("dense_1", 4, "relu"), ["input_1"]),
          (*dense("dense_2", 4, "tanh"), ["input_1"]),
          (*simple("Merge", "merge_1", mode="sum", concat_axis=-1, dot_axes=-1,
                   output_shape=None, output_shape_type="raw", output_mask=None,
                   output_mask_type="raw", arguments={}, mode_type="raw"),
           ["dense_1", "dense_2"]),
          (*simple("Merge", "merge_2", mode="concat", concat_axis=-1, dot_axes=-1,
                   output_shape=None, output_shape_type="raw", output_mask=None,
                   output_mask_type="raw", arguments={}, mode_type="raw"),
           ["merge_1", "dense_2"]),
          (*simple("BatchNormalization", "batchnormalization_1", epsilon=0.001, mode=0,
                   axis=-1, momentum=0.99, beta_init="zero", gamma_init="one",
                   gamma_regularizer=None, beta_regularizer=None), ["merge_2"]),
          (*simple("Dropout", "dropout_1", p=0.5), ["batchnormalization_1"]),
          (*dense("dense_3", 2), ["dropout_1"])]
    inputs = K.Input(shape=(6,), name="input_1")
    a = L.Dense(4, activation="relu", name="dense_1")(inputs)
    b = L.Dense(4, activation="tanh", name="dense_2")(inputs)
    s = L.Add(name="merge_1")([a, b])
    c = L.Concatenate(name="merge_2")([s, b])
    n = L.BatchNormalization(name="batchnormalization_1")(c)
    d = L.Dropout(0.5, name="dropout_1")(n)
    k2 = K.Model(inputs, L.Dense(2, name="dense_3")(d))
    return {"container": "Model", "layers": k1, "model": k2, "inputs": [(3, 6)],
            "outputs": ["dense_3"]}


def model_lambda():
    # Keras 1 stored a lambda as marshalled Python 2 bytecode (base64): these bytes are
    # an opaque stand-in; the readers must record them, never decode or run them.
    code = base64.b64encode(b"\xe3not-real-bytecode-never-unmarshalled").decode()
    k1 = [dense("dense_1", 3, input_dim=4),
          simple("Lambda", "lambda_1", function=[code, None, None], function_type="lambda",
                 output_shape=None, output_shape_type="raw", arguments={}),
          dense("dense_2", 2)]
    return {"container": "Sequential", "layers": k1, "model": None, "inputs": [(2, 4)]}


MODELS = {
    "k1_conv2d_th": (lambda: model_conv2d("th"), {"keras_version": "1.2.2", "names": "theano"}),
    "k1_conv2d_tf": (lambda: model_conv2d("tf"), {"keras_version": "1.2.2", "names": "tf"}),
    "k1_atrous_deconv_tf": (model_atrous_deconv_tf, {"keras_version": "1.2.2", "names": "tf"}),
    "k1_deconv_th": (model_deconv_th, {"keras_version": "1.1.0", "names": "theano"}),
    "k1_conv1d": (lambda: model_conv1d("keras11"), {"keras_version": "1.1.0", "names": "tf"}),
    "k1_conv1d_legacy": (lambda: model_conv1d("keras10"),
                         {"keras_version": None, "names": "theano"}),
    "k1_conv3d_th": (model_conv3d_th, {"keras_version": "1.2.2", "names": "theano"}),
    "k1_separable": (model_separable, {"keras_version": "1.2.2", "names": "tf"}),
    "k1_lstm_gates": (lambda: model_lstm("cpu"), {"keras_version": "1.1.0", "names": "theano"}),
    "k1_lstm_fused": (lambda: model_lstm("gpu"), {"keras_version": "1.2.2", "names": "tf"}),
    "k1_merge": (model_merge, {"keras_version": "1.2.2", "names": "tf"}),
    "k1_lambda": (model_lambda, {"keras_version": "1.2.2", "names": "theano"}),
}
WEIGHTS_ONLY = ("k1_conv2d_th", "k1_lstm_gates", "k1_merge")


def keras1_config(spec, name):
    if spec["container"] == "Sequential":
        return {"class_name": "Sequential", "config": [{"class_name": cls, "config": cfg}
                                                       for cls, cfg in spec["layers"]]}
    layers = []
    for cls, cfg, inbound in spec["layers"]:
        nodes = [[[src, 0, 0] for src in inbound]] if inbound else []
        layers.append({"class_name": cls, "config": cfg, "name": cfg["name"],
                       "inbound_nodes": nodes})
    return {"class_name": "Model", "config": {
        "name": name, "layers": layers, "input_layers": [["input_1", 0, 0]],
        "output_layers": [[out, 0, 0] for out in spec["outputs"]]}}


def layer_list(spec):
    return [(entry[0], entry[1]) for entry in spec["layers"]]


def write_weights_group(group, spec, weights, names_style):
    names = [cfg["name"] for _, cfg in layer_list(spec)]
    group.attrs["layer_names"] = np.array([n.encode() for n in names])
    for cls, cfg in layer_list(spec):
        g = group.create_group(cfg["name"])
        arrays = weights.get(cfg["name"], [])
        wnames = [f"{cfg['name']}_{s}" + (":0" if names_style == "tf" else "")
                  for s in suffixes(cls, cfg, len(arrays))]
        # Keras 1 wrote a plain list: [] becomes an empty float array in HDF5
        g.attrs["weight_names"] = np.array([w.encode() for w in wnames]) if wnames else []
        for wname, value in zip(wnames, arrays, strict=True):
            g.create_dataset(wname, data=value)


def run_oracle(model, x):
    """predict, layer by layer for channels_first layers (TF CPU lacks NCHW kernels)."""
    try:
        return model.predict(x, verbose=0)
    except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError):
        pass
    y = tf.constant(x)
    for layer in model.layers:
        cfg = layer.get_config()
        if cfg.get("data_format") == "channels_first" and type(layer).__name__ != "Flatten":
            twin = type(layer).from_config({**cfg, "data_format": "channels_last",
                                            "name": cfg["name"] + "_twin"})
            moved = tf.constant(np.moveaxis(y.numpy(), 1, -1))
            twin.build(moved.shape)
            twin.set_weights(layer.get_weights())
            y = tf.constant(np.moveaxis(twin(moved).numpy(), -1, 1))
        else:
            y = layer(y)
    return y.numpy()


def main():
    tf.config.set_visible_devices([], "GPU")
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    entries, models = [], {}
    for name, (make, meta) in MODELS.items():
        K.backend.clear_session()
        spec = make()
        rng = rng_for("keras1/" + name)
        config = keras1_config(spec, name)
        entry = {"model": name, "generation": "keras1", "keras_version": meta["keras_version"],
                 "backend": None, "weight_names": meta["names"],
                 "variant": spec.get("variant")}
        keras1_weights, keras2_weights = {}, {}
        model = spec["model"]
        k2_layers = {lay.name: lay for lay in model.layers} if model is not None else {}
        for cls, cfg in layer_list(spec):
            if cls == "Lambda":
                continue
            if cls in ("Dense",) and model is None:  # the lambda model: no Keras 2 twin
                shape = {"dense_1": [(4, 3), (3,)], "dense_2": [(3, 2), (2,)]}[cfg["name"]]
                keras1_weights[cfg["name"]] = [(rng.standard_normal(s) * 0.4).astype("f4")
                                               for s in shape]
                continue
            lay = k2_layers[cfg["name"]]
            if not lay.weights:
                continue
            drawn = draw(lay, rng)
            keras2_weights[cfg["name"]] = drawn
            keras1_weights[cfg["name"]] = to_keras1(cls, cfg, drawn, spec.get("variant"))
        path = OUT / f"{name}.h5"
        with h5py.File(path, "w") as f:
            if meta["keras_version"]:
                f.attrs["keras_version"] = meta["keras_version"].encode()
            f.attrs["model_config"] = json.dumps(config).encode()
            f.attrs["training_config"] = json.dumps(TRAINING_CONFIG).encode()
            write_weights_group(f.create_group("model_weights"), spec, keras1_weights,
                                meta["names"])
            f.create_group("optimizer_weights").attrs["weight_names"] = []
        entries.append({**entry, "file": path.name, "format": "hdf5_model"})
        text = dict(config)
        if meta["keras_version"]:
            text["keras_version"] = meta["keras_version"]
        (OUT / f"{name}.json").write_text(json.dumps(text))
        entries.append({**entry, "file": f"{name}.json", "format": "json_config"})
        if name in WEIGHTS_ONLY:
            wpath = OUT / f"{name}.weights.h5"
            with h5py.File(wpath, "w") as f:
                write_weights_group(f, spec, keras1_weights, meta["names"])
            entries.append({**entry, "file": wpath.name, "format": "hdf5_weights_legacy"})

        arrays = {}
        if model is not None:
            model.load_weights(str(path))  # tf-keras's Keras-1 conversions: the oracle
            for lay in model.layers:
                for j, w in enumerate(lay.get_weights()):
                    arrays[f"weights/{lay.name}/{j}"] = w
                    # the inverse written above must be what tf-keras undoes
                    np.testing.assert_array_equal(w, keras2_weights[lay.name][j])
            xs = []
            for shape in spec["inputs"]:
                if spec.get("int_inputs"):
                    x = rng.integers(1, spec["int_inputs"], size=shape).astype("int32")
                    x[0, 4:] = 0
                else:
                    x = rng.standard_normal(shape).astype("float32")
                xs.append(x)
            outputs = run_oracle(model, xs[0])
            outputs = outputs if isinstance(outputs, list) else [outputs]
            for i, x in enumerate(xs):
                arrays[f"input/{i}"] = x
            for i, y in enumerate(outputs):
                arrays[f"output/{i}"] = np.asarray(y)
            k2_configs = [{"class_name": type(lay).__name__, "config": lay.get_config()}
                          for lay in model.layers]
        else:
            for lname, ws in keras1_weights.items():
                for j, w in enumerate(ws):
                    arrays[f"keras1_weights/{lname}/{j}"] = w
            k2_configs = None
        np.savez_compressed(OUT / f"{name}.truth.npz", **arrays)
        for e in entries:
            if e["model"] == name:
                e["truth"] = f"{name}.truth.npz"
        models[name] = {"truth": f"{name}.truth.npz", "keras2_layers": k2_configs,
                        "oracle_layer_by_layer": bool(model is not None and any(
                            lay.get_config().get("data_format") == "channels_first"
                            for lay in model.layers))}
        print(f"{name}: {len(keras1_weights)} weighted layers")

    theano = write_theano_file()
    entries.append(theano)
    models["keras2_theano"] = {"truth": theano["truth"], "keras2_layers": None}
    import keras

    meta = {"generator": "tests/keras_files/generate_keras1.py",
            "oracle": f"tf-keras {keras.__version__} (TensorFlow {tf.__version__}) legacy HDF5 "
                      "loader: load_weights on the hand-built Keras 2 twin",
            "numpy": np.__version__, "h5py": h5py.__version__}
    write_index(OUT / "index_keras1.json", meta, entries, models)
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(entries)} files, {total / 1e6:.2f} MB in {OUT}")


def write_theano_file():
    """A Keras 2.1 file written on the Theano backend: its Conv2D kernels are for a true
    convolution, which Keras 2 flipped on load into TensorFlow (tf-keras no longer does)."""
    rng = rng_for("keras1/keras2_theano")
    model = K.Sequential([K.Input(shape=(6, 5, 2)),
                          L.Conv2D(3, (3, 2), name="conv2d_1"),
                          L.Dense(2, name="dense_1")])
    kernel = (rng.standard_normal((3, 2, 2, 3)) * 0.4).astype("f4")
    bias = (rng.standard_normal((3,)) * 0.4).astype("f4")
    dkernel = (rng.standard_normal((3, 2)) * 0.4).astype("f4")
    dbias = (rng.standard_normal((2,)) * 0.4).astype("f4")
    config = {"class_name": "Sequential", "config": [
        {"class_name": "Conv2D", "config": {**model.layers[0].get_config(),
                                            "batch_input_shape": [None, 6, 5, 2]}},
        {"class_name": "Dense", "config": model.layers[1].get_config()}]}
    path = OUT / "keras2_theano.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.1.6"
        f.attrs["backend"] = b"theano"
        f.attrs["model_config"] = json.dumps(config).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([b"conv2d_1", b"dense_1"])
        g.attrs["backend"] = b"theano"
        g.attrs["keras_version"] = b"2.1.6"
        for lname, values in (("conv2d_1", (kernel, bias)), ("dense_1", (dkernel, dbias))):
            lg = g.create_group(lname)
            names = [f"{lname}/kernel", f"{lname}/bias"]  # Theano variables have no ':0'
            lg.attrs["weight_names"] = np.array([n.encode() for n in names])
            for n, v in zip(names, values, strict=True):
                lg.create_dataset(n, data=v)
    x = rng.standard_normal((2, 6, 5, 2)).astype("f4")
    np.savez_compressed(OUT / "keras2_theano.truth.npz", **{
        "input/0": x, "file_weights/conv2d_1/0": kernel, "file_weights/conv2d_1/1": bias,
        "file_weights/dense_1/0": dkernel, "file_weights/dense_1/1": dbias})
    return {"file": path.name, "model": "keras2_theano", "generation": "keras2",
            "keras_version": "2.1.6", "backend": "theano", "format": "hdf5_model",
            "truth": "keras2_theano.truth.npz",
            "note": "written by hand in the Keras 2.1 layout; tf-keras does not flip "
                    "Theano kernels, so the tests check the flip against a plain-loop "
                    "true convolution"}


if __name__ == "__main__":
    main()
