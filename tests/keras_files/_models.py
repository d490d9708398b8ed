"""The fixture models, written once for both Keras APIs (tf-keras 2.15 and Keras 3).

Imported ONLY by the generators (``generate_keras3.py``, ``generate_tfkeras.py``), which
run in their own virtual environments; the test suite never imports Keras. Every builder
takes the ``keras`` module (``tf.keras`` or Keras 3) and returns ``(model, inputs)``: a
small model and the NumPy input(s) its ``predict`` output is recorded for. Inputs and
weights are drawn from NumPy generators seeded per model, so both generations of a model
hold the same weights (their outputs differ only by backend rounding).
"""

from __future__ import annotations

import zlib

import numpy as np

SEED = 20260313


def rng_for(name):
    # crc32, not hash(): the same stream in every process and Python version
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def draw_weights(model, rng):
    """Give every leaf layer seeded weights (positive moving variances), in layer order."""
    for layer in leaf_layers(model):
        values = []
        for variable, current in zip(layer.weights, layer.get_weights(), strict=True):
            name = variable.name if hasattr(variable, "name") else ""
            if "moving_variance" in name:
                values.append(rng.uniform(0.5, 1.5, size=current.shape).astype(current.dtype))
            elif "gamma" in name:
                values.append(rng.uniform(0.5, 1.5, size=current.shape).astype(current.dtype))
            else:
                values.append((rng.standard_normal(current.shape) * 0.4).astype(current.dtype))
        if values:
            layer.set_weights(values)


def leaf_layers(model, prefix=()):
    """Yield every non-model layer, depth first (nested models are walked, not returned)."""
    for layer in model.layers:
        if hasattr(layer, "layers") and not _is_rnn(layer):
            yield from leaf_layers(layer, prefix + (layer.name,))
        else:
            yield layer


def leaf_paths(model, prefix=()):
    """(path tuple, layer) for every leaf layer, the path naming the nested models above it."""
    for layer in model.layers:
        if hasattr(layer, "layers") and not _is_rnn(layer):
            yield from leaf_paths(layer, prefix + (layer.name,))
        else:
            yield prefix + (layer.name,), layer


def _is_rnn(layer):
    return type(layer).__name__ in ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional")


def _normal(rng, shape, dtype="float32"):
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------
# Whole models
# ---------------------------------------------------------------------------

def unet3d(keras, rng):
    """Depth-3 3D U-Net: Conv3D+BN+ReLU, MaxPooling3D, Conv3DTranspose and UpSampling3D up,
    Concatenate skips."""
    L = keras.layers

    def block(x, filters, tag):
        for k in (1, 2):
            x = L.Conv3D(filters, 3, padding="same", use_bias=False, name=f"{tag}_conv{k}")(x)
            x = L.BatchNormalization(name=f"{tag}_bn{k}")(x)
            x = L.ReLU(name=f"{tag}_relu{k}")(x)
        return x

    inputs = keras.Input(shape=(8, 8, 8, 1), name="volume")
    d1 = block(inputs, 2, "down1")
    d2 = block(L.MaxPooling3D(2, name="pool1")(d1), 3, "down2")
    bottom = block(L.MaxPooling3D(2, name="pool2")(d2), 4, "bottom")
    u2 = L.Conv3DTranspose(3, 2, strides=2, name="up2_transpose")(bottom)
    u2 = block(L.Concatenate(name="skip2")([u2, d2]), 3, "up2")
    u1 = L.UpSampling3D(2, name="up1_upsample")(u2)
    u1 = block(L.Concatenate(name="skip1")([u1, d1]), 2, "up1")
    outputs = L.Conv3D(1, 1, activation="sigmoid", name="head")(u1)
    model = keras.Model(inputs, outputs, name="unet3d")
    return model, [_normal(rng, (1, 8, 8, 8, 1))]


