"""Keras 1's argument words in Keras 2's terms: the one table both the layer constructors
and the Keras 1 file reader use.

Keras 2 renamed most arguments (``nb_filter`` -> ``filters``, ``border_mode`` ->
``padding``, ``subsample`` -> ``strides``, ``init`` -> ``kernel_initializer``,
``W_regularizer`` -> ``kernel_regularizer``, ``dim_ordering='th'`` ->
``data_format='channels_first'``, ``output_dim`` -> ``units`` for ``Dense``, ...) and kept
accepting the old words with a warning (its "legacy interfaces"). cthulhu does the same:

- every layer constructor accepts these words with a ``DeprecationWarning`` naming the
  modern word (:func:`modernize_arguments`, called for every layer class by
  ``cthulhu.engine.base_layer.Layer``; the layer's Keras 2 class name comes from the
  catalog row of the class or of its nearest catalogued base class);
- the Keras 1 model-file reader (``cthulhu.saving.keras``) renames a stored layer config
  with the same tables (:func:`rename_arguments`).

Pure data and Python: no NumPy, nothing above this floor.

Examples
--------
>>> from cthulhu.names.keras1 import rename_arguments
>>> config, renamed = rename_arguments("Conv2D", {"nb_filter": 8, "nb_row": 3, "nb_col": 3,
...                                               "border_mode": "same", "dim_ordering": "th"})
>>> config == {"filters": 8, "kernel_size": [3, 3], "padding": "same",
...            "data_format": "channels_first"}
True
>>> renamed
[('nb_row/nb_col', 'kernel_size'), ('nb_filter', 'filters'), ('border_mode', 'padding'), ('dim_ordering', 'data_format')]
"""

from __future__ import annotations

from cthulhu.shapes.catalog import CATALOG, lookup

__all__ = ["RENAMES", "VALUES", "KERNEL_WORDS", "rename_arguments", "modernize_arguments",
           "keras_class_of", "KERAS1_WORDS"]

_WEIGHT = {"init": "kernel_initializer", "W_regularizer": "kernel_regularizer",
           "b_regularizer": "bias_regularizer", "W_constraint": "kernel_constraint",
           "b_constraint": "bias_constraint", "bias": "use_bias"}
_CONV = {"nb_filter": "filters", "subsample": "strides", "border_mode": "padding",
         "dim_ordering": "data_format", "atrous_rate": "dilation_rate", **_WEIGHT}
_POOL_1D = {"pool_length": "pool_size", "stride": "strides", "border_mode": "padding"}
_RECURRENT = {"output_dim": "units", "init": "kernel_initializer",
              "inner_init": "recurrent_initializer", "inner_activation": "recurrent_activation",
              "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer",
              "U_regularizer": "recurrent_regularizer", "W_constraint": "kernel_constraint",
              "b_constraint": "bias_constraint", "U_constraint": "recurrent_constraint",
              "dropout_W": "dropout", "dropout_U": "recurrent_dropout",
              "consume_less": "implementation"}

#: Keras 2 class name -> {Keras 1 word: Keras 2 word}.
RENAMES = {
    "Conv1D": {**_CONV, "filter_length": "kernel_size", "subsample_length": "strides"},
    "Conv2D": _CONV, "Conv3D": _CONV, "Conv2DTranspose": _CONV,
    "SeparableConv2D": {k: v for k, v in _CONV.items() if not k.startswith(("init", "W_"))},
    "Dense": {"output_dim": "units", **_WEIGHT},
    "Dropout": {"p": "rate"}, "GaussianDropout": {"p": "rate"},
    "SpatialDropout1D": {"p": "rate"},
    "SpatialDropout2D": {"p": "rate", "dim_ordering": "data_format"},
    "SpatialDropout3D": {"p": "rate", "dim_ordering": "data_format"},
    "GaussianNoise": {"sigma": "stddev"}, "PReLU": {"init": "alpha_initializer"},
    "Embedding": {"init": "embeddings_initializer", "W_regularizer": "embeddings_regularizer",
                  "W_constraint": "embeddings_constraint"},
    "MaxPooling1D": _POOL_1D, "AveragePooling1D": _POOL_1D,
    "UpSampling1D": {"length": "size"},
    "BatchNormalization": {"beta_init": "beta_initializer", "gamma_init": "gamma_initializer"},
    **{name: {"border_mode": "padding", "dim_ordering": "data_format"}
       for name in ("MaxPooling2D", "MaxPooling3D", "AveragePooling2D", "AveragePooling3D")},
    **{name: {"dim_ordering": "data_format"}
       for name in ("GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling2D",
                    "GlobalAveragePooling3D", "UpSampling2D", "UpSampling3D", "ZeroPadding2D",
                    "ZeroPadding3D", "Cropping2D", "Cropping3D")},
    **{name: _RECURRENT for name in ("LSTM", "GRU", "SimpleRNN")},
}

