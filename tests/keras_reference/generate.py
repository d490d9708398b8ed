"""Generate the Keras 2 reference fixture of ``tests/keras_reference``.

This script runs ONLY under a separate TensorFlow virtual environment, never in
the test suite (the suite reads the stored fixture with plain NumPy)::

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1 numpy   # or the downloaded wheel
    /tmp/tfenv/bin/python tests/keras_reference/generate.py

TensorFlow 2.15 bundles Keras 2.15, i.e. the Keras 2 API on the TensorFlow
backend: the reference cthulhu follows where its docs are silent. The script
writes, beside itself:

- ``keras2_reference.npz``: every array (inputs, weights in Keras ``get_weights``
  order, outputs), saved with ``np.savez_compressed`` (no pickled objects);
- ``keras2_reference.json``: the index, one entry per case: the Keras class
  names and ``get_config()`` dicts of its layers, the input shape and dtype, the
  array keys, Keras's output shapes, and a note where the numbers were not
  computed by the plain Keras layer (see below).

Inputs and weights are small and drawn from NumPy generators seeded per case
(``np.random.default_rng([SEED, case_number])``), so a regeneration with the
same TensorFlow gives the same file. Weights are drawn for every weight the
Keras layer creates, in ``get_weights`` order, and set with ``set_weights``.

TensorFlow's CPU kernels lack some ``channels_first`` (NCHW) operations. Where
running the ``channels_first`` Keras layer raises, the script builds the same
layer with ``data_format='channels_last'``, gives it the same weights (the
kernel layout does not depend on the data format), runs it on the input moved
to channels-last and moves the result back; the case's ``note`` says so. The
stored config is still the ``channels_first`` one, and the stored output shape
is the ``channels_first`` layer's ``compute_output_shape``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Eigen kernels, not oneDNN: the same numbers on every x86 CPU (oneDNN picks ISA-specific code).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

K = tf.keras
L = tf.keras.layers
SEED = 20260101
HERE = Path(__file__).resolve().parent
NPZ = HERE / "keras2_reference.npz"
INDEX = HERE / "keras2_reference.json"
FALLBACK_NOTE = ("TF CPU has no channels_first kernel for this layer: Keras output computed "
                 "as activation(to_channels_first(same layer with data_format='channels_last', "
                 "activation=None, same weights)(to_channels_last(input))))")


# ---------------------------------------------------------------------------
# Case table
# ---------------------------------------------------------------------------

def layer(cls, **kwargs):
    return (cls, kwargs)


def build_cases():
    """Every case: (id, [layer specs], input shape with batch, options)."""
    cases = []

    def add(case_id, layers, input_shape, **options):
        cases.append((case_id, layers if isinstance(layers, list) else [layers],
                      tuple(input_shape), options))

    both = ("channels_last", "channels_first")

    # ---- Conv1D
    for fmt in both:
        shape = (2, 9, 3) if fmt == "channels_last" else (2, 3, 9)
        tag = "cl" if fmt == "channels_last" else "cf"
        add(f"conv1d_valid_{tag}", layer("Conv1D", filters=4, kernel_size=3, data_format=fmt), shape)
        add(f"conv1d_same_k4_s2_{tag}",
            layer("Conv1D", filters=2, kernel_size=4, strides=2, padding="same", data_format=fmt),
            shape)
        add(f"conv1d_same_k2_{tag}",
            layer("Conv1D", filters=2, kernel_size=2, padding="same", data_format=fmt), shape)
        add(f"conv1d_dilated_{tag}",
            layer("Conv1D", filters=3, kernel_size=3, dilation_rate=2, data_format=fmt), shape)
        add(f"conv1d_valid_s3_{tag}",
            layer("Conv1D", filters=3, kernel_size=2, strides=3, use_bias=False,
                  activation="relu", data_format=fmt), shape)
    add("conv1d_causal", layer("Conv1D", filters=2, kernel_size=3, padding="causal"), (2, 8, 3))
    add("conv1d_causal_dilated",
        layer("Conv1D", filters=2, kernel_size=3, padding="causal", dilation_rate=2,
              activation="tanh"), (2, 8, 3))
    add("conv1d_causal_f64",
        layer("Conv1D", filters=2, kernel_size=2, padding="causal", dilation_rate=3,
              dtype="float64"), (2, 8, 3), dtype="float64")

    # ---- Conv2D
    for fmt in both:
        tag = "cl" if fmt == "channels_last" else "cf"
        shape = (2, 7, 6, 3) if fmt == "channels_last" else (2, 3, 7, 6)
        add(f"conv2d_valid_{tag}", layer("Conv2D", filters=4, kernel_size=3, data_format=fmt),
            shape)
        add(f"conv2d_same_{tag}",
            layer("Conv2D", filters=2, kernel_size=(3, 2), padding="same", data_format=fmt), shape)
        add(f"conv2d_same_k2_s2_{tag}",
            layer("Conv2D", filters=3, kernel_size=2, strides=2, padding="same",
                  data_format=fmt), shape)
        add(f"conv2d_same_k4_s3_{tag}",
            layer("Conv2D", filters=2, kernel_size=(4, 3), strides=(3, 2), padding="same",
                  data_format=fmt), shape)
        add(f"conv2d_valid_s2_{tag}",
            layer("Conv2D", filters=2, kernel_size=(2, 3), strides=(2, 1), data_format=fmt,
                  activation="sigmoid"), shape)
        add(f"conv2d_dilated_same_{tag}",
            layer("Conv2D", filters=2, kernel_size=3, dilation_rate=(2, 1), padding="same",
                  data_format=fmt), shape)
        add(f"conv2d_dilated_valid_nobias_{tag}",
            layer("Conv2D", filters=2, kernel_size=2, dilation_rate=2, use_bias=False,
                  data_format=fmt), shape)
    add("conv2d_same_s2_f64",
        layer("Conv2D", filters=3, kernel_size=3, strides=2, padding="same", dtype="float64"),
        (2, 6, 7, 2), dtype="float64")
    add("conv2d_relu_1x1", layer("Conv2D", filters=5, kernel_size=1, activation="relu"),
        (2, 3, 4, 3))

    # ---- Conv3D
    for fmt in both:
        tag = "cl" if fmt == "channels_last" else "cf"
        shape = (1, 5, 4, 6, 2) if fmt == "channels_last" else (1, 2, 5, 4, 6)
        add(f"conv3d_valid_{tag}", layer("Conv3D", filters=3, kernel_size=(2, 3, 2),
                                         data_format=fmt), shape)
        add(f"conv3d_same_s2_{tag}",
            layer("Conv3D", filters=2, kernel_size=3, strides=(2, 1, 2), padding="same",
                  data_format=fmt), shape)
        add(f"conv3d_dilated_{tag}",
            layer("Conv3D", filters=2, kernel_size=2, dilation_rate=(1, 2, 2), padding="same",
                  data_format=fmt), shape)
    add("conv3d_same_f64", layer("Conv3D", filters=2, kernel_size=2, padding="same",
                                 dtype="float64"), (1, 3, 4, 5, 2), dtype="float64")

    # ---- Conv2DTranspose
    for fmt in both:
        tag = "cl" if fmt == "channels_last" else "cf"
        shape = (2, 4, 5, 3) if fmt == "channels_last" else (2, 3, 4, 5)
        add(f"conv2dT_valid_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=3, data_format=fmt), shape)
        add(f"conv2dT_valid_s2_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=3, strides=2, data_format=fmt), shape)
        add(f"conv2dT_valid_k2_s3_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=2, strides=3, data_format=fmt), shape)
        add(f"conv2dT_same_s2_{tag}",
            layer("Conv2DTranspose", filters=3, kernel_size=3, strides=2, padding="same",
                  data_format=fmt), shape)
        add(f"conv2dT_same_k4_s2_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=4, strides=(2, 1), padding="same",
                  data_format=fmt), shape)
        add(f"conv2dT_same_outpad_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=3, strides=2, padding="same",
                  output_padding=1, data_format=fmt), shape)
        add(f"conv2dT_valid_outpad_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=(3, 2), strides=(3, 2),
                  output_padding=(2, 1), data_format=fmt), shape)
        add(f"conv2dT_same_outpad0_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=3, strides=2, padding="same",
                  output_padding=0, data_format=fmt), shape)
        add(f"conv2dT_dilated_valid_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=3, dilation_rate=2,
                  data_format=fmt), shape)
        add(f"conv2dT_dilated_same_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=2, dilation_rate=2, padding="same",
                  data_format=fmt), shape)
    add("conv2dT_same_s2_f64",
        layer("Conv2DTranspose", filters=2, kernel_size=3, strides=2, padding="same",
              dtype="float64"), (2, 3, 4, 2), dtype="float64")

    # ---- Conv3DTranspose (Keras 2.15 ignores dilation_rate here, so none is tested)
    for fmt in both:
        tag = "cl" if fmt == "channels_last" else "cf"
        shape = (1, 3, 4, 2, 2) if fmt == "channels_last" else (1, 2, 3, 4, 2)
        add(f"conv3dT_valid_s2_{tag}",
            layer("Conv3DTranspose", filters=2, kernel_size=(2, 3, 2), strides=(2, 1, 2),
                  data_format=fmt), shape)
        add(f"conv3dT_same_s2_{tag}",
            layer("Conv3DTranspose", filters=2, kernel_size=3, strides=2, padding="same",
                  data_format=fmt), shape)
        add(f"conv3dT_outpad_{tag}",
            layer("Conv3DTranspose", filters=2, kernel_size=2, strides=(2, 3, 2),
                  output_padding=(1, 2, 0), data_format=fmt), shape)

    # Keras 2.15's Conv3DTranspose ignores dilation_rate (call() never passes it and
    # get_config() drops it); the cthulhu docs describe it. These cases are computed by
    # Keras's Conv3DTranspose with the kernel dilated by hand (zeros between the taps),
    # which is what a dilated transposed convolution is (checked on Keras's own dilated
    # Conv2DTranspose in check_dilated_kernel_trick()).
    for fmt in both:
        tag = "cl" if fmt == "channels_last" else "cf"
        shape = (1, 3, 4, 3, 2) if fmt == "channels_last" else (1, 2, 3, 4, 3)
        add(f"conv3dT_dilated_valid_{tag}",
            layer("Conv3DTranspose", filters=2, kernel_size=2, dilation_rate=2,
                  data_format=fmt), shape, dilate_kernel=True)
        add(f"conv3dT_dilated_same_{tag}",
            layer("Conv3DTranspose", filters=2, kernel_size=(3, 2, 2), dilation_rate=(1, 2, 3),
                  padding="same", data_format=fmt), shape, dilate_kernel=True)

    # ---- DepthwiseConv2D
    for fmt in both:
        tag = "cl" if fmt == "channels_last" else "cf"
        shape = (2, 6, 7, 3) if fmt == "channels_last" else (2, 3, 6, 7)
        add(f"depthwise_valid_{tag}", layer("DepthwiseConv2D", kernel_size=3, data_format=fmt),
            shape)
        add(f"depthwise_same_m2_s2_{tag}",
            layer("DepthwiseConv2D", kernel_size=(3, 2), strides=2, padding="same",
                  depth_multiplier=2, data_format=fmt), shape)
        add(f"depthwise_dilated_m3_{tag}",
            layer("DepthwiseConv2D", kernel_size=2, dilation_rate=2, depth_multiplier=3,
                  padding="same", use_bias=False, data_format=fmt), shape)
    add("depthwise_same_f64",
        layer("DepthwiseConv2D", kernel_size=3, padding="same", depth_multiplier=2,
              dtype="float64"), (1, 5, 4, 2), dtype="float64")

    # ---- SeparableConv1D / 2D
    for fmt in both:
        tag = "cl" if fmt == "channels_last" else "cf"
        shape1 = (2, 9, 3) if fmt == "channels_last" else (2, 3, 9)
        shape2 = (2, 6, 7, 3) if fmt == "channels_last" else (2, 3, 6, 7)
        add(f"sep1d_valid_{tag}", layer("SeparableConv1D", filters=4, kernel_size=3,
                                        data_format=fmt), shape1)
        add(f"sep1d_same_m2_s2_{tag}",
            layer("SeparableConv1D", filters=2, kernel_size=4, strides=2, padding="same",
                  depth_multiplier=2, data_format=fmt), shape1)
        add(f"sep1d_dilated_{tag}",
            layer("SeparableConv1D", filters=2, kernel_size=2, dilation_rate=3,
                  data_format=fmt), shape1)
        add(f"sep2d_valid_{tag}", layer("SeparableConv2D", filters=4, kernel_size=3,
                                        data_format=fmt), shape2)
        add(f"sep2d_same_m2_s2_{tag}",
            layer("SeparableConv2D", filters=3, kernel_size=(2, 3), strides=2, padding="same",
                  depth_multiplier=2, activation="relu", data_format=fmt), shape2)
        add(f"sep2d_dilated_{tag}",
            layer("SeparableConv2D", filters=2, kernel_size=2, dilation_rate=(2, 1),
                  padding="same", use_bias=False, data_format=fmt), shape2)
    add("sep2d_f64", layer("SeparableConv2D", filters=2, kernel_size=3, padding="same",
                           depth_multiplier=2, dtype="float64"), (1, 5, 4, 2), dtype="float64")

    # ---- UpSampling
    add("upsampling1d", layer("UpSampling1D", size=3), (2, 4, 3))
    for fmt in both:
        tag = "cl" if fmt == "channels_last" else "cf"
        shape2 = (2, 3, 4, 2) if fmt == "channels_last" else (2, 2, 3, 4)
        shape3 = (1, 2, 3, 2, 2) if fmt == "channels_last" else (1, 2, 2, 3, 2)
        add(f"upsampling2d_nearest_{tag}", layer("UpSampling2D", size=(2, 3), data_format=fmt),
            shape2)
        add(f"upsampling2d_bilinear_{tag}",
            layer("UpSampling2D", size=(2, 3), interpolation="bilinear", data_format=fmt), shape2)
        add(f"upsampling2d_bilinear_s4_{tag}",
            layer("UpSampling2D", size=4, interpolation="bilinear", data_format=fmt), shape2)
        add(f"upsampling3d_{tag}", layer("UpSampling3D", size=(2, 1, 3), data_format=fmt), shape3)
    add("upsampling2d_bilinear_f64",
        layer("UpSampling2D", size=(3, 2), interpolation="bilinear", dtype="float64"),
        (1, 4, 3, 2), dtype="float64")

    # ---- ZeroPadding / Cropping
    add("zeropad1d_int", layer("ZeroPadding1D", padding=2), (2, 3, 2))
    add("zeropad1d_pair", layer("ZeroPadding1D", padding=(1, 3)), (2, 3, 2))
    add("cropping1d", layer("Cropping1D", cropping=(1, 2)), (2, 6, 2))
    for fmt in both:
        tag = "cl" if fmt == "channels_last" else "cf"
        shape2 = (2, 5, 6, 2) if fmt == "channels_last" else (2, 2, 5, 6)
        shape3 = (1, 4, 5, 6, 2) if fmt == "channels_last" else (1, 2, 4, 5, 6)
        add(f"zeropad2d_int_{tag}", layer("ZeroPadding2D", padding=1, data_format=fmt), shape2)
        add(f"zeropad2d_pairs_{tag}",
            layer("ZeroPadding2D", padding=((1, 0), (2, 3)), data_format=fmt), shape2)
        add(f"zeropad3d_{tag}",
            layer("ZeroPadding3D", padding=((0, 1), (2, 0), (1, 1)), data_format=fmt), shape3)
        add(f"cropping2d_{tag}",
            layer("Cropping2D", cropping=((1, 2), (0, 3)), data_format=fmt), shape2)
        add(f"cropping2d_sym_{tag}", layer("Cropping2D", cropping=(1, 2), data_format=fmt),
            shape2)
        add(f"cropping3d_{tag}",
            layer("Cropping3D", cropping=((1, 0), (2, 1), (0, 2)), data_format=fmt), shape3)

    # ---- Dense, Flatten, Reshape, Permute, RepeatVector
    add("dense_rank2", layer("Dense", units=4), (3, 5))
    add("dense_rank2_tanh_nobias", layer("Dense", units=3, activation="tanh", use_bias=False),
        (3, 5))
    add("dense_rank3_relu", layer("Dense", units=4, activation="relu"), (2, 3, 5))
    add("dense_rank4", layer("Dense", units=3), (2, 3, 4, 5))
    add("dense_rank4_softmax", layer("Dense", units=3, activation="softmax"), (2, 3, 4, 5))
    add("dense_rank2_f64", layer("Dense", units=4, dtype="float64"), (3, 5), dtype="float64")
    add("flatten_cl", layer("Flatten", data_format="channels_last"), (2, 3, 4, 2))
    add("flatten_cf", layer("Flatten", data_format="channels_first"), (2, 3, 4, 2))
    add("flatten_cf_rank5", layer("Flatten", data_format="channels_first"), (2, 2, 3, 2, 2))
    add("flatten_cf_rank3", layer("Flatten", data_format="channels_first"), (2, 3, 4))
    add("flatten_cf_dense",
        [layer("Flatten", data_format="channels_first"), layer("Dense", units=3)], (2, 3, 2, 2))
    add("reshape", layer("Reshape", target_shape=(2, 6)), (2, 3, 4))
    add("reshape_infer", layer("Reshape", target_shape=(-1, 2, 2)), (2, 12))
    add("permute_21", layer("Permute", dims=(2, 1)), (2, 3, 4))
    add("permute_312", layer("Permute", dims=(3, 1, 2)), (2, 3, 4, 5))
    add("repeatvector", layer("RepeatVector", n=3), (2, 4))

    # ---- Activations by name (Activation layer)
    names = ["linear", "relu", "tanh", "sigmoid", "hard_sigmoid", "softmax", "selu", "elu",
             "softplus", "softsign", "exponential", "swish", "gelu", "mish", "relu6", "silu",
             "log_softmax"]
    for name in names:
        add(f"activation_{name}", layer("Activation", activation=name), (3, 6), scale=3.0)
    add("activation_softmax_rank3", layer("Activation", activation="softmax"), (2, 3, 4),
        scale=3.0)
    add("activation_softmax_f64", layer("Activation", activation="softmax", dtype="float64"),
        (2, 5), scale=3.0, dtype="float64")
    add("activation_selu_f64", layer("Activation", activation="selu", dtype="float64"),
        (2, 5), scale=3.0, dtype="float64")

    # ---- LSTM (Keras 2.15 defaults recurrent_activation='sigmoid'; set it explicitly)
    for rec in ("hard_sigmoid", "sigmoid"):
        add(f"lstm_last_{rec}", layer("LSTM", units=3, recurrent_activation=rec), (2, 5, 4),
            weight_scale=0.6)
        add(f"lstm_seq_{rec}",
            layer("LSTM", units=3, recurrent_activation=rec, return_sequences=True), (2, 5, 4),
            weight_scale=0.6)
        add(f"lstm_backwards_seq_{rec}",
            layer("LSTM", units=2, recurrent_activation=rec, return_sequences=True,
                  go_backwards=True), (2, 4, 3), weight_scale=0.6)
        add(f"lstm_backwards_last_{rec}",
            layer("LSTM", units=2, recurrent_activation=rec, go_backwards=True), (2, 4, 3),
            weight_scale=0.6)
    add("lstm_state", layer("LSTM", units=3, recurrent_activation="hard_sigmoid",
                            return_sequences=True, return_state=True), (2, 4, 2),
        weight_scale=0.6)
    add("lstm_relu_nobias",
        layer("LSTM", units=3, activation="relu", recurrent_activation="sigmoid",
              use_bias=False), (2, 4, 2), weight_scale=0.6)
    add("lstm_f64", layer("LSTM", units=3, recurrent_activation="hard_sigmoid",
                          return_sequences=True, dtype="float64"), (2, 4, 2),
        dtype="float64", weight_scale=0.6)
    for rec in ("hard_sigmoid", "sigmoid"):
        for seq in (False, True):
            for back in (False, True):
                tag = f"{rec}{'_seq' if seq else ''}{'_back' if back else ''}"
                add(f"masking_lstm_{tag}",
                    [layer("Masking", mask_value=0.0),
                     layer("LSTM", units=3, recurrent_activation=rec, return_sequences=seq,
                           go_backwards=back)],
                    (3, 6, 2), masked_steps=[(0, 0), (0, 3), (1, 5), (2, 1), (2, 2)],
                    weight_scale=0.6)
    add("masking_value_lstm",
        [layer("Masking", mask_value=0.5),
         layer("LSTM", units=2, recurrent_activation="sigmoid", return_sequences=True)],
        (2, 5, 3), masked_steps=[(0, 2), (1, 0), (1, 4)], mask_fill=0.5, weight_scale=0.6)
    add("masking_only", layer("Masking", mask_value=0.0), (2, 4, 3),
        masked_steps=[(0, 1), (1, 3)])

    # ---- Embedding
    add("embedding", layer("Embedding", input_dim=7, output_dim=3), (2, 5), ints=7)
    add("embedding_mask_zero_lstm",
        [layer("Embedding", input_dim=6, output_dim=3, mask_zero=True),
         layer("LSTM", units=2, recurrent_activation="hard_sigmoid", return_sequences=True)],
        (3, 5), ints=6, weight_scale=0.6)
    add("embedding_mask_zero_lstm_last",
        [layer("Embedding", input_dim=6, output_dim=3, mask_zero=True, input_length=5),
         layer("LSTM", units=2, recurrent_activation="sigmoid")],
        (3, 5), ints=6, weight_scale=0.6)

    # ---- edge cases: windows larger than the input, tiny inputs, odd paddings
    add("conv1d_causal_s2", layer("Conv1D", filters=2, kernel_size=3, strides=2,
                                  padding="causal"), (2, 7, 2))
    add("conv1d_same_kernel_longer_than_input",
        layer("Conv1D", filters=2, kernel_size=6, padding="same"), (2, 3, 2))
    add("conv1d_valid_kernel_equals_input", layer("Conv1D", filters=2, kernel_size=5),
        (2, 5, 2))
    add("conv2d_same_stride_exceeds_input",
        layer("Conv2D", filters=2, kernel_size=2, strides=4, padding="same"), (1, 3, 5, 2))
    for fmt in both:
        tag = "cl" if fmt == "channels_last" else "cf"
        shape = (2, 4, 5, 3) if fmt == "channels_last" else (2, 3, 4, 5)
        # softmax is not elementwise: Keras applies it on the last axis whatever the format
        add(f"conv2d_softmax_{tag}",
            layer("Conv2D", filters=3, kernel_size=2, activation="softmax", data_format=fmt),
            shape)
        add(f"conv2dT_same_k2_s1_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=2, padding="same",
                  data_format=fmt), shape)
        add(f"conv2dT_same_k5_s3_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=(5, 4), strides=3, padding="same",
                  data_format=fmt), shape)
        add(f"conv2dT_same_outpad_k4_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=4, strides=3, padding="same",
                  output_padding=(2, 1), data_format=fmt), shape)
        add(f"conv2dT_dilated_outpad_{tag}",
            layer("Conv2DTranspose", filters=2, kernel_size=3, dilation_rate=2,
                  output_padding=0, data_format=fmt), shape)
        add(f"conv2dT_softmax_{tag}",
            layer("Conv2DTranspose", filters=3, kernel_size=2, strides=2,
                  activation="softmax", data_format=fmt), shape)
        add(f"depthwise_valid_s2_{tag}",
            layer("DepthwiseConv2D", kernel_size=(2, 3), strides=2, depth_multiplier=2,
                  data_format=fmt), shape)
    add("conv2dT_input_1x1", layer("Conv2DTranspose", filters=2, kernel_size=3, strides=2),
        (2, 1, 1, 3))
    add("conv3dT_same_k2_s1",
        layer("Conv3DTranspose", filters=2, kernel_size=2, padding="same"), (1, 3, 2, 3, 2))
    add("upsampling2d_bilinear_size1",
        layer("UpSampling2D", size=(1, 3), interpolation="bilinear"), (1, 2, 3, 2))
    add("cropping1d_int", layer("Cropping1D", cropping=2), (2, 6, 2))
    add("cropping3d_int_cf", layer("Cropping3D", cropping=1, data_format="channels_first"),
        (1, 2, 4, 3, 5))
    add("zeropad3d_int", layer("ZeroPadding3D", padding=1), (1, 2, 1, 2, 2))
    add("dense_rank5", layer("Dense", units=2), (2, 2, 1, 3, 4))
    add("reshape_flat", layer("Reshape", target_shape=(-1,)), (2, 3, 4))
    add("permute_4d", layer("Permute", dims=(4, 2, 3, 1)), (2, 2, 3, 1, 4))
    add("activation_softplus_large", layer("Activation", activation="softplus"), (2, 8),
        scale=30.0)
    add("activation_softmax_large", layer("Activation", activation="softmax"), (2, 8),
        scale=60.0)
    add("activation_sigmoid_large", layer("Activation", activation="sigmoid"), (2, 8),
        scale=40.0)
    add("float16_dense", layer("Dense", units=3, dtype="float16"), (2, 4), dtype="float16")
    add("float16_conv2d", layer("Conv2D", filters=2, kernel_size=3, padding="same",
                                dtype="float16"), (1, 4, 4, 2), dtype="float16")
    add("float16_conv2dT", layer("Conv2DTranspose", filters=2, kernel_size=3, strides=2,
                                 padding="same", dtype="float16"), (1, 3, 3, 2),
        dtype="float16")
    add("float16_depthwise", layer("DepthwiseConv2D", kernel_size=3, depth_multiplier=2,
                                   dtype="float16"), (1, 4, 5, 2), dtype="float16")
    add("float16_sep1d", layer("SeparableConv1D", filters=2, kernel_size=3, padding="same",
                               dtype="float16"), (2, 6, 3), dtype="float16")
    add("float16_bilinear", layer("UpSampling2D", size=2, interpolation="bilinear",
                                  dtype="float16"), (1, 3, 3, 2), dtype="float16")
    add("float16_softmax", layer("Activation", activation="softmax", dtype="float16"),
        (2, 6), dtype="float16", scale=3.0)
    add("float16_lstm", layer("LSTM", units=3, recurrent_activation="sigmoid",
                              return_sequences=True, dtype="float16"), (2, 4, 2),
        dtype="float16", weight_scale=0.6)
    add("lstm_stateful", layer("LSTM", units=3, recurrent_activation="hard_sigmoid",
                               stateful=True, return_sequences=True), (2, 3, 2),
        calls=3, weight_scale=0.6)
    add("lstm_state_backwards", layer("LSTM", units=2, recurrent_activation="sigmoid",
                                      return_state=True, go_backwards=True), (2, 4, 3),
        weight_scale=0.6)
    add("masking_lstm_fully_masked_sample",
        [layer("Masking", mask_value=0.0),
         layer("LSTM", units=2, recurrent_activation="sigmoid", return_sequences=True)],
        (2, 3, 2), masked_steps=[(0, 0), (0, 1), (0, 2), (1, 0)], weight_scale=0.6)
    add("masking_dense_lstm",
        [layer("Masking", mask_value=0.0), layer("Dense", units=3),
         layer("LSTM", units=2, recurrent_activation="sigmoid", return_sequences=True)],
        (2, 4, 2), masked_steps=[(0, 1), (1, 3)], weight_scale=0.6)
    add("embedding_rank3_input", layer("Embedding", input_dim=9, output_dim=2), (2, 3, 4),
        ints=9)
    add("embedding_float_indices", layer("Embedding", input_dim=9, output_dim=2), (2, 5),
        float_ints=9)
    add("embedding_mask_zero_lstm_backwards",
        [layer("Embedding", input_dim=6, output_dim=3, mask_zero=True),
         layer("LSTM", units=2, recurrent_activation="hard_sigmoid", return_sequences=True,
               go_backwards=True)],
        (3, 5), ints=6, weight_scale=0.6)

    # ---- final states of a masked LSTM (a functional model: three outputs)
    for back in (False, True):
        add(f"masking_lstm_state{'_back' if back else ''}",
            [layer("Masking", mask_value=0.0),
             layer("LSTM", units=2, recurrent_activation="hard_sigmoid", return_state=True,
                   return_sequences=back, go_backwards=back)],
            (3, 5, 2), masked_steps=[(0, 4), (0, 3), (1, 0), (2, 2)], functional=True,
            weight_scale=0.6)
    add("conv1d_causal_cf", layer("Conv1D", filters=2, kernel_size=3, padding="causal",
                                  dilation_rate=2, data_format="channels_first"), (2, 3, 7))
    add("zeropad2d_sym", layer("ZeroPadding2D", padding=(2, 1)), (1, 2, 3, 2))
    add("zeropad3d_sym_cf", layer("ZeroPadding3D", padding=(1, 0, 2),
                                  data_format="channels_first"), (1, 2, 2, 3, 1))
    add("cropping3d_sym", layer("Cropping3D", cropping=(1, 0, 2)), (1, 3, 2, 5, 2))

    # ---- inference-time identities (dropout, activity regularization)
    add("dropout_inference", layer("Dropout", rate=0.5, seed=3), (2, 6))
    add("dropout_noise_shape_inference", layer("Dropout", rate=0.3, noise_shape=(None, 1, 3)),
        (2, 4, 3))
    add("spatial_dropout1d_inference", layer("SpatialDropout1D", rate=0.5), (2, 4, 3))
    add("spatial_dropout2d_inference_cf",
        layer("SpatialDropout2D", rate=0.5, data_format="channels_first"), (2, 3, 2, 2))
    add("spatial_dropout3d_inference", layer("SpatialDropout3D", rate=0.5), (1, 2, 2, 2, 3))
    add("activity_regularization", layer("ActivityRegularization", l1=0.1, l2=0.2), (2, 5))
    add("lstm_dropout_inference",
        layer("LSTM", units=3, recurrent_activation="sigmoid", dropout=0.4,
              recurrent_dropout=0.3, return_sequences=True), (2, 4, 2), weight_scale=0.6)

    # ---- a mask reaching a layer that cannot use it: Keras 2.15 drops it silently,
    # the cthulhu docs (Masking) say it raises (a listed divergence)
    add("mask_into_flatten",
        [layer("Embedding", input_dim=5, output_dim=2, mask_zero=True), layer("Flatten"),
         layer("Dense", units=2)], (2, 3), ints=5)
    add("mask_into_conv1d", [layer("Masking", mask_value=0.0), layer("Conv1D", filters=2,
                                                                      kernel_size=2)],
        (2, 4, 2), masked_steps=[(0, 1)])

    # ---- a seeded sweep over the window arguments of the convolution family
    sweep = np.random.default_rng([SEED, 999])
    for number in range(48):
        cases.append(sweep_case(sweep, number))

    # ---- a small mixed model, to check that layers compose as in Keras
    add("model_mixed_chain",
        [layer("Conv2D", filters=3, kernel_size=3, padding="same", activation="relu"),
         layer("ZeroPadding2D", padding=1),
         layer("Conv2D", filters=2, kernel_size=2, strides=2),
         layer("UpSampling2D", size=2, interpolation="bilinear"),
         layer("Cropping2D", cropping=((1, 0), (0, 1))),
         layer("Flatten"), layer("Dense", units=3, activation="softmax")],
        (2, 6, 5, 2))
    return cases


def sweep_case(rng, number):
    """One random configuration of a convolution-family layer (valid for Keras and TF CPU)."""
    family = ["Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose",
              "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"][number % 8]
    rank = 3 if "3D" in family else 1 if "1D" in family else 2
    fmt = ["channels_last", "channels_first"][int(rng.integers(2))]
    padding = ["valid", "same"][int(rng.integers(2))]
    if family == "Conv1D" and rng.random() < 0.3:
        padding = "causal"
        fmt = "channels_last"
    kernel = tuple(int(k) for k in rng.integers(1, 5 if rank < 3 else 4, size=rank))
    if rng.random() < 0.5:
        strides = tuple(int(v) for v in rng.integers(1, 4, size=rank))
        dilation = (1,) * rank
    else:
        strides = (1,) * rank
        dilation = tuple(int(v) for v in rng.integers(1, 4, size=rank))
    if family in ("DepthwiseConv2D", "SeparableConv2D"):
        strides = (strides[0],) * 2  # TF's depthwise kernel needs equal strides
    if family == "Conv3DTranspose":
        dilation = (1,) * rank       # ignored by Keras 2.15 (see the dilated cases)
    if family == "Conv2DTranspose" and dilation != (1,) * rank:
        dilation = (dilation[0],) * 2  # TF's atrous transpose needs equal rates
    kwargs = {"kernel_size": kernel, "strides": strides, "padding": padding,
              "data_format": fmt, "dilation_rate": dilation}
    if family != "DepthwiseConv2D":
        kwargs["filters"] = int(rng.integers(1, 4))
    if family in ("DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"):
        kwargs["depth_multiplier"] = int(rng.integers(1, 3))
    if "Transpose" in family:
        if rng.random() < 0.5 and max(strides) > 1:
            kwargs["output_padding"] = tuple(int(rng.integers(0, s)) for s in strides)
        if family == "Conv3DTranspose":
            del kwargs["dilation_rate"]
    channels = int(rng.integers(1, 4))
    # spatial sizes big enough for a 'valid' window (the effective kernel) to fit
    spatial = [int(rng.integers(max(1, d * (k - 1) + 1), d * (k - 1) + 5))
               for k, d in zip(kernel, dilation, strict=True)]
    shape = (2, *spatial, channels) if fmt == "channels_last" else (2, channels, *spatial)
    return (f"sweep{number:02d}_{family}", [layer(family, **kwargs)], shape, {})


# Activation functions with arguments (no Keras layer carries these by name).
FUNCTION_CASES = [
    ("fn_relu_max_value", "relu", {"max_value": 1.5}),
    ("fn_relu_alpha", "relu", {"alpha": 0.3}),
    ("fn_relu_threshold", "relu", {"threshold": 0.7}),
    ("fn_relu_all", "relu", {"alpha": 0.2, "max_value": 2.0, "threshold": 0.5}),
    ("fn_relu_max_value_negative_threshold", "relu", {"max_value": 1.0, "threshold": -0.5,
                                                      "alpha": 0.1}),
    ("fn_elu_alpha", "elu", {"alpha": 0.5}),
    ("fn_softmax_axis1", "softmax", {"axis": 1}),
    ("fn_gelu_approximate", "gelu", {"approximate": True}),
    ("fn_gelu_exact", "gelu", {"approximate": False}),
    ("fn_log_softmax_axis1", "log_softmax", {"axis": 1}),
]

# Sequential examples of the cthulhu docs (seeds 000/001), written with the Keras names;
# the shape after each added layer is recorded as Keras's model.output_shape.
SEQUENTIAL_EXAMPLES = [
    ("seq_cropping2d_example", "channels_last",
     [layer("Cropping2D", cropping=((2, 2), (4, 4)), input_shape=(28, 28, 3)),
      layer("Conv2D", filters=64, kernel_size=(3, 3), padding="same"),
      layer("Cropping2D", cropping=((2, 2), (2, 2)))]),
    # The docs' Flatten example is written for image_data_format='channels_first'.
    ("seq_flatten_example_channels_first", "channels_first",
     [layer("Conv2D", filters=64, kernel_size=(3, 3), input_shape=(3, 32, 32), padding="same"),
      layer("Flatten")]),
    ("seq_flatten_example_channels_last", "channels_last",
     [layer("Conv2D", filters=64, kernel_size=(3, 3), input_shape=(3, 32, 32), padding="same"),
      layer("Flatten")]),
    ("seq_reshape_example", "channels_last",
     [layer("Reshape", target_shape=(3, 4), input_shape=(12,)),
      layer("Reshape", target_shape=(6, 2)), layer("Reshape", target_shape=(-1, 2, 2))]),
    ("seq_permute_example", "channels_last",
     [layer("Permute", dims=(2, 1), input_shape=(10, 64))]),
    ("seq_repeatvector_example", "channels_last",
     [layer("Dense", units=32, input_dim=32), layer("RepeatVector", n=3)]),
    ("seq_dense_example", "channels_last",
     [layer("Dense", units=32, input_shape=(16,)), layer("Dense", units=32)]),
    ("seq_masking_lstm_example", "channels_last",
     [layer("Masking", mask_value=0.0, input_shape=(7, 5)),
      layer("LSTM", units=32, recurrent_activation="hard_sigmoid")]),
    ("seq_conv1d_example", "channels_last",
     [layer("Conv1D", filters=64, kernel_size=3, padding="same", input_shape=(10, 32)),
      layer("Conv1D", filters=32, kernel_size=3, padding="same")]),
    ("seq_embedding_lstm_example", "channels_last",
     [layer("Embedding", input_dim=10, output_dim=4, mask_zero=True, input_length=3),
      layer("LSTM", units=2, recurrent_activation="hard_sigmoid")]),
    ("seq_conv_transpose_example", "channels_last",
     [layer("Conv2DTranspose", filters=4, kernel_size=3, strides=2, input_shape=(5, 5, 8)),
      layer("Conv2DTranspose", filters=4, kernel_size=3, strides=2, padding="same",
            output_padding=1),
      layer("SeparableConv2D", filters=2, kernel_size=3, strides=2),
      layer("DepthwiseConv2D", kernel_size=2, depth_multiplier=2, padding="same"),
      layer("UpSampling2D", size=(2, 3)), layer("Flatten"), layer("Dense", units=5)]),
]


# ---------------------------------------------------------------------------
# Running Keras
# ---------------------------------------------------------------------------

def make_input(rng, shape, dtype, options):
    if options.get("float_ints"):
        # non-integral float indices: Keras casts them to int32 (truncation)
        return (rng.uniform(0, options["float_ints"] - 0.01, size=shape)).astype(np.float32)
    ints = options.get("ints")
    if ints:
        x = rng.integers(0, ints, size=shape).astype(np.int32)
        x[:, -1] = 0  # padding at the end of every sequence
        x[0, 1] = 0   # and one inside
        return x
    x = (rng.standard_normal(shape) * options.get("scale", 1.0)).astype(dtype)
    for sample, step in options.get("masked_steps", ()):
        x[sample, step, :] = options.get("mask_fill", 0.0)
    return x


def shape_lists(keras_shape):
    """Keras output shape(s) (tuple, TensorShape or a list of them) -> list of int/None lists."""
    if isinstance(keras_shape, list) or (
            isinstance(keras_shape, tuple) and keras_shape
            and isinstance(keras_shape[0], (tuple, tf.TensorShape))):
        shapes = [tf.TensorShape(s).as_list() for s in keras_shape]
    else:
        shapes = [tf.TensorShape(keras_shape).as_list()]
    return [[None if d is None else int(d) for d in s] for s in shapes]


def unknown_sizes(spec, input_shape):
    """The input shape with every size unknown except the one the weights depend on."""
    cls, kwargs = spec
    if cls == "Embedding":
        return (None,) * len(input_shape)
    keep = 1 if kwargs.get("data_format") == "channels_first" else len(input_shape) - 1
    if cls in ("Flatten", "Reshape", "Permute", "Activation", "Masking"):
        keep = None  # no weights: every size may be unknown
    return tuple(d if axis == keep else None for axis, d in enumerate(input_shape))


def random_weights(rng, keras_layer, scale):
    return [(rng.standard_normal(w.shape) * scale).astype(w.dtype)
            for w in keras_layer.get_weights()]


def to_channels_last(x):
    return np.moveaxis(x, 1, -1)


def to_channels_first(y):
    return np.moveaxis(y, -1, 1)


def dilated_kernel(kernel, dilation):
    """A transposed-convolution kernel (*k, F, C) with dilation-1 zeros between its taps."""
    rank = len(dilation)
    size = [d * (k - 1) + 1 for k, d in zip(kernel.shape[:rank], dilation, strict=True)]
    big = np.zeros((*size, *kernel.shape[rank:]), dtype=kernel.dtype)
    big[tuple(slice(None, None, d) for d in dilation)] = kernel
    return big


def check_dilated_kernel_trick():
    """On Keras's own dilated Conv2DTranspose: dilating the kernel by hand gives its numbers."""
    rng = np.random.default_rng([SEED, 0])
    worst = 0.0
    for padding in ("valid", "same"):
        x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
        real = L.Conv2DTranspose(2, 3, dilation_rate=2, padding=padding)
        real.build(x.shape)
        kernel, bias = random_weights(rng, real, 0.5)
        real.set_weights([kernel, bias])
        by_hand = L.Conv2DTranspose(2, 5, padding=padding)
        by_hand.build(x.shape)
        by_hand.set_weights([dilated_kernel(kernel, (2, 2)), bias])
        a, b = real(tf.constant(x)).numpy(), by_hand(tf.constant(x)).numpy()
        assert a.shape == b.shape, (a.shape, b.shape)
        worst = max(worst, float(np.abs(a - b).max()))
    assert worst < 1e-5, worst
    return worst