def unet2d_channels_first(keras, rng, data_format="channels_first", head_activation="softmax"):
    """A 2D U-Net in channels_first (BN axis 1, Concatenate axis 1).

    The head's softmax is Keras's: over the LAST axis of the layer's output, which in
    channels_first is the width, not the channels (a quirk a translation must keep).
    ``data_format='channels_last'`` builds its twin (same layers, names and weight
    shapes), which the tf-keras generator runs because TF's CPU kernels lack NCHW
    convolutions and pooling (it passes ``head_activation='linear'`` and applies the
    softmax itself on the channels_first result).
    """
    L = keras.layers
    first = data_format == "channels_first"
    axis = 1 if first else -1

    def block(x, filters, tag):
        x = L.Conv2D(filters, 3, padding="same", data_format=data_format, name=f"{tag}_conv")(x)
        x = L.BatchNormalization(axis=axis, name=f"{tag}_bn")(x)
        return L.Activation("relu", name=f"{tag}_relu")(x)

    shape = (1, 8, 8) if first else (8, 8, 1)
    inputs = keras.Input(shape=shape, name="image")
    d1 = block(inputs, 2, "down1")
    d2 = block(L.MaxPooling2D(2, data_format=data_format, name="pool1")(d1), 3, "down2")
    bottom = block(L.MaxPooling2D(2, data_format=data_format, name="pool2")(d2), 4, "bottom")
    u2 = L.Conv2DTranspose(3, 3, strides=2, padding="same", data_format=data_format,
                           name="up2_transpose")(bottom)
    u2 = block(L.Concatenate(axis=axis, name="skip2")([u2, d2]), 3, "up2")
    u1 = L.UpSampling2D(2, data_format=data_format, name="up1_upsample")(u2)
    u1 = block(L.Concatenate(axis=axis, name="skip1")([u1, d1]), 2, "up1")
    outputs = L.Conv2D(2, 1, activation=head_activation, data_format=data_format,
                       name="head")(u1)
    model = keras.Model(inputs, outputs, name="unet2d_cf")
    x = _normal(rng, (2, 1, 8, 8))
    return model, [x if first else np.moveaxis(x, 1, -1)]


def resnet(keras, rng):
    """ResNet-style classifier: residual blocks with Add, GlobalAveragePooling2D, softmax."""
    L = keras.layers
    inputs = keras.Input(shape=(8, 8, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.Activation("relu", name="stem_relu")(x)
    for block, stride in ((1, 1), (2, 2)):
        filters = 4 * block
        y = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                     name=f"b{block}_conv1")(x)
        y = L.BatchNormalization(name=f"b{block}_bn1")(y)
        y = L.Activation("relu", name=f"b{block}_relu1")(y)
        y = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"b{block}_conv2")(y)
        y = L.BatchNormalization(name=f"b{block}_bn2")(y)
        if stride != 1 or block != 1:
            x = L.Conv2D(filters, 1, strides=stride, name=f"b{block}_project")(x)
        x = L.Add(name=f"b{block}_add")([x, y])
        x = L.Activation("relu", name=f"b{block}_out")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    outputs = L.Dense(3, activation="softmax", name="classes")(x)
    model = keras.Model(inputs, outputs, name="resnet")
    return model, [_normal(rng, (2, 8, 8, 3))]


def mobilenet(keras, rng):
    """MobileNet-style blocks: DepthwiseConv2D, BatchNormalization, ReLU(6)."""
    L = keras.layers
    inputs = keras.Input(shape=(8, 8, 4), name="image")
    x = inputs
    for k, stride in enumerate((1, 2), start=1):
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                              name=f"dw{k}")(x)
        x = L.BatchNormalization(name=f"dw{k}_bn")(x)
        x = L.ReLU(6.0, name=f"dw{k}_relu6")(x)
        x = L.Conv2D(4 * k, 1, use_bias=False, name=f"pw{k}")(x)
        x = L.BatchNormalization(name=f"pw{k}_bn")(x)
        x = L.ReLU(max_value=6.0, name=f"pw{k}_relu6")(x)
    outputs = L.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, outputs, name="mobilenet")
    return model, [_normal(rng, (2, 8, 8, 4)) * 2.0]