#: Keras 2 word -> {Keras 1 value: Keras 2 value} (after the renaming).
VALUES = {
    "data_format": {"th": "channels_first", "tf": "channels_last", "default": None},
    "implementation": {"cpu": 0, "mem": 1, "gpu": 2},
    **{key: {"zero": "zeros", "one": "ones", "uniform": "random_uniform",
             "normal": "random_normal"}
       for key in ("kernel_initializer", "embeddings_initializer", "recurrent_initializer",
                   "beta_initializer", "gamma_initializer", "alpha_initializer",
                   "depthwise_initializer", "pointwise_initializer")},
}

#: Keras 2 class name -> the Keras 1 words that together make ``kernel_size``.
KERNEL_WORDS = {"Conv2D": ("nb_row", "nb_col"), "Conv2DTranspose": ("nb_row", "nb_col"),
                "SeparableConv2D": ("nb_row", "nb_col"),
                "Conv3D": ("kernel_dim1", "kernel_dim2", "kernel_dim3")}

# Keras 1's sequence layers took input_dim and input_length for their input shape.
_SEQUENCE_INPUT = ("Conv1D", "LSTM", "GRU", "SimpleRNN", "MaxPooling1D", "AveragePooling1D")

#: Every keyword that may need translating (a quick test before any work; ``input_dim``
#: and ``output_shape`` are Keras 2 words too, for other layers).
KERAS1_WORDS = frozenset(
    {word for table in RENAMES.values() for word in table}
    | {word for words in KERNEL_WORDS.values() for word in words}
    | {"input_dim", "input_length", "output_shape"})


def rename_arguments(keras_class, config):
    """``(config, renamed)``: ``config`` in Keras 2 words (a new dict) and the
    ``(old, new)`` pairs changed, for a layer of Keras 2 class ``keras_class``.

    Raises ``ValueError`` naming both words when a Keras 1 word and its Keras 2 word are
    both given.
    """
    config = dict(config)
    renamed = []
    words = KERNEL_WORDS.get(keras_class)
    if words and any(word in config for word in words):
        if "kernel_size" in config:
            raise ValueError(f"the Keras 1 arguments {'/'.join(words)} and the Keras 2 "
                             "'kernel_size' are both given")
        config["kernel_size"] = [config.pop(word, None) for word in words]
        renamed.append(("/".join(words), "kernel_size"))
    if keras_class == "SeparableConv2D" and "init" in config:
        init = config.pop("init")
        config["depthwise_initializer"] = config["pointwise_initializer"] = init
        renamed.append(("init", "depthwise_initializer/pointwise_initializer"))
    for old, new in RENAMES.get(keras_class, {}).items():
        if old not in config:
            continue
        value = config.pop(old)
        if new in config:
            raise ValueError(f"the Keras 1 argument {old!r} and the Keras 2 {new!r} are both "
                             "given")
        config[new] = value
        renamed.append((old, new))
    for new in {key for _, words in renamed for key in words.split("/")}:
        table = VALUES.get(new)
        value = config.get(new)
        if table is not None and isinstance(value, str) and value in table:
            config[new] = table[value]
    return config, renamed


def keras_class_of(cls):
    """The Keras 2 class name of a layer class: its catalog row's (or the row of its
    nearest catalogued base class), else its own name."""
    for klass in cls.__mro__:
        row = CATALOG.get(klass.__name__) or lookup(klass.__name__)
        if row is not None and row.keras:
            return row.keras[0]
    return cls.__name__


