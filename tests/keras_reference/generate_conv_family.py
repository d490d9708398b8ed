"""Generate the Keras 2 reference fixture of the convolution family's additions (issue 10).

``Conv1DTranspose`` and ``DepthwiseConv1D`` exist in tf.keras 2.15: their cases are
the Keras layers themselves (config, weights, output). The others have no Keras
layer, so their reference numbers come from compositions of Keras layers that
compute the same function:

* ``DepthwiseCthalpa3D``: ``Conv3D(filters=C*M, groups=C)`` (a grouped convolution
  with one input channel per group is a depthwise one: output channel ``c*M + m``
  reads channel ``c`` with the kernel ``depthwise[..., c, m]``, stored as
  ``(*k, 1, C*M)``);
* ``SeparableCthalpa3D``: that grouped ``Conv3D`` (no bias), then a ``1x1x1`` ``Conv3D``
  with the pointwise kernel, the bias and the activation;
* ``UbboSathla3D(interpolation='trilinear')``: linear interpolation is separable, so
  ``TimeDistributed(UpSampling2D(bilinear))`` over the depth slices, then a
  ``Reshape`` that makes depth the rows of an image whose columns are the ``H*W``
  positions and ``UpSampling2D((fd, 1), bilinear)`` along it (a factor of 1 is the
  identity under the half-pixel rule), then a ``Reshape`` back;

and a few models (as Keras JSON + weights) whose convolutions are followed by a
``BatchNormalization`` and an activation, the chains cthulhu folds at inference.

Like the other generators here, it runs ONLY in a TensorFlow environment, never in
the test suite (``test_keras_conv_family.py`` reads the stored files with NumPy)::

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1 numpy
    /tmp/tfenv/bin/python tests/keras_reference/generate_conv_family.py

It writes ``keras2_reference_conv_family.npz`` (arrays, no pickles) and ``.json``
(the index). TensorFlow's CPU kernels lack some operations (``channels_first``
convolutions, dilated transposed ones): where a Keras layer or model raises, it runs
under XLA (``jit_compile=True``), and a composition is built ``channels_last`` around
transposed arrays; the case's ``note`` says which. Inputs and
weights come from NumPy generators seeded per case: a second run writes the same files.
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
SEED = 20260415
HERE = Path(__file__).resolve().parent
NPZ = HERE / "keras2_reference_conv_family.npz"
INDEX = HERE / "keras2_reference_conv_family.json"
FALLBACK_NOTE = ("TF CPU has no channels_first kernel here: output computed by the same "
                 "Keras layer built channels_last, on the transposed input")


def _cl(x):
    return np.moveaxis(x, 1, -1)


def _cf(y):
    return np.moveaxis(y, -1, 1)


# ---------------------------------------------------------------------------- layer cases
def keras_layer_cases():
    """(id, Keras class, kwargs, input shape, dtype): layers tf.keras 2.15 has."""
    out = []
    add = out.append
    t = "Conv1DTranspose"
    add(("conv1dt_valid", t, dict(filters=3, kernel_size=3), (2, 6, 4), "float32"))
    add(("conv1dt_s2_same", t, dict(filters=2, kernel_size=3, strides=2, padding="same"),
         (2, 5, 3), "float32"))
    add(("conv1dt_s3_valid_k2", t, dict(filters=4, kernel_size=2, strides=3), (1, 5, 2),
         "float32"))
    add(("conv1dt_output_padding", t, dict(filters=2, kernel_size=4, strides=3,
                                           output_padding=2, padding="same"), (2, 4, 3),
         "float32"))
    add(("conv1dt_output_padding_valid", t, dict(filters=2, kernel_size=3, strides=2,
                                                 output_padding=1), (1, 5, 2), "float32"))
    add(("conv1dt_dilated", t, dict(filters=2, kernel_size=3, dilation_rate=2,
                                    padding="same"), (2, 7, 3), "float32"))
    add(("conv1dt_relu_nobias", t, dict(filters=3, kernel_size=2, strides=2, use_bias=False,
                                        activation="relu"), (2, 4, 2), "float32"))
    add(("conv1dt_cf", t, dict(filters=3, kernel_size=3, strides=2, padding="same",
                               data_format="channels_first"), (2, 4, 5), "float32"))
    add(("conv1dt_f64", t, dict(filters=2, kernel_size=3, strides=2, dtype="float64"),
         (2, 5, 3), "float64"))
    add(("conv1dt_f16", t, dict(filters=2, kernel_size=3, strides=2, padding="same",
                                dtype="float16"), (2, 5, 3), "float16"))
    d = "DepthwiseConv1D"
    add(("dw1d_valid", d, dict(kernel_size=3), (2, 7, 4), "float32"))
    add(("dw1d_mult_same", d, dict(kernel_size=3, depth_multiplier=2, padding="same"),
         (2, 6, 3), "float32"))
    add(("dw1d_strided", d, dict(kernel_size=4, strides=2, padding="same"), (1, 9, 2),
         "float32"))
    add(("dw1d_dilated", d, dict(kernel_size=2, dilation_rate=3, depth_multiplier=3),
         (2, 8, 2), "float32"))
    add(("dw1d_cf", d, dict(kernel_size=3, depth_multiplier=2, padding="same",
                            data_format="channels_first", activation="relu"), (2, 3, 6),
         "float32"))
    add(("dw1d_f64", d, dict(kernel_size=3, strides=2, dtype="float64"), (2, 7, 3), "float64"))
    add(("dw1d_f16", d, dict(kernel_size=3, dtype="float16"), (2, 6, 4), "float16"))
    return out


def composed_cases():
    """(id, cthulhu class, cthulhu kwargs, input shape, dtype): layers Keras lacks."""
    out = []
    add = out.append
    d3 = "DepthwiseCthalpa3D"
    add(("dw3d_valid", d3, dict(kernel_size=3), (2, 4, 5, 4, 3), "float32"))
    add(("dw3d_mult_same", d3, dict(kernel_size=(3, 2, 3), depth_multiplier=2, padding="same"),
         (1, 4, 3, 5, 2), "float32"))
    add(("dw3d_strided", d3, dict(kernel_size=2, strides=(2, 1, 2), padding="same"),
         (2, 5, 4, 5, 2), "float32"))
    add(("dw3d_dilated_relu", d3, dict(kernel_size=2, dilation_rate=2, activation="relu"),
         (1, 5, 5, 4, 3), "float32"))
    add(("dw3d_cf", d3, dict(kernel_size=3, padding="same", depth_multiplier=2,
                             data_format="channels_first"), (1, 2, 4, 3, 5), "float32"))
    add(("dw3d_f64", d3, dict(kernel_size=2, use_bias=False), (1, 3, 4, 3, 2), "float64"))
    s3 = "SeparableCthalpa3D"
    add(("sep3d_valid", s3, dict(filters=4, kernel_size=3), (2, 4, 5, 4, 3), "float32"))
    add(("sep3d_same_mult", s3, dict(filters=3, kernel_size=2, padding="same",
                                     depth_multiplier=2, activation="relu"),
         (1, 3, 4, 5, 2), "float32"))
    add(("sep3d_strided", s3, dict(filters=2, kernel_size=3, strides=2, padding="same"),
         (1, 5, 5, 6, 3), "float32"))
    add(("sep3d_cf", s3, dict(filters=3, kernel_size=(1, 2, 3), dilation_rate=(1, 2, 1),
                              data_format="channels_first"), (2, 2, 3, 5, 4), "float32"))
    add(("sep3d_f64", s3, dict(filters=2, kernel_size=2, use_bias=False), (1, 3, 3, 3, 2),
         "float64"))
    u3 = "UbboSathla3D"
    add(("up3d_trilinear_2", u3, dict(size=2, interpolation="trilinear"), (2, 3, 4, 2, 3),
         "float32"))
    add(("up3d_trilinear_mixed", u3, dict(size=(3, 1, 2), interpolation="trilinear"),
         (1, 2, 3, 4, 2), "float32"))
    add(("up3d_trilinear_cf", u3, dict(size=(2, 3, 2), interpolation="trilinear",
                                       data_format="channels_first"), (1, 2, 2, 3, 2),
         "float32"))
    add(("up3d_trilinear_f64", u3, dict(size=(2, 2, 3), interpolation="trilinear"),
         (1, 3, 2, 2, 1), "float64"))
    return out


def _draw(rng, keras_layer, dtype):
    return [(0.5 * rng.standard_normal(w.shape)).astype(dtype)
            for w in keras_layer.get_weights()]


TF_ERRORS = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError)
XLA_NOTE = ("TF's CPU kernel refuses this case (channels_first, or a dilated transposed "
            "convolution): output computed by the same Keras layer under XLA (jit_compile)")


def _keras_call(layer, x):
    """The layer's output and a note: eagerly, else under XLA, whose CPU kernels cover the
    channels_first and dilated cases TensorFlow's own CPU kernels refuse."""
    try:
        return layer(tf.constant(x)).numpy(), None
    except TF_ERRORS:
        compiled = tf.function(lambda t: layer(t), jit_compile=True)
        return compiled(tf.constant(x)).numpy(), XLA_NOTE