def run_dilated_transpose_case(case_number, case_id, specs, input_shape, options, arrays):
    """Conv3DTranspose with dilation, computed with the kernel dilated by hand."""
    (cls, kwargs), = specs
    rng = np.random.default_rng([SEED, case_number])
    x = make_input(rng, input_shape, "float32", options)
    dilation = kwargs["dilation_rate"]
    rank = 3
    dilation = (dilation,) * rank if isinstance(dilation, int) else tuple(dilation)
    small = getattr(L, cls)(**kwargs)  # only for its weight shapes and config
    small.build(input_shape)
    kernel, bias = random_weights(rng, small, 0.5)
    k = kwargs["kernel_size"]
    k = (k,) * rank if isinstance(k, int) else tuple(k)
    big_kwargs = {**kwargs, "kernel_size": tuple(d * (n - 1) + 1 for n, d in
                                                 zip(k, dilation, strict=True)),
                  "dilation_rate": 1}
    big = getattr(L, cls)(**big_kwargs)
    big.build(input_shape)
    big.set_weights([dilated_kernel(kernel, dilation), bias])
    try:
        out = big(tf.constant(x)).numpy()
        note = ""
    except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError):
        twin = getattr(L, cls)(**{**big_kwargs, "data_format": "channels_last"})
        twin.build(to_channels_last(x).shape)
        twin.set_weights([dilated_kernel(kernel, dilation), bias])
        out = to_channels_first(twin(tf.constant(to_channels_last(x))).numpy())
        note = " " + FALLBACK_NOTE
    config = {**small.get_config(), "dilation_rate": list(dilation)}
    arrays[f"{case_id}/input"] = x
    arrays[f"{case_id}/layer0/w0"] = kernel
    arrays[f"{case_id}/layer0/w1"] = bias
    arrays[f"{case_id}/output0"] = out
    keras_shape = shape_lists(big.compute_output_shape((None, *input_shape[1:])))
    return {"id": case_id, "kind": "layers", "input_shape": list(input_shape),
            "input_dtype": "float32", "input": f"{case_id}/input", "calls": 1,
            "more_inputs": [],
            "layers": [{"class_name": cls, "config": config,
                        "added_to_keras_config": ["dilation_rate"],
                        "weights": [f"{case_id}/layer0/w0", f"{case_id}/layer0/w1"],
                        "weight_names": ["kernel", "bias"]}],
            "outputs": [f"{case_id}/output0"], "output_shapes": keras_shape,
            "concrete_output_shapes": [list(out.shape)], "unknown_sizes": None,
            "note": ("Keras 2.15's Conv3DTranspose ignores dilation_rate: output computed by "
                     "Keras Conv3DTranspose with the kernel dilated by hand (zeros between "
                     "taps), dilation_rate=1" + note)}


