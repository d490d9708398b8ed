"""cthulhu models saved to Keras files and loaded by real Keras (``verify_roundtrip.py``).

One model per layer family (every catalog layer Keras has), each with seeded weights and
a seeded input. Shared by the generator (which also runs Keras in its own venvs) and by
``test_keras_roundtrip.py`` (which needs neither Keras nor TensorFlow). Each entry says
which files it is written to: ``.keras`` (Keras 3's format) and ``.h5`` (Keras 2's).
"""

from __future__ import annotations

import zlib

import numpy as np

import cthulhu.layers as L
from cthulhu.models import Lump, Pile

SEED = 20260314


def _rng(name):
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def _seeded(model, name):
    """Seeded weights: positive variances and scales for the normalisation layers."""
    rng = _rng(name + "/weights")
    for layer in _leaves(model):
        values = []
        for _, record in layer.weight_records():
            shape = record.shape
            if record.name in ("moving_variance", "gamma"):
                values.append(rng.uniform(0.5, 1.5, size=shape))
            else:
                values.append(rng.standard_normal(shape) * 0.4)
        if values:
            layer.set_weights([v.astype(np.float32) for v in values])
    return model


def _leaves(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _leaves(layer)
        else:
            yield layer


def conv():
    a, b, c = (L.Input(shape=s, name=n) for s, n in (((9, 2), "in1d"), ((7, 6, 2), "in2d"),
                                                     ((5, 4, 6, 2), "in3d")))
    ya = L.Cthalpa1D(3, 2, padding="causal", dilation_rate=2, activation="relu", name="c1d")(a)
    ya = L.Cthalpa1D(2, 3, strides=2, padding="same", use_bias=False, name="c1d_b")(ya)
    yb = L.Cthalpa2D(3, (3, 2), strides=(2, 1), activation="tanh", name="c2d")(b)
    yb = L.Cthalpa2D(2, 2, dilation_rate=(1, 2), padding="same", activation="softmax",
                     name="c2d_b")(yb)
    yc = L.Cthalpa3D(2, (2, 3, 2), padding="same", strides=(1, 2, 2), name="c3d")(c)
    return Lump([a, b, c], [ya, yb, yc], name="rt_conv")


def conv_channels_first():
    x = L.Input(shape=(2, 8, 8), name="image")
    y = L.Cthalpa2D(3, 3, padding="same", data_format="channels_first", name="conv")(x)
    y = L.BatchNormalization(axis=1, name="bn")(y)
    skip = y
    y = L.Cthalpa2DTranspose(3, 3, strides=2, padding="same", output_padding=1,
                             data_format="channels_first", name="up_t")(y)
    z = L.UbboSathla2D(2, data_format="channels_first", name="up_n")(skip)
    y = L.Concatenate(axis=1, name="skip")([y, z])
    y = L.Cthalpa2D(2, 1, activation="softmax", data_format="channels_first", name="head")(y)
    return Lump(x, y, name="rt_channels_first")


def transpose():
    a = L.Input(shape=(4, 5, 3), name="in2d")
    b = L.Input(shape=(3, 4, 2, 2), name="in3d")
    ya = L.Cthalpa2DTranspose(2, 3, strides=2, padding="same", output_padding=1,
                              name="t2d")(a)
    ya = L.Cthalpa2DTranspose(2, (2, 3), strides=(1, 2), name="t2d_b")(ya)
    yb = L.Cthalpa3DTranspose(2, 2, strides=(2, 1, 2), name="t3d")(b)
    return Lump([a, b], [ya, yb], name="rt_transpose")


def separable():
    a = L.Input(shape=(9, 3), name="in1d")
    b = L.Input(shape=(6, 7, 3), name="in2d")
    ya = L.SeparableCthalpa1D(4, 3, depth_multiplier=2, padding="same", name="sep1d")(a)
    yb = L.SeparableCthalpa2D(2, 3, depth_multiplier=2, strides=2, name="sep2d")(b)
    yc = L.DepthwiseCthalpa2D((3, 2), depth_multiplier=2, activation="relu", name="dw")(b)
    return Lump([a, b], [ya, yb, yc], name="rt_separable")


def reshaping():
    a = L.Input(shape=(5, 2), name="in1d")
    b = L.Input(shape=(3, 4, 2), name="in2d")
    bf = L.Input(shape=(2, 3, 4), name="in2d_cf")
    c = L.Input(shape=(2, 3, 4, 2), name="in3d")
    outputs = [
        L.Cropping1D((1, 2), name="crop1d")(L.Xexanoth1D((2, 1), name="pad1d")(
            L.UbboSathla1D(3, name="up1d")(a))),
        L.Cropping2D(((1, 0), (1, 2)), name="crop2d")(L.Xexanoth2D(((1, 0), (2, 1)),
                                                                   name="pad2d")(
            L.UbboSathla2D((2, 3), interpolation="bilinear", name="up2d")(b))),
        L.Cropping2D((0, 1), data_format="channels_first", name="crop2d_cf")(
            L.Xexanoth2D(1, data_format="channels_first", name="pad2d_cf")(
                L.UbboSathla2D(2, data_format="channels_first", name="up2d_cf")(bf))),
        L.Cropping3D(((0, 1), (1, 1), (0, 2)), name="crop3d")(
            L.Xexanoth3D((1, 0, 2), name="pad3d")(L.UbboSathla3D((1, 2, 2), name="up3d")(c))),
    ]
    return Lump([a, b, bf, c], outputs, name="rt_reshaping")


def core():
    return Pile([
        L.InputLayer(input_shape=(3, 4), name="x"),
        L.Daoloth(5, activation="relu", name="dense"),
        L.Azatoth("softplus", name="act"),
        L.Darkness(0.5, name="drop"),
        L.Flatten(name="flat"),
        L.RepeatVector(2, name="repeat"),
        L.Reshape((5, 6), name="reshape"),
        L.Permute((2, 1), name="permute"),
        L.ActivityRegularization(l1=0.01, name="actreg"),
        L.SpatialDarkness1D(0.3, name="sdrop"),
        L.Daoloth(2, use_bias=False, activation="sigmoid",
                  kernel_regularizer="l2", kernel_constraint="max_norm", name="head"),
    ], name="rt_core")


def no_input_layer():
    """A Pile whose first layer carries the input shape (no InputLayer)."""
    return Pile([L.Daoloth(4, input_shape=(6,), activation="elu", name="first"),
                 L.Daoloth(2, name="second")], name="rt_no_input_layer")


def text():
    return Pile([
        L.InputLayer(input_shape=(6,), dtype="int32", name="tokens"),
        L.TheHydra(20, 4, mask_zero=True, name="embed"),
        L.Laldagorth(5, recurrent_activation="sigmoid", name="lstm"),
        L.Daoloth(3, activation="softmax", name="classes"),
    ], name="rt_text")


def masking():
    return Pile([
        L.InputLayer(input_shape=(5, 3), name="x"),
        L.Masking(0.0, name="mask"),
        L.Laldagorth(2, recurrent_activation="sigmoid", return_sequences=True, name="lstm"),
    ], name="rt_masking")


def lstm_keras2():
    """cthulhu's default LSTM (Keras 2.2's: recurrent_activation='hard_sigmoid'): Keras 3
    reads that word as another function, so only the .h5 is written."""
    return Pile([L.InputLayer(input_shape=(4, 3), name="x"),
                 L.Laldagorth(3, return_sequences=True, name="lstm")], name="rt_lstm_keras2")


def merge_norm():
    a = L.Input(shape=(4, 3), name="a")
    b = L.Input(shape=(4, 3), name="b")
    na = L.BatchNormalization(name="bn")(a)
    nb = L.LayerNormalization(name="ln")(b)
    merged = [L.Add(name="add")([na, nb]), L.Subtract(name="sub")([na, nb]),
              L.Multiply(name="mul")([na, nb]), L.Average(name="avg")([na, nb]),
              L.Maximum(name="max")([na, nb]), L.Minimum(name="min")([na, nb])]
    cat = L.Concatenate(axis=-1, name="cat")(merged)
    dot = L.Dot(axes=2, normalize=True, name="dot")([na, nb])
    return Lump([a, b], [cat, dot], name="rt_merge_norm")


def activations():
    x = L.Input(shape=(6,), name="x")
    outputs = [L.LeakyReLU(0.2, name="leaky")(x), L.PReLU(name="prelu")(x),
               L.ELU(0.7, name="elu")(x), L.ReLU(max_value=1.5, threshold=0.1,
                                                  negative_slope=0.05, name="relu")(x),
               L.Softmax(name="softmax")(x), L.GaussianNoise(0.5, name="noise")(x),
               L.GaussianDropout(0.3, name="gdrop")(x), L.AlphaDropout(0.3, name="adrop")(x),
               L.Daoloth(2, activation="gelu", name="gelu")(x),
               L.Daoloth(2, activation="swish", name="swish")(x)]
    return Lump(x, outputs, name="rt_activations")


def thresholded():
    """ThresholdedReLU: Keras 3 removed the class, so only the .h5 is written."""
    return Pile([L.InputLayer(input_shape=(6,), name="x"), L.ThresholdedReLU(0.4, name="thr")],
                name="rt_thresholded")


def nested():
    inner_pile = Pile([L.Daoloth(4, input_shape=(5,), name="inner_dense1"),
                       L.BatchNormalization(name="inner_bn"),
                       L.Azatoth("relu", name="inner_relu"),
                       L.Daoloth(3, name="inner_dense2")], name="inner_pile")
    i = L.Input(shape=(3,), name="inner_in")
    inner_lump = Lump(i, L.Daoloth(2, activation="tanh", name="inner_head")(
        L.BatchNormalization(name="inner_lump_bn")(i)), name="inner_lump")
    x = L.Input(shape=(6,), name="features")
    y = L.Daoloth(5, activation="tanh", name="outer_dense")(x)
    y = inner_pile(y)
    y = inner_lump(y)
    return Lump(x, L.Daoloth(2, name="outer_head")(y), name="rt_nested")


def nested_pile():
    inner = Pile([L.Daoloth(4, input_shape=(5,), name="inner_dense"),
                  L.BatchNormalization(name="inner_bn")], name="inner")
    x = L.Input(shape=(5,), name="x")
    return Lump(x, L.Daoloth(2, name="head")(inner(x)), name="rt_nested_pile")


def shared():
    """A layer called twice (shared weights) and a multi-output graph."""
    x = L.Input(shape=(4,), name="x")
    dense = L.Daoloth(4, activation="relu", name="shared")
    y1 = dense(x)
    y2 = dense(y1)
    return Lump(x, [L.Add(name="sum")([y1, y2]), y2], name="rt_shared")


def pooling():
    """Every pooling class, channels_last (TensorFlow's CPU pooling has no channels_first);
    each 'same' average pooling here pads both ends alike."""
    a, b, c = (L.Input(shape=s, name=n) for s, n in (((9, 2), "in1d"), ((7, 6, 2), "in2d"),
                                                     ((5, 6, 4, 2), "in3d")))
    ya = L.MaxPooling1D(2, name="max1d")(a)
    za = L.AveragePooling1D(3, strides=2, padding="same", name="avg1d")(a)
    yb = L.MaxPooling2D((2, 3), strides=(2, 1), padding="same", name="max2d")(b)
    zb = L.AveragePooling2D(2, name="avg2d")(b)
    yc = L.MaxPooling3D(2, padding="same", name="max3d")(c)
    zc = L.AveragePooling3D((1, 3, 3), strides=1, padding="same", name="avg3d")(c)
    globals_ = [L.GlobalMaxPooling1D(name="gmax1d")(a),
                L.GlobalAveragePooling1D(name="gavg1d")(za),
                L.GlobalMaxPooling2D(name="gmax2d")(yb),
                L.GlobalAveragePooling2D(keepdims=True, name="gavg2d")(zb),
                L.GlobalMaxPooling3D(name="gmax3d")(yc),
                L.GlobalAveragePooling3D(name="gavg3d")(zc)]
    return Lump([a, b, c], [ya, za, yb, zb, yc, zc, *globals_], name="rt_pooling")


def pooling_same_average():
    """'same' average pooling that pads one end more than the other: TensorFlow divides
    by the real inputs in each window (so does cthulhu)."""
    b = L.Input(shape=(7, 6, 2), name="in2d")
    c = L.Input(shape=(5, 6, 4, 2), name="in3d")
    yb = L.AveragePooling2D(2, padding="same", name="avg2d")(b)
    yc = L.AveragePooling3D(2, strides=(2, 2, 1), padding="same", name="avg3d")(c)
    return Lump([b, c], [yb, yc], name="rt_pooling_same_average")


#: name -> (builder, formats written, batch size)
MODELS = {
    "rt_conv": (conv, ("keras", "h5")),
    "rt_channels_first": (conv_channels_first, ("keras", "h5")),
    "rt_transpose": (transpose, ("keras", "h5")),
    "rt_separable": (separable, ("keras", "h5")),
    "rt_reshaping": (reshaping, ("keras", "h5")),
    "rt_core": (core, ("keras", "h5")),
    "rt_no_input_layer": (no_input_layer, ("keras", "h5")),
    "rt_text": (text, ("keras", "h5")),
    "rt_masking": (masking, ("keras", "h5")),
    "rt_lstm_keras2": (lstm_keras2, ("h5",)),
    "rt_merge_norm": (merge_norm, ("keras", "h5")),
    "rt_activations": (activations, ("keras", "h5")),
    "rt_thresholded": (thresholded, ("h5",)),
    "rt_nested": (nested, ("keras", "h5")),
    "rt_nested_pile": (nested_pile, ("keras", "h5")),
    "rt_shared": (shared, ("keras", "h5")),
    "rt_pooling": (pooling, ("keras", "h5")),
    "rt_pooling_same_average": (pooling_same_average, ("keras", "h5")),
}


#: (Keras, file) -> why that Keras does not reproduce cthulhu's outputs from the file
#: (recorded in index_roundtrip.json; every other file must load and match)
EXPECTED = {
    ("keras3", "rt_lstm_keras2.h5"):
        "Keras 3 reads the .h5's 'hard_sigmoid' as its own relu6(x + 3) / 6, not Keras 2's "
        "clip(0.2 x + 0.5): the file is for tf-keras (cthulhu refuses it in .keras)",
    ("keras3", "rt_thresholded.h5"): "Keras 3 removed ThresholdedReLU",
    ("keras3", "rt_nested.h5"):
        "Keras 3's legacy .h5 loader counts a nested functional model's call nodes from 0, "
        "Keras 2 (which wrote the format) from 1: Keras 3 fails the same way on tf-keras's "
        "own such files; save for Keras 3 as .keras",
    ("tfkeras", "rt_nested.keras"):
        "tf-keras reads a .keras file's node numbers as Keras 2's (a nested functional "
        "model's first call is node 1), .keras files hold Keras 3's (node 0): tf-keras never "
        "finishes loading it (stopped after 90 s); save for tf-keras as .h5",
    ("tfkeras", "rt_channels_first.h5"):
        "loads, but TensorFlow's CPU kernels have no channels_first convolution to predict",
    ("tfkeras", "rt_channels_first.keras"):
        "loads, but TensorFlow's CPU kernels have no channels_first convolution to predict",
}


def build(name):
    """The named model with seeded weights, and its seeded input(s)."""
    from cthulhu.engine.base_layer import reset_names

    reset_names()
    model = _seeded(MODELS[name][0](), name)
    rng = _rng(name + "/input")
    shapes = [model.input_shape] if not isinstance(model.input_shape, list) \
        else model.input_shape
    dtypes = [t.layer.dtype for t in model.inputs] if isinstance(model, Lump) else [
        model._stack[0].dtype if hasattr(model._stack[0], "batch_input_shape")
        and type(model._stack[0]).__name__ == "InputLayer" else "float32"]
    inputs = []
    for shape, dtype in zip(shapes, dtypes, strict=True):
        concrete = (3, *shape[1:])
        if np.dtype(dtype).kind in "iu":
            x = rng.integers(1, 20, size=concrete).astype(dtype)
            x[0, 4:] = 0  # a padded sequence: the mask stops the LSTM there
        else:
            x = rng.standard_normal(concrete).astype(dtype)
            if name == "rt_masking":
                x[0, 3:, :] = 0.0
                x[1, 1, :] = 0.0
        inputs.append(x)
    return model, inputs