def run_keras_case(number, case_id, cls, kwargs, shape, dtype, arrays):
    rng = np.random.default_rng([SEED, number])
    x = rng.standard_normal(shape).astype(dtype)
    layer = getattr(L, cls)(**kwargs)
    layer.build(shape)
    weights = _draw(rng, layer, dtype)
    layer.set_weights(weights)
    y, note = _keras_call(layer, x)
    entry = {"id": case_id, "source": "keras", "class_name": cls, "config": layer.get_config(),
             "input_dtype": dtype, "note": note,
             "output_shape": [None if d is None else int(d) for d in
                              layer.compute_output_shape((None, *shape[1:])).as_list()]}
    _store(entry, arrays, x, weights, y)
    return entry


def _grouped_conv3d(kernel, channels, multiplier, kwargs, fmt, use_bias, bias, activation):
    """The depthwise 3D convolution as Keras's grouped Conv3D; kernel (*k, C, M)."""
    conv = L.Conv3D(channels * multiplier, kwargs.get("kernel_size"),
                    strides=kwargs.get("strides", 1), padding=kwargs.get("padding", "valid"),
                    dilation_rate=kwargs.get("dilation_rate", 1), groups=channels,
                    data_format=fmt, use_bias=use_bias, activation=activation,
                    dtype=kernel.dtype.name)
    return conv, [kernel.reshape(*kernel.shape[:-2], 1, channels * multiplier)] + (
        [bias] if use_bias else [])