def run_case(case_number, case_id, specs, input_shape, options, arrays):
    if options.get("dilate_kernel"):
        return run_dilated_transpose_case(case_number, case_id, specs, input_shape, options,
                                          arrays)
    rng = np.random.default_rng([SEED, case_number])
    dtype = options.get("dtype", "float32")
    x = make_input(rng, input_shape, dtype, options)
    keras_layers = [getattr(L, cls)(**kwargs) for cls, kwargs in specs]
    note = None
    extra_inputs = []
    scale = options.get("weight_scale", 0.5)
    if len(keras_layers) == 1:
        (the_layer,) = keras_layers
        the_layer.build(input_shape)
        weights = random_weights(rng, the_layer, scale)
        the_layer.set_weights(weights)
        try:
            out = the_layer(tf.constant(x), training=False)
        except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError):
            if specs[0][1].get("data_format") != "channels_first":
                raise
            # the activation runs on the channels_first result, as in the layer itself
            # (softmax, for one, is not elementwise)
            twin_kwargs = {**specs[0][1], "data_format": "channels_last", "activation": None}
            twin = getattr(L, specs[0][0])(**twin_kwargs)
            twin.build(to_channels_last(x).shape)
            twin.set_weights(weights)
            linear = to_channels_first(twin(tf.constant(to_channels_last(x))).numpy())
            out = the_layer.activation(tf.constant(linear))
            note = FALLBACK_NOTE
        if options.get("calls", 1) > 1:  # a stateful layer: call again on fresh inputs
            out = [out]
            for _ in range(options["calls"] - 1):
                extra_inputs.append(make_input(rng, input_shape, dtype, options))
                out.append(the_layer(tf.constant(extra_inputs[-1]), training=False))
        keras_shape = the_layer.compute_output_shape((None, *input_shape[1:]))
        unknown = unknown_sizes(specs[0], input_shape)
        try:
            unknown_out = shape_lists(the_layer.compute_output_shape(unknown))
        except Exception as exc:  # noqa: BLE001 - recorded: Keras refuses this shape
            unknown_out = f"{type(exc).__name__}: {exc}"
        unknown_record = {"input_shape": list(unknown), "keras": unknown_out}
        all_weights = [weights]
    else:
        if options.get("functional"):  # several outputs (return_state): a functional model
            inputs = K.Input(shape=input_shape[1:], dtype=x.dtype.name)
            tensor = inputs
            for lay in keras_layers:
                tensor = lay(tensor)
            model = K.Model(inputs, tensor)
        else:
            model = K.Sequential([K.Input(shape=input_shape[1:], dtype=x.dtype.name),
                                  *keras_layers])
        all_weights = []
        for lay in keras_layers:
            w = random_weights(rng, lay, scale)
            lay.set_weights(w)
            all_weights.append(w)
        out = model(tf.constant(x), training=False)
        keras_shape = model.output_shape
        unknown_record = None
    outputs = out if isinstance(out, (list, tuple)) else [out]
    outputs = [np.asarray(o) for o in outputs]
    keras_shapes = shape_lists(keras_shape)

    entry = {"id": case_id, "kind": "layers", "input_shape": list(input_shape),
             "input_dtype": x.dtype.name, "input": f"{case_id}/input",
             "calls": options.get("calls", 1), "functional": bool(options.get("functional")),
             "more_inputs": [f"{case_id}/input{k + 1}" for k in range(len(extra_inputs))],
             "layers": [], "outputs": [], "output_shapes": keras_shapes,
             "concrete_output_shapes": [list(o.shape) for o in outputs],
             "unknown_sizes": unknown_record, "note": note}
    arrays[f"{case_id}/input"] = x
    for k, extra in enumerate(extra_inputs):
        arrays[f"{case_id}/input{k + 1}"] = extra
    for i, (lay, weights) in enumerate(zip(keras_layers, all_weights, strict=True)):
        keys = []
        for j, w in enumerate(weights):
            key = f"{case_id}/layer{i}/w{j}"
            arrays[key] = w
            keys.append(key)
        entry["layers"].append({"class_name": type(lay).__name__, "config": lay.get_config(),
                                "weights": keys,
                                "weight_names": [v.name.split("/")[-1].split(":")[0]
                                                 for v in lay.weights]})
    for k, o in enumerate(outputs):
        key = f"{case_id}/output{k}"
        arrays[key] = o
        entry["outputs"].append(key)
    return entry


