"""Layer specs: the plain dicts the chain functions understand.

A *spec* describes one layer by what matters to shapes, e.g.::

    {"kind": "conv", "rank": 3, "filters": 8, "kernel_size": (3, 3, 3),
     "strides": (1, 1, 1), "padding": "same", "dilation_rate": (1, 1, 1),
     "data_format": "channels_last", "name": "conv3d_1", "class_name": "Cthalpa3D"}

Kinds and their keys (``name`` and ``class_name`` are optional everywhere):

============== ================================================================
kind           keys
============== ================================================================
conv           rank, filters, kernel_size, strides, padding, dilation_rate, data_format
conv_transpose rank, filters, kernel_size, strides, padding, output_padding, dilation_rate, data_format
depthwise_conv rank, kernel_size, strides, padding, depth_multiplier, dilation_rate, data_format
separable_conv rank, filters, kernel_size, strides, padding, depth_multiplier, dilation_rate, data_format
upsampling     rank, size, data_format (``interpolation`` is kept but does not change shapes)
zero_padding   rank, padding (``((lo, hi),) * rank``), data_format
cropping       rank, cropping (``((lo, hi),) * rank``), data_format
pointwise      (none): same shape, each position on its own (activation, dropout, masking ...)
spatial_dropout rank, data_format: same shape
dense          units (acts on the last axis)
flatten        data_format
reshape        target_shape
permute        dims
repeat_vector  n
embedding      output_dim, input_length
lstm           units, return_sequences, return_state
opaque         output_shape (a tuple without the batch axis, or a function of the input shape)
============== ================================================================

:func:`spec_from_config` builds a spec from a layer class name (cthulhu's, or
the Keras name it stands for) and a ``get_config()``-style dict, filling in
the documented defaults; :func:`layer_spec` does the same for a layer object.

:func:`normalize_spec` checks every argument once and adds ``normalized``,
``shape_key`` (a hashable summary) and ``fast_shape``: the formula function
and its prepared arguments, which :func:`~cthulhu.shapes.chain.chain` calls
without validating the arguments again (edit a spec's arguments only before
normalising it).
"""

from .core import _dense_fast, _same_fast
from .errors import ShapeError, ShapeTypeError, owner_label, shape_error
from .layers import (
    _conv_fast,
    _conv_transpose_fast,
    _cropping_fast,
    _dilated,
    _upsampling_fast,
    _zero_padding_fast,
)
from .normalize import (
    as_tuple,
    check_conv_args,
    normalize_cropping,
    normalize_data_format,
    normalize_output_padding,
    normalize_padding,
    normalize_size,
    normalize_zero_padding,
    positive_int,
)

__all__ = ["spec_from_config", "layer_spec", "describe_layer", "normalize_spec", "spec_owner",
           "LAYER_SIGNATURES", "KEYWORD_ONLY", "KERAS_NAMES", "SPATIAL_KINDS"]

SPATIAL_KINDS = ("conv", "conv_transpose", "depthwise_conv", "separable_conv", "upsampling",
                 "zero_padding", "cropping", "pointwise", "spatial_dropout")

_CONV_TAIL = ("activation", "use_bias", "kernel_initializer", "bias_initializer",
              "kernel_regularizer", "bias_regularizer", "activity_regularizer",
              "kernel_constraint", "bias_constraint")
_SEP_TAIL = ("activation", "use_bias", "depthwise_initializer", "pointwise_initializer",
             "bias_initializer", "depthwise_regularizer", "pointwise_regularizer",
             "bias_regularizer", "activity_regularizer", "depthwise_constraint",
             "pointwise_constraint", "bias_constraint")
_DW_TAIL = ("activation", "use_bias", "depthwise_initializer", "bias_initializer",
            "depthwise_regularizer", "bias_regularizer", "activity_regularizer",
            "depthwise_constraint", "bias_constraint")
_REQUIRED = object()


def _conv_sig(rank, transpose=False, dilation=True):
    ones = 1 if rank == 1 else (1,) * rank
    params = [("filters", _REQUIRED), ("kernel_size", _REQUIRED), ("strides", ones),
              ("padding", "valid")]
    if transpose:
        params.append(("output_padding", None))
    params.append(("data_format", "channels_last" if rank == 1 else None))
    if dilation:
        params.append(("dilation_rate", ones))
    return tuple(params) + tuple((p, None) for p in _CONV_TAIL)