def _compose_depthwise(kwargs, x, fmt, rng, dtype, channels):
    multiplier = kwargs.get("depth_multiplier", 1)
    ksize = kwargs["kernel_size"]
    ksize = (ksize,) * 3 if isinstance(ksize, int) else tuple(ksize)
    use_bias = kwargs.get("use_bias", True)
    depthwise = (0.5 * rng.standard_normal((*ksize, channels, multiplier))).astype(dtype)
    bias = (0.5 * rng.standard_normal((channels * multiplier,))).astype(dtype)
    conv, weights = _grouped_conv3d(depthwise, channels, multiplier, kwargs, fmt, use_bias,
                                    bias, kwargs.get("activation"))
    conv.build(x.shape)
    conv.set_weights(weights)
    return conv(tf.constant(x)).numpy(), [depthwise] + ([bias] if use_bias else [])


def _compose_separable(kwargs, x, fmt, rng, dtype, channels):
    multiplier = kwargs.get("depth_multiplier", 1)
    ksize = kwargs["kernel_size"]
    ksize = (ksize,) * 3 if isinstance(ksize, int) else tuple(ksize)
    filters, use_bias = kwargs["filters"], kwargs.get("use_bias", True)
    depthwise = (0.5 * rng.standard_normal((*ksize, channels, multiplier))).astype(dtype)
    pointwise = (0.5 * rng.standard_normal((1, 1, 1, channels * multiplier, filters))
                 ).astype(dtype)
    bias = (0.5 * rng.standard_normal((filters,))).astype(dtype)
    conv, weights = _grouped_conv3d(depthwise, channels, multiplier, kwargs, fmt, False, None,
                                    None)
    conv.build(x.shape)
    conv.set_weights(weights)
    mid = conv(tf.constant(x))
    point = L.Conv3D(filters, 1, data_format=fmt, use_bias=use_bias,
                     activation=kwargs.get("activation"), dtype=dtype)
    point.build(mid.shape)
    point.set_weights([pointwise] + ([bias] if use_bias else []))
    y = point(mid).numpy()
    return y, [depthwise, pointwise] + ([bias] if use_bias else [])