def run_function_case(case_number, case_id, name, kwargs, arrays):
    rng = np.random.default_rng([SEED, case_number])
    x = (rng.standard_normal((3, 4, 5)) * 3.0).astype(np.float32)
    y = K.activations.get(name)(tf.constant(x), **kwargs).numpy()
    arrays[f"{case_id}/input"] = x
    arrays[f"{case_id}/output0"] = y
    return {"id": case_id, "kind": "function", "function": name, "kwargs": kwargs,
            "input_shape": list(x.shape), "input_dtype": "float32", "input": f"{case_id}/input",
            "outputs": [f"{case_id}/output0"], "output_shapes": [list(y.shape)],
            "concrete_output_shapes": [list(y.shape)], "note": None}


def run_sequential_example(case_id, data_format, specs):
    """Keras's model.output_shape after each layer is added (shape inference only)."""
    previous = K.backend.image_data_format()
    K.backend.set_image_data_format(data_format)
    try:
        model = K.Sequential()
        shapes, layers = [], []
        for cls, kwargs in specs:
            lay = getattr(L, cls)(**kwargs)
            model.add(lay)
            shapes.append([None if d is None else int(d) for d in model.output_shape])
            layers.append({"class_name": cls, "config": lay.get_config()})
        # the first layer's config carries batch_input_shape; keep the doc's input shape too
        return {"id": case_id, "kind": "sequential_shapes", "image_data_format": data_format,
                "layers": layers, "input_shape": [None, *model.input_shape[1:]],
                "count_params": [lay.count_params() for lay in model.layers],
                "total_params": model.count_params(),
                "output_shapes_after_each_layer": shapes, "note": None}
    finally:
        K.backend.set_image_data_format(previous)