def tcn(keras, rng):
    """Temporal CNN: causal Conv1D with dilations 1, 2, 4 and a residual Add."""
    L = keras.layers
    inputs = keras.Input(shape=(16, 3), name="series")
    x = L.Conv1D(4, 2, padding="causal", dilation_rate=1, activation="relu", name="c1")(inputs)
    y = L.Conv1D(4, 2, padding="causal", dilation_rate=2, activation="relu", name="c2")(x)
    y = L.Conv1D(4, 3, padding="causal", dilation_rate=4, name="c3")(y)
    x = L.Add(name="residual")([x, y])
    x = L.Conv1D(2, 1, name="c4")(x)
    model = keras.Model(inputs, x, name="tcn")
    return model, [_normal(rng, (2, 16, 3))]


def text_lstm(keras, rng):
    """Embedding (mask_zero) -> LSTM -> Dense softmax over integer tokens."""
    L = keras.layers
    model = keras.Sequential([
        keras.Input(shape=(6,), dtype="int32", name="tokens"),
        L.Embedding(20, 4, mask_zero=True, name="embed"),
        L.LSTM(5, name="lstm"),
        L.Dense(3, activation="softmax", name="classes"),
    ], name="text_lstm")
    x = rng.integers(1, 20, size=(3, 6)).astype("int32")
    x[0, 4:] = 0  # padded sequence: the mask must stop the LSTM there
    return model, [x]


def nested(keras, rng):
    """A Sequential (with BatchNormalization) inside a functional model."""
    L = keras.layers
    inner = keras.Sequential([
        keras.Input(shape=(5,), name="inner_in"),
        L.Dense(4, name="inner_dense1"),
        L.BatchNormalization(name="inner_bn"),
        L.Activation("relu", name="inner_relu"),
        L.Dense(3, name="inner_dense2"),
    ], name="inner")
    inputs = keras.Input(shape=(6,), name="features")
    x = L.Dense(5, activation="tanh", name="outer_dense")(inputs)
    x = inner(x)
    outputs = L.Dense(2, name="outer_head")(x)
    model = keras.Model(inputs, outputs, name="nested")
    return model, [_normal(rng, (3, 6))]


def lambda_model(keras, rng):
    """A Lambda layer (marshalled bytecode in the file): cthulhu must refuse it."""
    L = keras.layers
    model = keras.Sequential([
        keras.Input(shape=(4,), name="x"),
        L.Dense(3, name="before"),
        L.Lambda(lambda t: t * 2.0 + 1.0, name="affine"),
        L.Dense(2, name="after"),
    ], name="lambda_model")
    return model, [_normal(rng, (2, 4))]


def custom_layer_class(keras):
    """A user-defined layer with a weight, registered under the package 'fixtures'."""
    register = (keras.saving.register_keras_serializable if hasattr(keras, "saving")
                and hasattr(keras.saving, "register_keras_serializable")
                else keras.utils.register_keras_serializable)

    @register(package="fixtures")
    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],),
                                         initializer="ones")

        def call(self, x):
            return x * self.scale

    return Scale


def custom_model(keras, rng):
    """A custom layer class between two Dense layers: cthulhu must refuse it."""
    L = keras.layers
    scale = custom_layer_class(keras)
    model = keras.Sequential([
        keras.Input(shape=(4,), name="x"),
        L.Dense(3, name="before"),
        scale(name="scale"),
        L.Dense(2, name="after"),
    ], name="custom_model")
    return model, [_normal(rng, (2, 4))]


# ---------------------------------------------------------------------------
# One small model per seed layer family
# ---------------------------------------------------------------------------

def family_conv(keras, rng):
    """Conv1D, Conv2D, Conv3D (strides, dilation, same/valid, no bias): three inputs."""
    L = keras.layers
    a = keras.Input(shape=(9, 2), name="in1d")
    b = keras.Input(shape=(7, 6, 2), name="in2d")
    c = keras.Input(shape=(5, 4, 6, 2), name="in3d")
    ya = L.Conv1D(3, 3, strides=2, padding="same", name="conv1d_a")(a)
    ya = L.Conv1D(2, 2, dilation_rate=2, use_bias=False, activation="tanh", name="conv1d_b")(ya)
    yb = L.Conv2D(3, (3, 2), strides=(2, 1), name="conv2d_a")(b)
    yb = L.Conv2D(2, 2, dilation_rate=(1, 2), padding="same", activation="relu",
                  name="conv2d_b")(yb)
    yc = L.Conv3D(2, (2, 3, 2), padding="same", strides=(1, 2, 2), name="conv3d_a")(c)
    model = keras.Model([a, b, c], [ya, yb, yc], name="family_conv")
    return model, [_normal(rng, (2, 9, 2)), _normal(rng, (2, 7, 6, 2)),
                   _normal(rng, (2, 5, 4, 6, 2))]


