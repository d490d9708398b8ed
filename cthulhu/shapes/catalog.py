"""The catalog: one row per public layer, the one home of its names and signature.

Each :class:`LayerRow` holds a layer's cthulhu name, its Keras 2 class
name(s) (what Keras 2 model files carry) and Keras 1 class name(s) (for the
Keras importer: Keras 1 configs use other argument names), its
:mod:`~cthulhu.shapes.kinds` kind and spatial rank, its documented
constructor signature (parameters and defaults in order, :data:`REQUIRED`
for parameters without a default), the keyword-only arguments it takes
beyond that signature, and the module defining the class (a string: reading
the catalog imports no layer).

Read by :func:`cthulhu.shapes.spec_from_config`, the ``cthulhu shape``
parser, the conformance tests (which check every class's Python signature
against its row) and the Keras model importer. Pure data: no NumPy, nothing
from outside ``cthulhu.shapes``.

>>> row = lookup("Conv2D")
>>> row.name, row.kind, row.rank, row.module
('Cthalpa2D', 'conv', 2, 'cthulhu.layers.convolutional')
>>> row.signature[:3]
(('filters', REQUIRED), ('kernel_size', REQUIRED), ('strides', (1, 1)))
"""

__all__ = ["REQUIRED", "LayerRow", "CATALOG", "lookup", "keras_names"]


class _Required:
    """The default of a parameter that has none (``REQUIRED``)."""

    __slots__ = ()

    def __repr__(self):
        return "REQUIRED"

    def __reduce__(self):
        return "REQUIRED"


REQUIRED = _Required()


class LayerRow:
    """One public layer (see the module docstring). Read-only; compare by ``name``."""

    __slots__ = ("name", "keras", "keras1", "kind", "rank", "signature", "keyword_only",
                 "module")

    def __init__(self, name, kind, rank, signature, module, keras=(), keras1=(),
                 keyword_only=()):
        for attr, value in (("name", name), ("kind", kind), ("rank", rank),
                            ("signature", tuple(signature)), ("module", module),
                            ("keras", tuple(keras)), ("keras1", tuple(keras1)),
                            ("keyword_only", tuple(keyword_only))):
            object.__setattr__(self, attr, value)

    def __setattr__(self, name, value):
        raise AttributeError("catalog rows are read-only")

    def __repr__(self):
        return f"LayerRow({self.name!r}, kind={self.kind!r}, rank={self.rank!r})"

    @property
    def params(self):
        """The documented parameter names, in order."""
        return tuple(name for name, _ in self.signature)

    def defaults(self):
        """``{parameter: default}`` of the signature and the keyword-only extras."""
        return dict(self.signature + self.keyword_only)


# ------------------------------------------------------------------ signatures
def _ones(rank):
    return 1 if rank == 1 else (1,) * rank


def _fmt(rank):
    # The 1D layers' documented default is explicit; 2D/3D default to the configuration.
    return "channels_last" if rank == 1 else None


def _weights(*names):
    """``<name>_initializer``, ``_regularizer``, ``_constraint`` in the documented order."""
    inits = {"bias": "zeros"}
    return (tuple((f"{n}_initializer", inits.get(n, "glorot_uniform")) for n in names)
            + tuple((f"{n}_regularizer", None) for n in names)
            + (("activity_regularizer", None),)
            + tuple((f"{n}_constraint", None) for n in names))


_ACTIVATION = (("activation", None), ("use_bias", True))


def _conv(rank, transpose=False, dilation=True):
    sig = [("filters", REQUIRED), ("kernel_size", REQUIRED), ("strides", _ones(rank)),
           ("padding", "valid")]
    if transpose:
        sig.append(("output_padding", None))
    sig.append(("data_format", _fmt(rank)))
    if dilation:
        sig.append(("dilation_rate", _ones(rank)))
    return tuple(sig) + _ACTIVATION + _weights("kernel", "bias")