# Initializers: Keras's fan rule for every rank, and the moments of large samples.
FAN_SHAPES = [(), (7,), (5, 3), (4, 5, 6), (3, 3, 4, 8), (2, 3, 3, 4, 8), (2, 2, 2, 2, 3, 5),
              (3, 2, 8, 4)]
INITIALIZER_CASES = [
    ("glorot_uniform", None), ("glorot_normal", None), ("he_uniform", None),
    ("he_normal", None), ("lecun_uniform", None), ("lecun_normal", None),
    ("random_normal", None), ("random_uniform", None), ("truncated_normal", None),
    ("VarianceScaling", {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}),
    ("VarianceScaling", {"scale": 0.5, "mode": "fan_avg", "distribution": "untruncated_normal"}),
    ("VarianceScaling", {"scale": 3.0, "mode": "fan_in", "distribution": "uniform"}),
    ("RandomNormal", {"mean": 0.5, "stddev": 0.2}),
    ("RandomUniform", {"minval": -0.3, "maxval": 0.1}),
    ("TruncatedNormal", {"mean": -0.1, "stddev": 0.3}),
]
SAMPLE_SHAPES = [(3, 3, 32, 64), (240, 160)]
DETERMINISTIC_CASES = [("zeros", None, (3, 4)), ("ones", None, (2, 3, 4)),
                       ("Constant", {"value": 0.3}, (2, 5)),
                       ("Identity", {"gain": 2.0}, (3, 5)), ("Identity", None, (4, 2))]