def modernize_arguments(cls, args, kwargs):
    """A layer constructor's arguments with Keras 1 words in Keras 2 terms.

    Returns ``(args, kwargs, notes)``: ``notes`` are ``DeprecationWarning`` texts naming
    each old word and the modern one (what Keras 2 warned). Keras 2's behaviour is kept
    where it did more than rename:

    - Keras 1's kernel sizes given by position (``Convolution2D(64, 3, 3,
      border_mode='same')``, ``Convolution3D(8, 3, 3, 3)``) become ``kernel_size`` when
      the call is a Keras 1 call: it uses a Keras 1 word, or gives more integers than
      the cthulhu signature can take (``Cthalpa2D(64, 3, 3)`` alone keeps cthulhu's
      meaning, ``strides=3``);
    - ``input_dim``/``input_length`` of a sequence layer become its ``input_shape``;
    - ``implementation=0`` (``consume_less='cpu'``) becomes 1, the same computation;
    - ``Conv2DTranspose``'s ``output_shape`` is dropped (the size follows from the
      strides and padding).
    """
    keras_class = keras_class_of(cls)
    label = cls.__name__
    notes = []
    words = KERNEL_WORDS.get(keras_class)
    if words and cls.__name__ in CATALOG and len(args) >= 3:
        args, kwargs = _positional_kernel(label, keras_class, words, args, kwargs, notes)
    try:
        kwargs, renamed = rename_arguments(keras_class, kwargs)
    except ValueError as exc:
        raise TypeError(f"{label}: {exc}") from None
    notes += [f"{label}: the Keras 1 argument {old!r} is deprecated; use {new!r} "
              "(as in Keras 2)" for old, new in renamed]
    if keras_class in _SEQUENCE_INPUT and "input_shape" not in kwargs and (
            "input_length" in kwargs or "input_dim" in kwargs):
        length = kwargs.pop("input_length", None)
        dim = kwargs.pop("input_dim", None)
        kwargs["input_shape"] = (length, dim)
        notes.append(f"{label}: the Keras 1 arguments input_dim/input_length are deprecated; "
                     f"use input_shape=({length}, {dim})")
    if kwargs.get("implementation") == 0 and keras_class in ("LSTM", "GRU", "SimpleRNN"):
        kwargs["implementation"] = 1
        notes.append(f"{label}: implementation=0 (Keras 1's consume_less='cpu') is "
                     "implementation=1, the same computation")
    if keras_class == "Conv2DTranspose" and "output_shape" in kwargs:
        kwargs.pop("output_shape")
        notes.append(f"{label}: the Keras 1 argument 'output_shape' is dropped, as in Keras 2: "
                     "the output size follows from strides and padding (choose among the "
                     "possible sizes with output_padding)")
    return args, kwargs, notes


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _positional_kernel(label, keras_class, words, args, kwargs, notes):
    """Keras 1's ``(nb_filter, nb_row, nb_col, ...)`` positions as ``kernel_size``."""
    count = 0
    while count < len(words) and 1 + count < len(args) and _is_int(args[1 + count]):
        count += 1
    keras1_words = set(RENAMES.get(keras_class, ())) | set(words)
    if count < 2 or not (count == 3 or keras1_words & set(kwargs)):
        return args, kwargs
    if len(args) > 1 + count:
        raise TypeError(f"{label}: a Keras 1 call takes nb_filter and the kernel sizes by "
                        f"position only; pass the other arguments by keyword (got "
                        f"{len(args)} positional arguments)")
    if "kernel_size" in kwargs:
        raise TypeError(f"{label}: the kernel sizes are given by position (Keras 1) and as "
                        "kernel_size")
    kernel = [*args[1:1 + count], *(kwargs.pop(word, None) for word in words[count:])]
    kwargs = {**kwargs, "kernel_size": tuple(kernel)}
    notes.append(f"{label}: Keras 1's positional kernel sizes {'/'.join(words)} are "
                 f"deprecated; use kernel_size={tuple(kernel)} (as in Keras 2)")
    return args[:1], kwargs