def _separable(rank):
    return ((("filters", REQUIRED), ("kernel_size", REQUIRED), ("strides", _ones(rank)),
             ("padding", "valid"), ("data_format", _fmt(rank)), ("dilation_rate", _ones(rank)),
             ("depth_multiplier", 1)) + _ACTIVATION
            + _weights("depthwise", "pointwise", "bias"))


def _depthwise(rank):
    # Keras 2's DepthwiseConv2D (and tf.keras 2.15's DepthwiseConv1D: data_format=None in 1D
    # too); the 3D layer, which Keras lacks, follows the 2D signature.
    return ((("kernel_size", REQUIRED), ("strides", _ones(rank)), ("padding", "valid"),
             ("depth_multiplier", 1), ("data_format", None), ("dilation_rate", _ones(rank)))
            + _ACTIVATION + _weights("depthwise", "bias"))


def _conv1d_transpose():
    # tf.keras 2.15's Conv1DTranspose: unlike Conv1D, data_format defaults to None (the
    # configured image_data_format).
    sig = dict(_conv(1, transpose=True))
    sig["data_format"] = None
    return tuple(sig.items())


# Keras 2.2's LSTM and Embedding (the docs use these layers without a page of their own).
_LSTM = (("units", REQUIRED), ("activation", "tanh"), ("recurrent_activation", "hard_sigmoid"),
         ("use_bias", True), ("kernel_initializer", "glorot_uniform"),
         ("recurrent_initializer", "orthogonal"), ("bias_initializer", "zeros"),
         ("unit_forget_bias", True), ("kernel_regularizer", None),
         ("recurrent_regularizer", None), ("bias_regularizer", None),
         ("activity_regularizer", None), ("kernel_constraint", None),
         ("recurrent_constraint", None), ("bias_constraint", None), ("dropout", 0.0),
         ("recurrent_dropout", 0.0), ("implementation", 1), ("return_sequences", False),
         ("return_state", False), ("go_backwards", False), ("stateful", False),
         ("unroll", False))
_EMBEDDING = (("input_dim", REQUIRED), ("output_dim", REQUIRED),
              ("embeddings_initializer", "uniform"), ("embeddings_regularizer", None),
              ("activity_regularizer", None), ("embeddings_constraint", None),
              ("mask_zero", False), ("input_length", None))

# Keras 2's normalization layers (BatchNormalization as documented since Keras 2.0,
# LayerNormalization as in tf.keras 2.x).
_BATCH_NORM = (("axis", -1), ("momentum", 0.99), ("epsilon", 0.001), ("center", True),
               ("scale", True), ("beta_initializer", "zeros"), ("gamma_initializer", "ones"),
               ("moving_mean_initializer", "zeros"), ("moving_variance_initializer", "ones"),
               ("beta_regularizer", None), ("gamma_regularizer", None),
               ("beta_constraint", None), ("gamma_constraint", None))
_LAYER_NORM = (("axis", -1), ("epsilon", 0.001), ("center", True), ("scale", True),
               ("beta_initializer", "zeros"), ("gamma_initializer", "ones"),
               ("beta_regularizer", None), ("gamma_regularizer", None),
               ("beta_constraint", None), ("gamma_constraint", None))
_PRELU = (("alpha_initializer", "zeros"), ("alpha_regularizer", None),
          ("alpha_constraint", None), ("shared_axes", None))

_CONV = "cthulhu.layers.convolutional"
_TRANSPOSE = "cthulhu.layers.convolutional_transpose"
_SEPARABLE = "cthulhu.layers.separable"
_RESHAPING = "cthulhu.layers.reshaping"
_CORE = "cthulhu.layers.core"
_DROPOUT = "cthulhu.layers.dropout"
_NORMALIZATION = "cthulhu.layers.normalization"
_MERGE = "cthulhu.layers.merge"
_ADVANCED = "cthulhu.layers.advanced_activations"
_NOISE = "cthulhu.layers.noise"
_POOLING = "cthulhu.layers.pooling"


def _merge_row(name):
    return LayerRow(name, "merge", None, (), _MERGE, (name,))