def keras_initializer(name, config):
    if config is None:
        return K.initializers.get(name)
    return K.initializers.get({"class_name": name, "config": config})


def run_initializers(arrays):
    from keras.src.initializers.initializers import _compute_fans

    K.utils.set_random_seed(SEED)  # unseeded Keras initializers draw from the global seed
    fans = [{"shape": list(shape), "keras": list(_compute_fans(shape))} for shape in FAN_SHAPES]
    samples = []
    for name, config in INITIALIZER_CASES:
        for shape in SAMPLE_SHAPES:
            init = keras_initializer(name, config)
            values = init(shape, dtype="float32").numpy().astype(np.float64)
            samples.append({"name": name, "config": config,
                            "keras_serialized": K.initializers.serialize(init),
                            "shape": list(shape), "fans": list(_compute_fans(shape)),
                            "min": values.min(), "max": values.max(), "mean": values.mean(),
                            "std": values.std(), "count": int(values.size)})
    deterministic = []
    for number, (name, config, shape) in enumerate(DETERMINISTIC_CASES):
        init = keras_initializer(name, config)
        key = f"initializer{number}/{name}"
        arrays[key] = init(shape, dtype="float32").numpy()
        deterministic.append({"name": name, "config": config, "shape": list(shape),
                              "keras_serialized": K.initializers.serialize(init),
                              "values": key})
    return {"fans": fans, "samples": samples, "deterministic": deterministic}


