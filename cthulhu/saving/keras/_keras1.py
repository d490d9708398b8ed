"""Keras 1 in Keras 2 words: layer configs and weight layouts, as pure functions.

The tables follow what Keras 2 itself did when it met a Keras 1 file (its legacy
interfaces for arguments, ``preprocess_weights_for_loading`` for weights); the tests check
them against tf-keras 2.15's loader, which still applies those weight conversions.
Nothing is dropped silently: an argument Keras 2 has no word for is either kept (and the
catalog refuses it) or, where Keras 2 dropped it too, recorded in the layer config under
``"keras1_dropped"`` and in the file's notes.
"""

from __future__ import annotations

import numpy as np

from cthulhu.names.keras1 import VALUES, rename_arguments
from cthulhu.saving.keras._limits import KerasFileError

CLASSES = {
    "Convolution1D": "Conv1D", "AtrousConvolution1D": "Conv1D",
    "Convolution2D": "Conv2D", "AtrousConvolution2D": "Conv2D",
    "Convolution3D": "Conv3D", "Deconvolution2D": "Conv2DTranspose",
    "SeparableConvolution2D": "SeparableConv2D",
}
_MERGE_MODES = {"sum": "Add", "mul": "Multiply", "concat": "Concatenate", "ave": "Average",
                "max": "Maximum", "dot": "Dot", "cos": "Dot"}
_DIM_ORDERING = VALUES["data_format"]
_INITIALIZER_KEYS = ("kernel_initializer", "embeddings_initializer", "recurrent_initializer",
                     "beta_initializer", "gamma_initializer", "alpha_initializer",
                     "depthwise_initializer", "pointwise_initializer")
_ONE_D = ("Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D",
          "GlobalAveragePooling1D")


def translate_layer(class_name, config, where, findings, path):
    """(Keras 2 class name, Keras 2 config) for one Keras 1 layer entry."""
    if not isinstance(config, dict):
        return class_name, config
    label = "/".join(path)
    cfg = dict(config)
    dropped = {}
    new_class = CLASSES.get(class_name, class_name)
    if class_name == "Merge":
        new_class, cfg = _merge(cfg, findings, label)
    if new_class == "Conv2DTranspose" and "output_shape" in cfg:
        # Keras 2 dropped it (the size follows from strides and padding); kept for checks
        dropped["output_shape"] = cfg.pop("output_shape")
    if new_class == "Embedding" and "dropout" in cfg:
        dropped["dropout"] = cfg.pop("dropout")  # Keras 2 dropped it too (training only)
    if new_class in ("LSTM", "GRU", "SimpleRNN"):
        forget = cfg.pop("forget_bias_init", None)
        if forget is not None:
            if forget == "one":
                cfg["unit_forget_bias"] = True
            else:
                dropped["forget_bias_init"] = forget  # an initializer: no effect on loading
    if new_class == "ZeroPadding2D":
        cfg["padding"] = _padding2d(cfg.get("padding"))
    default_ordering = cfg.get("dim_ordering") == "default"
    try:
        cfg, _ = rename_arguments(new_class, cfg)
    except ValueError as exc:
        raise KerasFileError(f"{where}: layer {label!r}: {exc}") from None
    if default_ordering:
        findings.notes.append(f"{label}: dim_ordering 'default' (Keras 1's keras.json "
                              "setting, 'th' unless set) left as data_format None")
    if cfg.get("data_format") in _DIM_ORDERING:  # a Keras 1 value under the Keras 2 word
        cfg["data_format"] = _DIM_ORDERING[cfg["data_format"]]
    if class_name in ("AtrousConvolution1D", "AtrousConvolution2D") and "dilation_rate" not in cfg:
        cfg["dilation_rate"] = 1
    if new_class in _ONE_D:
        cfg.setdefault("data_format", "channels_last")  # Keras 1's 1D layers had no other
    if new_class == "Flatten":
        # Keras 1 flattened the tensor as it lies in memory; Keras 2's word for that is
        # data_format='channels_last' (no permutation first)
        cfg.setdefault("data_format", "channels_last")
    _input_shape(new_class, cfg)
    if "input_dtype" in cfg and new_class != "InputLayer" and "batch_input_shape" not in cfg:
        dropped["input_dtype"] = cfg.pop("input_dtype")  # no input here to give it to
    for key in _INITIALIZER_KEYS:
        if isinstance(cfg.get(key), str):
            cfg[key] = VALUES[key].get(cfg[key], cfg[key])
    for key, value in list(cfg.items()):
        if isinstance(value, dict) and "name" in value and "class_name" not in value:
            cfg[key] = _regularizer_or_constraint(value)
    if dropped:
        cfg["keras1_dropped"] = dropped
        findings.notes.append(f"{label}: Keras 1 arguments without a Keras 2 word, dropped as "
                              f"Keras 2 did: {sorted(dropped)}")
    if new_class != class_name:
        findings.notes.append(f"{label}: Keras 1 {class_name} read as {new_class}")
    return new_class, cfg