def _compose_trilinear(kwargs, x, fmt, rng, dtype, channels):
    """Trilinear as bilinear over (H, W) per depth slice, then bilinear along depth."""
    size = kwargs["size"]
    fd, fh, fw = (size,) * 3 if isinstance(size, int) else size
    xl = x if fmt == "channels_last" else _cl(x)
    _, d, h, w, c = xl.shape
    inp = K.Input(shape=(d, h, w, c), dtype=dtype)
    z = L.TimeDistributed(L.UpSampling2D((fh, fw), interpolation="bilinear"))(inp)
    z = L.Reshape((d, h * fh * w * fw, c))(z)
    z = L.UpSampling2D((fd, 1), interpolation="bilinear")(z)
    z = L.Reshape((d * fd, h * fh, w * fw, c))(z)
    y = K.Model(inp, z)(tf.constant(xl)).numpy()
    # tf.image.resize computes and returns float32; cast back as the layer does
    y = y.astype(dtype)
    return (y if fmt == "channels_last" else _cf(y)), []


COMPOSERS = {"DepthwiseCthalpa3D": _compose_depthwise, "SeparableCthalpa3D": _compose_separable,
             "UbboSathla3D": _compose_trilinear}


def run_composed_case(number, case_id, cls, kwargs, shape, dtype, arrays):
    rng = np.random.default_rng([SEED, number])
    x = rng.standard_normal(shape).astype(dtype)
    fmt = kwargs.get("data_format", "channels_last")
    channels = shape[1] if fmt == "channels_first" else shape[-1]
    note = None
    try:
        y, weights = COMPOSERS[cls](kwargs, x, fmt, np.random.default_rng([SEED, number, 1]),
                                    dtype, channels)
    except TF_ERRORS:
        y, weights = COMPOSERS[cls](kwargs, _cl(x), "channels_last",
                                    np.random.default_rng([SEED, number, 1]), dtype, channels)
        y = _cf(y)
        note = FALLBACK_NOTE
    entry = {"id": case_id, "source": "composition", "class_name": cls, "config": kwargs,
             "input_dtype": dtype, "note": note, "output_shape": None}
    _store(entry, arrays, x, weights, y)
    return entry


def _store(entry, arrays, x, weights, y):
    cid = entry["id"]
    arrays[f"{cid}/input"] = x
    arrays[f"{cid}/output"] = y
    entry["weights"] = []
    for j, w in enumerate(weights):
        arrays[f"{cid}/w{j}"] = w
        entry["weights"].append(f"{cid}/w{j}")