def family_conv_transpose(keras, rng):
    """Conv2DTranspose and Conv3DTranspose (strides, same/valid, output_padding)."""
    L = keras.layers
    a = keras.Input(shape=(4, 5, 3), name="in2d")
    b = keras.Input(shape=(3, 4, 2, 2), name="in3d")
    ya = L.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1,
                           name="conv2dT_a")(a)
    ya = L.Conv2DTranspose(2, (2, 3), strides=(1, 2), name="conv2dT_b")(ya)
    yb = L.Conv3DTranspose(2, 2, strides=(2, 1, 2), padding="valid", name="conv3dT_a")(b)
    model = keras.Model([a, b], [ya, yb], name="family_conv_transpose")
    return model, [_normal(rng, (2, 4, 5, 3)), _normal(rng, (2, 3, 4, 2, 2))]


def family_separable(keras, rng):
    """SeparableConv1D and SeparableConv2D (depth_multiplier 2)."""
    L = keras.layers
    a = keras.Input(shape=(9, 3), name="in1d")
    b = keras.Input(shape=(6, 7, 3), name="in2d")
    ya = L.SeparableConv1D(4, 3, depth_multiplier=2, padding="same", name="sep1d")(a)
    yb = L.SeparableConv2D(2, 3, depth_multiplier=2, strides=2, name="sep2d")(b)
    model = keras.Model([a, b], [ya, yb], name="family_separable")
    return model, [_normal(rng, (2, 9, 3)), _normal(rng, (2, 6, 7, 3))]


def family_depthwise(keras, rng):
    """DepthwiseConv2D (depth_multiplier 2, valid) in a Sequential."""
    L = keras.layers
    model = keras.Sequential([
        keras.Input(shape=(6, 5, 3), name="image"),
        L.DepthwiseConv2D((3, 2), depth_multiplier=2, name="dw"),
        L.DepthwiseConv2D(2, padding="same", activation="relu", name="dw2"),
    ], name="family_depthwise")
    return model, [_normal(rng, (2, 6, 5, 3))]


def _three_rank_model(keras, rng, name, make):
    a = keras.Input(shape=(5, 2), name="in1d")
    b = keras.Input(shape=(3, 4, 2), name="in2d")
    bf = keras.Input(shape=(2, 3, 4), name="in2d_cf")
    c = keras.Input(shape=(2, 3, 4, 2), name="in3d")
    outputs = make(a, b, bf, c)
    model = keras.Model([a, b, bf, c], outputs, name=name)
    return model, [_normal(rng, (2, 5, 2)), _normal(rng, (2, 3, 4, 2)),
                   _normal(rng, (2, 2, 3, 4)), _normal(rng, (2, 2, 3, 4, 2))]


def family_upsampling(keras, rng):
    L = keras.layers
    return _three_rank_model(keras, rng, "family_upsampling", lambda a, b, bf, c: [
        L.UpSampling1D(3, name="up1d")(a),
        L.UpSampling2D((2, 3), name="up2d")(b),
        L.UpSampling2D(2, data_format="channels_first", name="up2d_cf")(bf),
        L.UpSampling3D((1, 2, 2), name="up3d")(c)])


def family_zeropadding(keras, rng):
    L = keras.layers
    return _three_rank_model(keras, rng, "family_zeropadding", lambda a, b, bf, c: [
        L.ZeroPadding1D((1, 2), name="pad1d")(a),
        L.ZeroPadding2D(((1, 0), (2, 1)), name="pad2d")(b),
        L.ZeroPadding2D(1, data_format="channels_first", name="pad2d_cf")(bf),
        L.ZeroPadding3D((1, 0, 2), name="pad3d")(c)])