def _sep_sig(rank):
    ones = 1 if rank == 1 else (1,) * rank
    return (("filters", _REQUIRED), ("kernel_size", _REQUIRED), ("strides", ones),
            ("padding", "valid"), ("data_format", "channels_last" if rank == 1 else None),
            ("dilation_rate", ones), ("depth_multiplier", 1)) + tuple((p, None) for p in _SEP_TAIL)


# Laldagorth's (Keras 2.2 LSTM's) parameters between `units` and `return_sequences`:
# none of them changes a shape, but a positional call must bind past them.
_LSTM_MIDDLE = (
    "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "implementation")

# class name -> (kind, spatial rank, ((parameter, default), ...) in the documented order).
# The signatures are those of the cthulhu docs (seeds 000/001), so that a positional call
# on the command line binds exactly as the layer constructor would.
LAYER_SIGNATURES = {
    "Cthalpa1D": ("conv", 1, _conv_sig(1)),
    "Cthalpa2D": ("conv", 2, _conv_sig(2)),
    "Cthalpa3D": ("conv", 3, _conv_sig(3)),
    "Cthalpa2DTranspose": ("conv_transpose", 2, _conv_sig(2, transpose=True)),
    "Cthalpa3DTranspose": ("conv_transpose", 3, _conv_sig(3, transpose=True, dilation=False)),
    "SeparableCthalpa1D": ("separable_conv", 1, _sep_sig(1)),
    "SeparableCthalpa2D": ("separable_conv", 2, _sep_sig(2)),
    "DepthwiseCthalpa2D": ("depthwise_conv", 2, (
        ("kernel_size", _REQUIRED), ("strides", (1, 1)), ("padding", "valid"),
        ("depth_multiplier", 1), ("data_format", None), ("dilation_rate", (1, 1)))
        + tuple((p, None) for p in _DW_TAIL)),
    "Cropping1D": ("cropping", 1, (("cropping", (1, 1)),)),
    "Cropping2D": ("cropping", 2, (("cropping", ((0, 0), (0, 0))), ("data_format", None))),
    "Cropping3D": ("cropping", 3, (("cropping", ((1, 1), (1, 1), (1, 1))),
                                   ("data_format", None))),
    "UbboSathla1D": ("upsampling", 1, (("size", 2),)),
    "UbboSathla2D": ("upsampling", 2, (("size", (2, 2)), ("data_format", None),
                                       ("interpolation", "nearest"))),
    "UbboSathla3D": ("upsampling", 3, (("size", (2, 2, 2)), ("data_format", None))),
    "Xexanoth1D": ("zero_padding", 1, (("padding", 1),)),
    "Xexanoth2D": ("zero_padding", 2, (("padding", (1, 1)), ("data_format", None))),
    "Xexanoth3D": ("zero_padding", 3, (("padding", (1, 1, 1)), ("data_format", None))),
    "SpatialDarkness1D": ("spatial_dropout", 1, (("rate", _REQUIRED),)),
    "SpatialDarkness2D": ("spatial_dropout", 2, (("rate", _REQUIRED), ("data_format", None))),
    "SpatialDarkness3D": ("spatial_dropout", 3, (("rate", _REQUIRED), ("data_format", None))),
    "Daoloth": ("dense", None, (("units", _REQUIRED),) + tuple((p, None) for p in _CONV_TAIL)),
    "Azatoth": ("pointwise", None, (("activation", _REQUIRED),)),
    "Darkness": ("pointwise", None, (("rate", _REQUIRED), ("noise_shape", None), ("seed", None))),
    "ActivityRegularization": ("pointwise", None, (("l1", 0.0), ("l2", 0.0))),
    "Masking": ("pointwise", None, (("mask_value", 0.0),)),
    # A functional model's input layer: the chain starts after it.
    "InputLayer": ("pointwise", None, ()),
    "Flatten": ("flatten", None, (("data_format", None),)),
    "Reshape": ("reshape", None, (("target_shape", _REQUIRED),)),
    "Permute": ("permute", None, (("dims", _REQUIRED),)),
    "RepeatVector": ("repeat_vector", None, (("n", _REQUIRED),)),
    "TheHydra": ("embedding", None, (("input_dim", _REQUIRED), ("output_dim", _REQUIRED),
                                     ("embeddings_initializer", "uniform"),
                                     ("embeddings_regularizer", None),
                                     ("activity_regularizer", None),
                                     ("embeddings_constraint", None), ("mask_zero", False),
                                     ("input_length", None))),
    "Laldagorth": ("lstm", None, (("units", _REQUIRED),)
                   + tuple((p, None) for p in _LSTM_MIDDLE)
                   + (("return_sequences", False), ("return_state", False),
                      ("go_backwards", False), ("stateful", False), ("unroll", False))),
    "LuKthu": ("opaque", None, (("function", _REQUIRED), ("output_shape", None),
                                ("mask", None), ("arguments", None))),
}

# Keyword-only arguments a layer accepts beyond its documented positional signature:
# the Cthalpa3DTranspose docs list no dilation_rate in the signature but describe one,
# and the layer takes it as a keyword (as Keras 2.2.3+ Conv3DTranspose does).
KEYWORD_ONLY = {
    "Cthalpa3DTranspose": (("dilation_rate", (1, 1, 1)),),
}

# Keras 2 names of the same layers (seeds 002-004), accepted as aliases.
KERAS_NAMES = {
    "Conv1D": "Cthalpa1D", "Conv2D": "Cthalpa2D", "Conv3D": "Cthalpa3D",
    "Conv2DTranspose": "Cthalpa2DTranspose", "Conv3DTranspose": "Cthalpa3DTranspose",
    "SeparableConv1D": "SeparableCthalpa1D", "SeparableConv2D": "SeparableCthalpa2D",
    "DepthwiseConv2D": "DepthwiseCthalpa2D",
    "UpSampling1D": "UbboSathla1D", "UpSampling2D": "UbboSathla2D", "UpSampling3D": "UbboSathla3D",
    "ZeroPadding1D": "Xexanoth1D", "ZeroPadding2D": "Xexanoth2D", "ZeroPadding3D": "Xexanoth3D",
    "Dense": "Daoloth", "Activation": "Azatoth", "Dropout": "Darkness",
    "SpatialDropout1D": "SpatialDarkness1D", "SpatialDropout2D": "SpatialDarkness2D",
    "SpatialDropout3D": "SpatialDarkness3D", "Lambda": "LuKthu", "LSTM": "Laldagorth",
    "Embedding": "TheHydra",
}

# Keras-config keys that carry no shape information but are legal on every layer.
_COMMON_KEYS = {"name", "trainable", "dtype", "input_shape", "batch_input_shape", "batch_size",
                "input_dim", "input_length", "weights", "activity_regularizer"}


def spec_owner(spec):
    """The label errors use for a spec: ``"Cthalpa2D 'conv_1'"``, or its kind."""
    return owner_label(spec)


def spec_from_config(class_name, config=None):
    """The normalised spec of layer ``class_name`` with the given ``get_config()`` values.

    Parameters
    ----------
    class_name : str
        A cthulhu layer name (``"Cthalpa2D"``) or its Keras name (``"Conv2D"``).
    config : dict, optional
        Constructor arguments; missing ones take the documented defaults.

    Returns
    -------
    dict
        A spec as described in this module's docstring, with tuples and an
        explicit ``data_format``.

    Raises
    ------
    ShapeError
        Unknown class, a missing required argument, or a bad argument value
        (the message names the layer, the argument and the value).

    Examples
    --------
    >>> spec = spec_from_config("Cthalpa2D", {"filters": 64, "kernel_size": 3, "strides": 2})
    >>> spec["kind"], spec["kernel_size"], spec["strides"], spec["padding"]
    ('conv', (3, 3), (2, 2), 'valid')
    """
    config = dict(config or {})
    canonical = KERAS_NAMES.get(class_name, class_name)
    if canonical not in LAYER_SIGNATURES:
        known = ", ".join(sorted(LAYER_SIGNATURES))
        raise ShapeError(f"unknown layer {class_name!r}; known layers: {known}")
    kind, rank, params = LAYER_SIGNATURES[canonical]
    name = config.get("name")
    owner = f"{canonical} {name!r}" if name else canonical
    args = {}
    for param, default in params + KEYWORD_ONLY.get(canonical, ()):
        if param in config:
            args[param] = config[param]
        elif default is _REQUIRED:
            raise shape_error(owner, f"missing required argument {param!r}")
        else:
            args[param] = default
    spec = {"kind": kind, "class_name": canonical}
    if name:
        spec["name"] = name
    if rank is not None:
        spec["rank"] = rank
    for key in _SPEC_KEYS[kind]:
        if key in args:
            spec[key] = args[key]
    if kind == "embedding":
        spec["input_length"] = config.get("input_length")
    return normalize_spec(spec)


_SPEC_KEYS = {
    "conv": ("filters", "kernel_size", "strides", "padding", "dilation_rate", "data_format"),
    "conv_transpose": ("filters", "kernel_size", "strides", "padding", "output_padding",
                       "dilation_rate", "data_format"),
    "depthwise_conv": ("kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate",
                       "data_format"),
    "separable_conv": ("filters", "kernel_size", "strides", "padding", "depth_multiplier",
                       "dilation_rate", "data_format"),
    "upsampling": ("size", "data_format", "interpolation"),
    "zero_padding": ("padding", "data_format"),
    "cropping": ("cropping", "data_format"),
    "pointwise": (),
    "spatial_dropout": ("data_format",),
    "dense": ("units",),
    "flatten": ("data_format",),
    "reshape": ("target_shape",),
    "permute": ("dims",),
    "repeat_vector": ("n",),
    "embedding": ("output_dim", "input_length"),
    "lstm": ("units", "return_sequences", "return_state"),
    "opaque": ("output_shape",),
}


# Other names layers use for a position-wise layer.
_KIND_ALIASES = {"identity": "pointwise", "dropout": "pointwise", "activation": "pointwise",
                 "masking": "pointwise"}


def _infer_rank(spec, owner):
    rank = spec.get("rank")
    if rank is None:
        for key in ("kernel_size", "strides", "size", "dilation_rate"):
            value = spec.get(key)
            if isinstance(value, (list, tuple)):
                rank = len(value)
                break
    if rank not in (1, 2, 3):
        raise shape_error(owner, f"rank must be 1, 2 or 3 (give 'rank' in the spec), "
                                 f"got {rank!r}")
    return rank


def normalize_spec(spec):
    """A copy of ``spec`` with every argument in canonical form (tuples, lower-case strings).

    Accepts the loose forms a user may write (``kernel_size=3``,
    ``padding="SAME"``, ``data_format=None``) and checks them with the
    argument rules of :mod:`cthulhu.shapes.normalize`.
    """
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ShapeTypeError(f"a layer spec must be a dict with a 'kind', got {spec!r}")
    kind = _KIND_ALIASES.get(spec["kind"], spec["kind"])
    if kind not in _SPEC_KEYS:
        raise ShapeError(f"unknown layer kind {kind!r}; known kinds: {', '.join(_SPEC_KEYS)}")
    out = dict(spec)
    out["kind"] = kind
    owner = spec_owner(spec)
    if kind in SPATIAL_KINDS and kind != "pointwise":
        rank = out["rank"] = _infer_rank(spec, owner)
        if rank == 1 and kind in ("upsampling", "zero_padding", "cropping"):
            out["data_format"] = "channels_last"   # Keras' 1D versions have no data_format
        else:
            out["data_format"] = normalize_data_format(spec.get("data_format"), owner)
    if kind in ("conv", "conv_transpose", "depthwise_conv", "separable_conv"):
        _normalize_conv(out, spec, kind, owner)
    elif kind == "upsampling":
        out["size"] = normalize_size(spec.get("size", 2), rank, owner)
    elif kind == "zero_padding":
        out["padding"] = normalize_zero_padding(spec.get("padding", 1), rank, owner)
    elif kind == "cropping":
        out["cropping"] = normalize_cropping(spec.get("cropping", 0), rank, owner)
    elif kind == "flatten":
        out["data_format"] = normalize_data_format(spec.get("data_format"), owner)
    elif kind == "dense":
        out["units"] = positive_int(_required(spec, "units", owner), "units", owner)
    # chain() trusts a spec carrying this mark and skips normalising it again; the key
    # (everything that determines the output shape) lets it memoise shapes.
    out["normalized"] = True
    out["shape_key"] = _shape_key(out)
    out["fast_shape"] = _fast_shape(out)
    return out


def _required(spec, key, owner):
    if key not in spec:
        raise shape_error(owner, f"missing required argument {key!r}")
    return spec[key]


def _fast_shape(spec):
    """``(function, arguments)`` computing the spec's output shape from a checked shape.

    The arguments were checked when the spec was normalised, so :func:`chain`
    calls ``function(shape, spec, *arguments)`` (the spec names the layer in
    errors) without validating them again on every call: the same formula
    functions the validating whole-layer functions call after their checks.
    ``None`` for the kinds without a fast path (they take the validating one).
    """
    kind = spec["kind"]
    if kind in ("pointwise", "spatial_dropout"):
        return (_same_fast, ())
    if kind == "dense":
        return (_dense_fast, (spec["units"],))
    if kind not in SPATIAL_KINDS:
        return None
    rank, first = spec["rank"], spec["data_format"] == "channels_first"
    if kind in ("conv", "depthwise_conv", "separable_conv"):
        depthwise = kind == "depthwise_conv"
        return (_conv_fast, (rank, first, _dilated(spec["kernel_size"], spec["dilation_rate"]),
                             spec["strides"], spec["padding"],
                             None if depthwise else spec["filters"],
                             spec["depth_multiplier"] if depthwise else 1))
    if kind == "conv_transpose":
        return (_conv_transpose_fast, (rank, first, spec["kernel_size"],
                                       _dilated(spec["kernel_size"], spec["dilation_rate"]),
                                       spec["strides"], spec["padding"],
                                       spec["output_padding"], spec["filters"]))
    if kind == "upsampling":
        return (_upsampling_fast, (rank, first, spec["size"]))
    if kind == "cropping":
        return (_cropping_fast, (rank, first, spec["cropping"]))
    return (_zero_padding_fast, (rank, first, spec["padding"]))


_NOT_SHAPE = {"name", "class_name", "normalized", "shape_key", "fast_shape", "layer",
              "interpolation"}


def _shape_key(spec):
    """A hashable summary of a normalised spec, or None when it holds unhashable values."""
    if spec["kind"] == "opaque":
        return None
    key = tuple(sorted((k, v) for k, v in spec.items() if k not in _NOT_SHAPE))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _normalize_conv(out, spec, kind, owner):
    rank = out["rank"]
    if "kernel_size" not in spec:
        raise shape_error(owner, "missing required argument 'kernel_size'")
    kernel = as_tuple(spec["kernel_size"], rank, "kernel_size", owner)
    strides = as_tuple(spec.get("strides", 1), rank, "strides", owner)
    dilation = as_tuple(spec.get("dilation_rate", 1), rank, "dilation_rate", owner)
    check_conv_args(kernel, strides, dilation, owner)
    # Only Cthalpa1D takes 'causal' (the SeparableCthalpa1D docs allow 'valid'/'same').
    allowed = ("valid", "same", "causal") if kind == "conv" else ("valid", "same")
    padding = normalize_padding(spec.get("padding", "valid"), owner, allowed)
    if padding == "causal" and rank != 1:
        raise shape_error(owner, f"padding 'causal' is only for 1D convolutions, got rank {rank}")
    out.update(kernel_size=kernel, strides=strides, dilation_rate=dilation, padding=padding)
    if kind == "conv_transpose":
        out["output_padding"] = normalize_output_padding(spec.get("output_padding"), strides,
                                                         owner)
    if kind in ("depthwise_conv", "separable_conv"):
        out["depth_multiplier"] = positive_int(spec.get("depth_multiplier", 1),
                                               "depth_multiplier", owner)
    if kind != "depthwise_conv":
        out["filters"] = positive_int(_required(spec, "filters", owner), "filters", owner)


def layer_spec(layer):
    """The spec of a layer object (or a spec dict, or a Keras-style ``{"class_name", "config"}``).

    Uses ``layer.shape_spec()`` when the layer provides it; otherwise the class
    name and ``layer.get_config()`` through :func:`spec_from_config`.
    """
    if isinstance(layer, dict):
        if "kind" in layer:
            return normalize_spec(layer)
        if "class_name" in layer:
            return spec_from_config(layer["class_name"], layer.get("config", {}))
        raise ShapeTypeError(f"a layer spec must be a dict with a 'kind', got {layer!r}")
    shape_spec = getattr(layer, "shape_spec", None)
    if callable(shape_spec):
        spec = shape_spec()
        if spec is not None:
            spec = normalize_spec(spec)
            spec.setdefault("class_name", type(layer).__name__)
            if getattr(layer, "name", None):
                spec.setdefault("name", layer.name)
            if spec["kind"] == "opaque" and "layer" not in spec:
                spec["layer"] = layer
            return spec
    get_config = getattr(layer, "get_config", None)
    if not callable(get_config):
        raise ShapeTypeError(f"cannot describe {layer!r}: it is neither a spec dict nor a layer "
                             "with shape_spec() or get_config()")
    class_name = type(layer).__name__
    if KERAS_NAMES.get(class_name, class_name) not in LAYER_SIGNATURES:
        if callable(getattr(layer, "compute_output_shape", None)):
            # A layer this module does not know: its own shape method, and the end of
            # the spatial analysis.
            return {"kind": "opaque", "layer": layer, "class_name": class_name,
                    "name": getattr(layer, "name", None), "normalized": True}
    spec = spec_from_config(class_name, get_config())
    if spec["kind"] == "opaque":
        spec["layer"] = layer
    return spec


describe_layer = layer_spec