# ---------------------------------------------------------------------------- model cases
def model_cases():
    """(id, builder, input shape): Keras models whose convolutions a BN (and an
    activation) follow: the chains cthulhu folds at inference."""

    def conv_bn_relu():
        inp = K.Input((8, 8, 3))
        z = L.Conv2D(6, 3, padding="same")(inp)
        z = L.BatchNormalization()(z)
        z = L.ReLU()(z)
        z = L.Conv2D(4, 3, strides=2, use_bias=False)(z)
        z = L.BatchNormalization(epsilon=1e-5)(z)
        return K.Model(inp, L.Activation("relu")(z))

    def mobilenet_block():
        inp = K.Input((9, 9, 8))
        z = L.DepthwiseConv2D(3, padding="same", use_bias=False)(inp)
        z = L.BatchNormalization()(z)
        z = L.ReLU(6.0)(z)
        z = L.Conv2D(16, 1, use_bias=False)(z)
        z = L.BatchNormalization()(z)
        z = L.ReLU(6.0)(z)
        z = L.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(z)
        z = L.BatchNormalization()(z)
        return K.Model(inp, L.ReLU(6.0)(z))

    def residual_cf():
        inp = K.Input((4, 7, 7))
        z = L.Conv2D(4, 3, padding="same", data_format="channels_first")(inp)
        z = L.BatchNormalization(axis=1)(z)
        z = L.Activation("relu")(z)
        skip = L.Conv2D(4, 1, data_format="channels_first")(inp)
        z = L.Add()([z, skip])                      # the skip's conv is not folded: no BN
        z = L.BatchNormalization(axis=1)(z)         # after an Add: nothing to fold into
        return K.Model(inp, L.LeakyReLU(0.2)(z))

    def transposed_1d():
        inp = K.Input((6, 3))
        z = L.Conv1DTranspose(4, 3, strides=2, padding="same")(inp)
        z = L.BatchNormalization()(z)
        z = L.LeakyReLU(0.1)(z)
        z = L.DepthwiseConv1D(3, padding="same")(z)
        z = L.BatchNormalization(center=False)(z)
        return K.Model(inp, z)

    def volume_3d():
        inp = K.Input((6, 6, 6, 2))
        z = L.Conv3D(4, 3, padding="same")(inp)
        z = L.BatchNormalization()(z)
        z = L.ReLU()(z)
        z = L.Conv3DTranspose(3, 2, strides=2)(z)
        z = L.BatchNormalization(scale=False)(z)
        return K.Model(inp, L.ReLU()(z))

    return [("model_conv_bn_relu", conv_bn_relu, (3, 8, 8, 3)),
            ("model_mobilenet_block", mobilenet_block, (2, 9, 9, 8)),
            ("model_residual_cf", residual_cf, (2, 4, 7, 7)),
            ("model_transposed_1d", transposed_1d, (2, 6, 3)),
            ("model_volume_3d", volume_3d, (1, 6, 6, 6, 2))]


def run_model_case(number, case_id, builder, shape, arrays):
    tf.keras.backend.clear_session()
    rng = np.random.default_rng([SEED, number])
    model = builder()
    weights = []
    for variable, value in zip(model.weights, model.get_weights(), strict=True):
        name = variable.name.split("/")[-1].split(":")[0]
        if "variance" in name:
            w = rng.uniform(0.5, 1.5, value.shape)
        elif name == "gamma":
            w = 1.0 + 0.3 * rng.standard_normal(value.shape)
        else:
            w = 0.5 * rng.standard_normal(value.shape)
        weights.append(w.astype(value.dtype))
    model.set_weights(weights)
    x = rng.standard_normal(shape).astype("float32")
    y, note = _keras_call(model, x)
    entry = {"id": case_id, "source": "model", "model_json": model.to_json(),
             "input_dtype": "float32", "note": note}
    _store(entry, arrays, x, weights, y)
    return entry


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or type(obj).__name__ == "ListWrapper":
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def main():
    tf.config.set_visible_devices([], "GPU")
    arrays, index = {}, []
    number = 0
    for case_id, cls, kwargs, shape, dtype in keras_layer_cases():
        number += 1
        index.append(run_keras_case(number, case_id, cls, kwargs, shape, dtype, arrays))
    for case_id, cls, kwargs, shape, dtype in composed_cases():
        number += 1
        index.append(run_composed_case(number, case_id, cls, kwargs, shape, dtype, arrays))
    for case_id, builder, shape in model_cases():
        number += 1
        index.append(run_model_case(number, case_id, builder, shape, arrays))
    ids = [e["id"] for e in index]
    if len(set(ids)) != len(ids):
        sys.exit("duplicate case ids")
    np.savez_compressed(NPZ, **arrays)
    import keras

    meta = {"generator": "tests/keras_reference/generate_conv_family.py",
            "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "seed": SEED, "cases": index}
    INDEX.write_text(json.dumps(jsonable(meta), indent=1) + "\n")
    notes = [e["id"] for e in index if e.get("note")]
    print(f"{len(index)} cases, {len(arrays)} arrays, {NPZ.stat().st_size / 1e6:.2f} MB npz; "
          f"fallbacks: {notes}")


if __name__ == "__main__":
    main()