def family_cropping(keras, rng):
    L = keras.layers
    return _three_rank_model(keras, rng, "family_cropping", lambda a, b, bf, c: [
        L.Cropping1D((1, 2), name="crop1d")(a),
        L.Cropping2D(((1, 0), (1, 2)), name="crop2d")(b),
        L.Cropping2D((0, 1), data_format="channels_first", name="crop2d_cf")(bf),
        L.Cropping3D(((0, 1), (1, 1), (0, 2)), name="crop3d")(c)])


def family_spatialdropout(keras, rng):
    L = keras.layers
    return _three_rank_model(keras, rng, "family_spatialdropout", lambda a, b, bf, c: [
        L.SpatialDropout1D(0.3, name="sdrop1d")(a),
        L.SpatialDropout2D(0.3, name="sdrop2d")(b),
        L.SpatialDropout2D(0.3, data_format="channels_first", name="sdrop2d_cf")(bf),
        L.SpatialDropout3D(0.3, name="sdrop3d")(c)])


def _sequential(keras, rng, name, input_shape, layers, batch=2):
    model = keras.Sequential([keras.Input(shape=input_shape, name="x"), *layers], name=name)
    return model, [_normal(rng, (batch, *input_shape))]


def family_dense(keras, rng):
    L = keras.layers
    return _sequential(keras, rng, "family_dense", (3, 4), [
        L.Dense(5, activation="relu", name="dense_a"),
        L.Dense(2, use_bias=False, activation="sigmoid", name="dense_b")])


def family_dropout(keras, rng):
    L = keras.layers
    return _sequential(keras, rng, "family_dropout", (6,), [
        L.Dense(4, name="dense"), L.Dropout(0.5, name="drop"), L.Dense(2, name="head")])


def family_flatten(keras, rng):
    L = keras.layers
    return _sequential(keras, rng, "family_flatten", (3, 2, 2), [
        L.Flatten(name="flat"), L.Dense(3, name="head")])


def family_reshape(keras, rng):
    L = keras.layers
    return _sequential(keras, rng, "family_reshape", (12,), [
        L.Reshape((3, 4), name="reshape"), L.Reshape((-1, 2), name="reshape_infer")])


def family_permute(keras, rng):
    L = keras.layers
    return _sequential(keras, rng, "family_permute", (2, 3, 4), [
        L.Permute((3, 1, 2), name="permute")])


def family_repeatvector(keras, rng):
    L = keras.layers
    return _sequential(keras, rng, "family_repeatvector", (3,), [
        L.RepeatVector(4, name="repeat"), L.Dense(2, name="head")])


def family_activation(keras, rng):
    L = keras.layers
    return _sequential(keras, rng, "family_activation", (2, 5), [
        L.Activation("tanh", name="act_tanh"), L.Activation("softplus", name="act_softplus"),
        L.Activation("softmax", name="act_softmax")])


def family_masking(keras, rng):
    L = keras.layers
    model, (x,) = _sequential(keras, rng, "family_masking", (5, 3), [
        L.Masking(0.0, name="mask"), L.LSTM(2, return_sequences=True, name="lstm")])
    x[0, 3:, :] = 0.0  # masked steps
    x[1, 1, :] = 0.0
    return model, [x]


MODELS = {
    "unet3d": unet3d, "unet2d_cf": unet2d_channels_first, "resnet": resnet,
    "mobilenet": mobilenet, "tcn": tcn, "text_lstm": text_lstm, "nested": nested,
    "lambda_model": lambda_model, "custom_model": custom_model,
    "family_conv": family_conv, "family_conv_transpose": family_conv_transpose,
    "family_separable": family_separable, "family_depthwise": family_depthwise,
    "family_upsampling": family_upsampling, "family_zeropadding": family_zeropadding,
    "family_cropping": family_cropping, "family_spatialdropout": family_spatialdropout,
    "family_dense": family_dense, "family_dropout": family_dropout,
    "family_flatten": family_flatten, "family_reshape": family_reshape,
    "family_permute": family_permute, "family_repeatvector": family_repeatvector,
    "family_activation": family_activation, "family_masking": family_masking,
}


def build(keras, name):
    """The named model with seeded weights, and its seeded input(s)."""
    rng = rng_for(name)
    model, inputs = MODELS[name](keras, rng)
    draw_weights(model, rng_for(name + "/weights"))
    return model, inputs