# Regularizer penalties and constraint projections, by name and by Keras's serialized form.
REGULARIZER_CASES = [("l1", None), ("l2", None), ("l1_l2", None),
                     ("L1L2", {"l1": 0.3, "l2": 0.05}), ("L1", {"l1": 0.2}),
                     ("L2", {"l2": 0.7})]
CONSTRAINT_CASES = [("max_norm", None, (4, 3)), ("non_neg", None, (4, 3)),
                    ("unit_norm", None, (4, 3)), ("min_max_norm", None, (4, 3)),
                    ("MaxNorm", {"max_value": 0.8, "axis": [0, 1, 2]}, (2, 2, 3, 4)),
                    ("UnitNorm", {"axis": 1}, (4, 3)),
                    ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.2, "rate": 0.7,
                                    "axis": 0}, (5, 3)),
                    ("MinMaxNorm", {"min_value": 0.9, "max_value": 1.0, "rate": 1.0,
                                    "axis": [0, 1]}, (2, 3, 4))]


def run_regularizers_and_constraints(arrays):
    rng = np.random.default_rng([SEED, 777])
    regularizers, constraints = [], []
    for number, (name, config) in enumerate(REGULARIZER_CASES):
        reg = (K.regularizers.get(name) if config is None
               else K.regularizers.get({"class_name": name, "config": config}))
        w = rng.standard_normal((3, 4)).astype(np.float32)
        key = f"regularizer{number}/w"
        arrays[key] = w
        regularizers.append({"name": name, "config": config,
                             "keras_serialized": K.regularizers.serialize(reg),
                             "weight": key, "penalty": float(reg(tf.constant(w)).numpy())})
    for number, (name, config, shape) in enumerate(CONSTRAINT_CASES):
        con = (K.constraints.get(name) if config is None
               else K.constraints.get({"class_name": name, "config": config}))
        w = (rng.standard_normal(shape) * 1.5).astype(np.float32)
        w.flat[0] = -abs(w.flat[0])
        arrays[f"constraint{number}/w"] = w
        arrays[f"constraint{number}/out"] = con(tf.constant(w)).numpy()
        constraints.append({"name": name, "config": config,
                            "keras_serialized": K.constraints.serialize(con),
                            "weight": f"constraint{number}/w",
                            "output": f"constraint{number}/out"})
    # a layer's losses: kernel and bias regularizers and an activity regularizer
    x = rng.standard_normal((2, 3)).astype(np.float32)
    dense = L.Dense(2, kernel_regularizer=K.regularizers.L2(0.1),
                    bias_regularizer=K.regularizers.L1(0.2),
                    activity_regularizer=K.regularizers.L1L2(0.05, 0.01))
    dense.build(x.shape)
    weights = random_weights(rng, dense, 0.5)
    dense.set_weights(weights)
    dense(tf.constant(x))
    arrays["layer_losses/x"] = x
    arrays["layer_losses/w0"], arrays["layer_losses/w1"] = weights
    losses = {"class_name": "Dense", "config": dense.get_config(), "input": "layer_losses/x",
              "weights": ["layer_losses/w0", "layer_losses/w1"],
              "keras_losses_sum": float(sum(float(v.numpy()) for v in dense.losses)),
              "keras_losses": sorted(float(v.numpy()) for v in dense.losses)}
    return {"regularizers": regularizers, "constraints": constraints, "layer_losses": losses}


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return obj