def _merge(cfg, findings, label):
    mode = cfg.get("mode")
    if not isinstance(mode, str) or cfg.get("mode_type", "raw") != "raw" \
            or mode not in _MERGE_MODES:
        return "Merge", cfg  # a function as mode: recorded as code, refused later
    out = {"name": cfg.get("name"), "trainable": cfg.get("trainable", True)}
    new_class = _MERGE_MODES[mode]
    if mode == "concat":
        out["axis"] = cfg.get("concat_axis", -1)
    if mode in ("dot", "cos"):
        out["axes"] = cfg.get("dot_axes", -1)
        out["normalize"] = mode == "cos"
    kept = {k: v for k, v in cfg.items() if k not in (
        "name", "trainable", "mode", "mode_type", "concat_axis", "dot_axes", "arguments",
        "output_shape_type", "output_mask_type") and v is not None}
    if kept:
        out["keras1_dropped"] = kept
    return new_class, out


def _padding2d(padding):
    if isinstance(padding, dict):  # Keras 1: {'top_pad', 'bottom_pad', 'left_pad', 'right_pad'}
        return [[padding.get("top_pad", 0), padding.get("bottom_pad", 0)],
                [padding.get("left_pad", 0), padding.get("right_pad", 0)]]
    if isinstance(padding, list) and len(padding) == 4:  # Keras 1.2: (top, bottom, left, right)
        return [padding[:2], padding[2:]]
    return padding


def _input_shape(new_class, cfg):
    """Keras 1's input_dim/input_length (and Keras 2's input_shape) -> batch_input_shape."""
    if cfg.get("batch_input_shape") is not None:
        for key in ("input_dim", "input_length", "input_shape"):
            if key in cfg and new_class != "Embedding":
                cfg.pop(key)
        return
    input_dim = cfg.pop("input_dim", None) if new_class != "Embedding" else None
    input_length = cfg.pop("input_length", None) if new_class != "Embedding" else None
    if input_dim is None:
        return
    if new_class in ("Dense",) and input_length is None:
        cfg["batch_input_shape"] = [None, input_dim]
    else:
        cfg["batch_input_shape"] = [None, input_length, input_dim]


def _regularizer_or_constraint(value):
    name = value.get("name")
    args = {k: v for k, v in value.items() if k != "name"}
    if name in ("WeightRegularizer", "L1L2Regularizer", "ActivityRegularizer"):
        return {"class_name": "L1L2", "config": {"l1": args.get("l1", 0.0),
                                                 "l2": args.get("l2", 0.0)}}
    if name == "MaxNorm":
        return {"class_name": "MaxNorm", "config": {"max_value": args.get("m", 2),
                                                    "axis": args.get("axis", 0)}}
    return {"class_name": name, "config": args}


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

_FLIPPED = ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose")
# the file's Keras word -> its kernel layout ('th' kernels were stored channels first);
# main's cthulhu.shapes.layout.is_channels_first says the same for cthulhu's own formats
_CHANNELS_FIRST = {"channels_first": True, "channels_last": False}