def _pooling_rows(prefix):
    """``<prefix>Pooling1D/2D/3D`` (Keras 2's signatures: the 1D default data_format is
    explicit, and it takes channels_first too)."""
    return tuple(LayerRow(f"{prefix}Pooling{rank}D", "pooling", rank,
                          (("pool_size", 2 if rank == 1 else (2,) * rank), ("strides", None),
                           ("padding", "valid"), ("data_format", _fmt(rank))),
                          _POOLING, (f"{prefix}Pooling{rank}D",), (f"{prefix}Pooling{rank}D",))
                 for rank in (1, 2, 3))


def _global_pooling_rows(prefix):
    """``Global<prefix>Pooling1D/2D/3D`` with tf.keras 2.6+'s ``keepdims``."""
    return tuple(LayerRow(f"Global{prefix}Pooling{rank}D", "global_pooling", rank,
                          (("data_format", _fmt(rank)), ("keepdims", False)),
                          _POOLING, (f"Global{prefix}Pooling{rank}D",),
                          (f"Global{prefix}Pooling{rank}D",))
                 for rank in (1, 2, 3))

# ------------------------------------------------------------------------ rows
# In the order of API.md's table, then the layers that keep their Keras names.
_ROWS = (
    LayerRow("Cthalpa1D", "conv", 1, _conv(1), _CONV, ("Conv1D",),
             ("Convolution1D", "AtrousConvolution1D")),
    LayerRow("Cthalpa2D", "conv", 2, _conv(2), _CONV, ("Conv2D",),
             ("Convolution2D", "AtrousConvolution2D")),
    LayerRow("Cthalpa3D", "conv", 3, _conv(3), _CONV, ("Conv3D",), ("Convolution3D",)),
    LayerRow("Cthalpa2DTranspose", "conv_transpose", 2, _conv(2, transpose=True), _TRANSPOSE,
             ("Conv2DTranspose",), ("Deconvolution2D",)),
    # The docs describe dilation_rate without listing it in the signature: the layer takes
    # it as a keyword (as Keras 2.2.3+ Conv3DTranspose does).
    LayerRow("Cthalpa3DTranspose", "conv_transpose", 3, _conv(3, transpose=True, dilation=False),
             _TRANSPOSE, ("Conv3DTranspose",), keyword_only=(("dilation_rate", (1, 1, 1)),)),
    LayerRow("SeparableCthalpa1D", "separable_conv", 1, _separable(1), _SEPARABLE,
             ("SeparableConv1D",)),
    LayerRow("SeparableCthalpa2D", "separable_conv", 2, _separable(2), _SEPARABLE,
             ("SeparableConv2D",), ("SeparableConvolution2D",)),
    LayerRow("DepthwiseCthalpa2D", "depthwise_conv", 2, _depthwise(2), _SEPARABLE,
             ("DepthwiseConv2D",)),
    LayerRow("UbboSathla1D", "upsampling", 1, (("size", 2),), _RESHAPING, ("UpSampling1D",),
             ("UpSampling1D",)),
    LayerRow("UbboSathla2D", "upsampling", 2,
             (("size", (2, 2)), ("data_format", None), ("interpolation", "nearest")),
             _RESHAPING, ("UpSampling2D",), ("UpSampling2D",)),
    # interpolation='trilinear' is cthulhu's (Keras 2's UpSampling3D only repeats): keyword-only.
    LayerRow("UbboSathla3D", "upsampling", 3, (("size", (2, 2, 2)), ("data_format", None)),
             _RESHAPING, ("UpSampling3D",), ("UpSampling3D",),
             keyword_only=(("interpolation", "nearest"),)),
    LayerRow("Xexanoth1D", "zero_padding", 1, (("padding", 1),), _RESHAPING, ("ZeroPadding1D",),
             ("ZeroPadding1D",)),
    LayerRow("Xexanoth2D", "zero_padding", 2, (("padding", (1, 1)), ("data_format", None)),
             _RESHAPING, ("ZeroPadding2D",), ("ZeroPadding2D",)),
    LayerRow("Xexanoth3D", "zero_padding", 3, (("padding", (1, 1, 1)), ("data_format", None)),
             _RESHAPING, ("ZeroPadding3D",), ("ZeroPadding3D",)),
    LayerRow("Daoloth", "dense", None,
             (("units", REQUIRED),) + _ACTIVATION + _weights("kernel", "bias"), _CORE,
             ("Dense",), ("Dense",)),
    LayerRow("Azatoth", "pointwise", None, (("activation", REQUIRED),), _CORE, ("Activation",),
             ("Activation",)),
    LayerRow("Darkness", "pointwise", None,
             (("rate", REQUIRED), ("noise_shape", None), ("seed", None)), _DROPOUT,
             ("Dropout",), ("Dropout",)),
    LayerRow("SpatialDarkness1D", "spatial_dropout", 1, (("rate", REQUIRED),), _DROPOUT,
             ("SpatialDropout1D",), ("SpatialDropout1D",), keyword_only=(("seed", None),)),
    LayerRow("SpatialDarkness2D", "spatial_dropout", 2,
             (("rate", REQUIRED), ("data_format", None)), _DROPOUT,
             ("SpatialDropout2D",), ("SpatialDropout2D",), keyword_only=(("seed", None),)),
    LayerRow("SpatialDarkness3D", "spatial_dropout", 3,
             (("rate", REQUIRED), ("data_format", None)), _DROPOUT,
             ("SpatialDropout3D",), ("SpatialDropout3D",), keyword_only=(("seed", None),)),
    LayerRow("LuKthu", "opaque", None,
             (("function", REQUIRED), ("output_shape", None), ("mask", None),
              ("arguments", None)), "cthulhu.layers.lukthu", ("Lambda",), ("Lambda",)),
    LayerRow("Laldagorth", "lstm", None, _LSTM, "cthulhu.layers.recurrent", ("LSTM",),
             ("LSTM",)),
    LayerRow("TheHydra", "embedding", None, _EMBEDDING, "cthulhu.layers.embeddings",
             ("Embedding",), ("Embedding",)),
    LayerRow("Cropping1D", "cropping", 1, (("cropping", (1, 1)),), _RESHAPING, ("Cropping1D",),
             ("Cropping1D",)),
    LayerRow("Cropping2D", "cropping", 2,
             (("cropping", ((0, 0), (0, 0))), ("data_format", None)), _RESHAPING,
             ("Cropping2D",), ("Cropping2D",)),
    LayerRow("Cropping3D", "cropping", 3,
             (("cropping", ((1, 1), (1, 1), (1, 1))), ("data_format", None)), _RESHAPING,
             ("Cropping3D",), ("Cropping3D",)),
    LayerRow("Flatten", "flatten", None, (("data_format", None),), _CORE, ("Flatten",),
             ("Flatten",)),
    LayerRow("Reshape", "reshape", None, (("target_shape", REQUIRED),), _CORE, ("Reshape",),
             ("Reshape",)),
    LayerRow("Permute", "permute", None, (("dims", REQUIRED),), _CORE, ("Permute",),
             ("Permute",)),
    LayerRow("RepeatVector", "repeat_vector", None, (("n", REQUIRED),), _CORE,
             ("RepeatVector",), ("RepeatVector",)),
    LayerRow("ActivityRegularization", "pointwise", None, (("l1", 0.0), ("l2", 0.0)), _CORE,
             ("ActivityRegularization",), ("ActivityRegularization",)),
    LayerRow("Masking", "pointwise", None, (("mask_value", 0.0),), _CORE, ("Masking",),
             ("Masking",)),
    # The layers Keras 2 added beyond the docs (issue 10), under their Keras 2 names.
    LayerRow("BatchNormalization", "along_axis", None, _BATCH_NORM, _NORMALIZATION,
             ("BatchNormalization",), ("BatchNormalization",)),
    LayerRow("LayerNormalization", "along_axis", None, _LAYER_NORM, _NORMALIZATION,
             ("LayerNormalization",)),
    LayerRow("Concatenate", "concatenate", None, (("axis", -1),), _MERGE, ("Concatenate",)),
    *(_merge_row(name) for name in ("Add", "Subtract", "Multiply", "Average", "Maximum",
                                    "Minimum")),
    LayerRow("Dot", "dot", None, (("axes", REQUIRED), ("normalize", False)), _MERGE, ("Dot",)),
    *_pooling_rows("Max"), *_pooling_rows("Average"),
    *_global_pooling_rows("Max"), *_global_pooling_rows("Average"),
    # LeakyReLU also takes Keras 3's name for alpha.
    LayerRow("LeakyReLU", "pointwise", None, (("alpha", 0.3),), _ADVANCED, ("LeakyReLU",),
             ("LeakyReLU",), keyword_only=(("negative_slope", None),)),
    LayerRow("PReLU", "per_position", None, _PRELU, _ADVANCED, ("PReLU",), ("PReLU",)),
    LayerRow("ELU", "pointwise", None, (("alpha", 1.0),), _ADVANCED, ("ELU",), ("ELU",)),
    LayerRow("ThresholdedReLU", "pointwise", None, (("theta", 1.0),), _ADVANCED,
             ("ThresholdedReLU",), ("ThresholdedReLU",)),
    LayerRow("ReLU", "pointwise", None,
             (("max_value", None), ("negative_slope", 0.0), ("threshold", 0.0)), _ADVANCED,
             ("ReLU",)),
    LayerRow("Softmax", "along_axis", None, (("axis", -1),), _ADVANCED, ("Softmax",)),
    LayerRow("GaussianNoise", "pointwise", None, (("stddev", REQUIRED), ("seed", None)),
             _NOISE, ("GaussianNoise",), ("GaussianNoise",)),
    LayerRow("GaussianDropout", "pointwise", None, (("rate", REQUIRED), ("seed", None)),
             _NOISE, ("GaussianDropout",), ("GaussianDropout",)),
    LayerRow("AlphaDropout", "pointwise", None,
             (("rate", REQUIRED), ("noise_shape", None), ("seed", None)), _NOISE,
             ("AlphaDropout",)),
    # The convolution family beyond the docs (issue 10): tf.keras 2.15's Conv1DTranspose and
    # DepthwiseConv1D, and the 3D depthwise and separable convolutions Keras lacks (their
    # signatures are the 2D layers'; the Keras-style names map to them).
    LayerRow("Cthalpa1DTranspose", "conv_transpose", 1, _conv1d_transpose(), _TRANSPOSE,
             ("Conv1DTranspose",)),
    LayerRow("DepthwiseCthalpa1D", "depthwise_conv", 1, _depthwise(1), _SEPARABLE,
             ("DepthwiseConv1D",)),
    LayerRow("DepthwiseCthalpa3D", "depthwise_conv", 3, _depthwise(3), _SEPARABLE,
             ("DepthwiseConv3D",)),
    LayerRow("SeparableCthalpa3D", "separable_conv", 3, _separable(3), _SEPARABLE,
             ("SeparableConv3D",)),
    # A functional model's input layer: a chain starts after it.
    LayerRow("InputLayer", "pointwise", None, (
        ("input_shape", None), ("batch_size", None), ("batch_input_shape", None),
        ("dtype", None), ("input_tensor", None), ("sparse", False), ("name", None)),
        "cthulhu.engine.input_layer", ("InputLayer",), ("InputLayer",)),
)

#: cthulhu layer name -> :class:`LayerRow`, in the order above.
CATALOG = {row.name: row for row in _ROWS}

# Keras 2 class name (and the cthulhu name itself) -> row.
_BY_NAME = {**{keras: row for row in _ROWS for keras in row.keras}, **CATALOG}


def lookup(name):
    """The row of a cthulhu layer name or a Keras 2 class name; ``None`` if unknown.

    >>> lookup("UpSampling3D").name, lookup("Nyarlathotep") is None
    ('UbboSathla3D', True)
    """
    return _BY_NAME.get(name)


def keras_names():
    """``{Keras 2 class name: cthulhu name}`` for the layers whose names differ."""
    return {keras: row.name for row in _ROWS for keras in row.keras if keras != row.name}