def main():
    tf.config.set_visible_devices([], "GPU")
    trick = check_dilated_kernel_trick()
    arrays: dict[str, np.ndarray] = {}
    index = []
    refused = []  # sweep configurations Keras/TF could not run (no reference exists)
    number = 0
    for case_id, specs, input_shape, options in build_cases():
        number += 1
        try:
            index.append(run_case(number, case_id, specs, input_shape, options, arrays))
        except (tf.errors.OpError, ValueError) as exc:
            if not case_id.startswith("sweep"):
                raise
            # a drawn configuration Keras/TF cannot run: leave it out, say so
            print(f"skipped {case_id} {specs} {input_shape}: {type(exc).__name__}")
            refused.append({"id": case_id, "layers": [[c, k] for c, k in specs],
                            "input_shape": list(input_shape),
                            "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"})
            for key in [k for k in arrays if k.startswith(f"{case_id}/")]:
                del arrays[key]
    for case_id, name, kwargs in FUNCTION_CASES:
        number += 1
        index.append(run_function_case(number, case_id, name, kwargs, arrays))
    for case_id, data_format, specs in SEQUENTIAL_EXAMPLES:
        index.append(run_sequential_example(case_id, data_format, specs))
    initializers = run_initializers(arrays)
    weight_rules = run_regularizers_and_constraints(arrays)
    ids = [e["id"] for e in index]
    if len(set(ids)) != len(ids):
        sys.exit("duplicate case ids")
    np.savez_compressed(NPZ, **arrays)
    meta = {"generator": "tests/keras_reference/generate.py",
            "tensorflow": tf.__version__, "keras": _keras_version(), "numpy": np.__version__,
            "seed": SEED, "fallback_note": FALLBACK_NOTE,
            "dilated_kernel_check_max_abs_diff": trick, "keras_refused": refused,
            "initializers": initializers, "weight_rules": weight_rules, "cases": index}
    INDEX.write_text(json.dumps(jsonable(meta), indent=1, sort_keys=False) + "\n")
    fallbacks = [e["id"] for e in index if e.get("note")]
    print(f"{len(index)} cases, {len(arrays)} arrays, {NPZ.stat().st_size / 1e6:.2f} MB npz, "
          f"{INDEX.stat().st_size / 1e6:.2f} MB json")
    print("channels_first via channels_last:", ", ".join(fallbacks) or "none")


def _keras_version():
    try:
        import keras

        return keras.__version__
    except Exception:  # pragma: no cover - informational only
        return "unknown"


if __name__ == "__main__":
    main()