def convert_weights(class_name, config, arrays, keras_version, backend, label="layer"):
    """Keras 2 layout of one layer's stored weights (a new list; the input is untouched).

    ``class_name``/``config`` are the layer's Keras 2 words (after ``translate_layer``);
    ``keras_version`` is the file's (``None`` or ``'1...'`` means Keras 1); ``backend`` the
    backend that trained the weights (``'theano'`` flips convolution kernels: Theano's
    convolution is a true convolution, TensorFlow's a cross-correlation).

    Returns ``(arrays, notes)``.
    """
    arrays = list(arrays)
    notes = []
    keras1 = keras_version is None or str(keras_version).startswith("1")
    first = _CHANNELS_FIRST.get((config or {}).get("data_format"), False)
    if keras1 and arrays:
        if class_name == "Conv1D":
            arrays[0], note = _conv1d_kernel(arrays[0], config, label)
            notes.append(note)
        elif class_name == "Conv2D" and first:
            arrays[0] = np.transpose(arrays[0], (2, 3, 1, 0))
            notes.append(f"{label}: Keras 1 'th' kernel (F, C, r, c) -> (r, c, C, F)")
        elif class_name == "Conv2DTranspose":
            arrays[0] = np.transpose(arrays[0], (2, 3, 0, 1) if first else (0, 1, 3, 2))
            notes.append(f"{label}: Keras 1 Deconvolution2D kernel -> (r, c, filters, in)")
        elif class_name == "Conv3D" and first:
            arrays[0] = np.transpose(arrays[0], (2, 3, 4, 1, 0))
            notes.append(f"{label}: Keras 1 'th' kernel (F, C, d1, d2, d3) -> (d1, d2, d3, C, F)")
        elif class_name == "LSTM" and len(arrays) == 12:
            # Keras 1.0/1.1 kept each gate apart, in the order i, c, f, o
            arrays = [np.concatenate([arrays[k], arrays[k + 6], arrays[k + 3], arrays[k + 9]],
                                     axis=-1) for k in range(3)]
            notes.append(f"{label}: Keras 1 LSTM gates (i, c, f, o) -> kernel, "
                         "recurrent_kernel, bias in the order (i, f, c, o)")
        elif class_name == "GRU" and len(arrays) == 9:
            arrays = [np.concatenate([arrays[k], arrays[k + 3], arrays[k + 6]], axis=-1)
                      for k in range(3)]
            notes.append(f"{label}: Keras 1 GRU gates (z, r, h) concatenated")
    if backend == "theano" and class_name in _FLIPPED and arrays:
        kernel = arrays[0]
        arrays[0] = np.ascontiguousarray(kernel[(slice(None, None, -1),) * (kernel.ndim - 2)])
        notes.append(f"{label}: Theano-trained kernel flipped along its spatial axes "
                     "(true convolution -> cross-correlation)")
    return arrays, notes


def _conv1d_kernel(kernel, config, label):
    length = _first(config.get("kernel_size"))
    filters = config.get("filters")
    if kernel.ndim != 4:
        raise KerasFileError(f"{label}: a Keras 1 Convolution1D kernel has 4 axes, this one "
                             f"has shape {kernel.shape}")
    if kernel.shape[:2] != (length, 1) or kernel.shape[3] != filters:
        # Keras 1.0: (filters, input_dim, length, 1)
        if kernel.shape[0] != filters or kernel.shape[2:] != (length, 1):
            raise KerasFileError(f"{label}: Keras 1 Convolution1D kernel of shape "
                                 f"{kernel.shape} fits neither (length, 1, in, filters) nor "
                                 f"(filters, in, length, 1) for length {length}, "
                                 f"{filters} filters")
        kernel = np.transpose(kernel, (2, 3, 1, 0))
        note = f"{label}: Keras 1.0 Convolution1D kernel (F, C, L, 1) -> (L, C, F)"
    else:
        note = f"{label}: Keras 1 Convolution1D kernel (L, 1, C, F) -> (L, C, F)"
    return np.ascontiguousarray(kernel[:, 0, :, :]), note


def _first(value):
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value
