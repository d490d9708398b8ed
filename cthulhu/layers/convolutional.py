"""Convolution layers: ``Cthalpa1D``, ``Cthalpa2D``, ``Cthalpa3D`` (Keras ``ConvND``).

One class, :class:`Cthalpa`, holds the logic for every rank; the public classes
only fix the rank and spell out the documented signature (argument names, order
and defaults exactly as in the cthulhu docs). The kernel is stored in the Keras
layout ``(*kernel_size, in_channels, filters)`` whatever the ``data_format``.
"""

from cthulhu import ops, shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.layers._common import (
    WeightOptions,
    activation_config,
    activity_config,
    constructor_arguments,
    fusable_name,
    get_activation,
)
from cthulhu.names import register_layer

__all__ = ["Cthalpa", "Cthalpa1D", "Cthalpa2D", "Cthalpa3D"]


class Cthalpa(Layer):
    """N-D convolution (cross-correlation), the shared base of ``Cthalpa1D/2D/3D``.

    Parameters
    ----------
    rank : int
        Number of spatial axes (1, 2 or 3).
    filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
    use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
    bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint
        As documented for ``Cthalpa2D``.
    """

    requires_float_input = True
    # The shape kind of the layer: its padding rule ('causal' only for Cthalpa1D) lives there.
    shape_kind = "conv"

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self.expected_rank = rank + 2
        self.filters = _args.positive_int(filters, "filters", self)
        self._set_window(kernel_size, strides, padding, data_format, dilation_rate)
        self.activation = get_activation(activation, self)
        self.use_bias = _args.boolean(use_bias, "use_bias", self)
        self.kernel_options = WeightOptions("kernel", kernel_initializer, kernel_regularizer,
                                            kernel_constraint, self)
        self.bias_options = WeightOptions("bias", bias_initializer, bias_regularizer,
                                          bias_constraint, self)

    def _set_window(self, kernel_size, strides, padding, data_format, dilation_rate):
        """Normalise the window arguments through ``cthulhu.shapes`` (errors name this layer)."""
        rank = self.rank
        self.kernel_size = shapes.as_tuple(kernel_size, rank, "kernel_size", self)
        self.strides = shapes.as_tuple(strides, rank, "strides", self)
        self.dilation_rate = shapes.as_tuple(dilation_rate, rank, "dilation_rate", self)
        shapes.check_conv_args(self.kernel_size, self.strides, self.dilation_rate, self)
        kind = shapes.get_kind(self.shape_kind)
        self.padding = kind.normalize_padding(padding, rank, self, self.kernel_size)
        self.data_format = _args.data_format(data_format, self)

    # ------------------------------------------------------------------ shapes
    @property
    def channel_axis(self):
        return shapes.channels_axis(self.rank + 2, self.data_format)

    def _input_channels(self, input_shape):
        channels = input_shape[self.channel_axis]
        if not isinstance(channels, int):
            raise ValueError(f"{self._owner()}: the channel dimension of the inputs must be "
                             f"known to build the layer, got input shape {tuple(input_shape)}")
        return channels

    def compute_output_shape(self, input_shape):
        return shapes.conv(input_shape, self.filters, self.kernel_size, self.strides,
                           self.padding, self.dilation_rate, self.data_format, owner=self)

    def shape_spec(self):
        return {"kind": "conv", "rank": self.rank, "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate,
                "data_format": self.data_format}

    # ----------------------------------------------------------------- weights
    # The subclasses (transposed, separable, depthwise) change only the kernels they
    # add, the bias length and the op they call: the hooks below.
    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self._add_kernels(channels)
        if self.use_bias:
            self.bias_options.add_to(self, "bias", (self._output_channels(channels),))
        self.expected_channels = {self.channel_axis: channels}
        self.built = True

    def _add_kernels(self, channels):
        self.kernel_options.add_to(self, "kernel", (*self.kernel_size, channels, self.filters))

    def _output_channels(self, channels):
        return self.filters

    # -------------------------------------------------------------------- call
    def call(self, x):
        return self._call_padded(x, None)

    # A block of a volume runs with the padding its block plan gives (Layer.call_with_pads).
    explicit_pads = True

    def _call_padded(self, x, pads, epilogue=None):
        if epilogue is not None:   # a folded batch norm and activation (call_with_epilogue)
            return self._convolve(x, self._bias(x), epilogue.activation, pads,
                                  scale=epilogue.scale, shift=epilogue.shift,
                                  alpha=epilogue.alpha)
        fused = fusable_name(self.activation, ops.FUSABLE_ACTIVATIONS)
        if pads is None:           # the layer's own call: its op's plan (Layer.planned)
            y = self.planned(x, fused, self._plan, x, fused)(x)
        else:
            y = self._convolve(x, self._bias(x), fused, pads)
        return y if fused is not None else self.activation(y)

    def _op_arguments(self, x, pads):
        """``(op, weights, window arguments)`` of this layer's convolution of ``x``:
        ``pads`` (``"valid"`` or explicit pairs, see ``call_with_pads``) replaces the
        layer's own ``padding`` when given."""
        return ops.CONV, (self.weight_as(x, "kernel"),), {
            "strides": self.strides, "padding": self.padding if pads is None else pads,
            "dilation": self.dilation_rate, "data_format": self.data_format}

    def _convolve(self, x, bias, activation, pads=None, **epilogue):
        """This layer's op on ``x``, passing the bias, the fusable activation and any other
        epilogue part (``scale``, ``shift``, ``alpha``) on."""
        op, weights, args = self._op_arguments(x, pads)
        return op(x, *weights, **args, bias=bias, activation=activation, **epilogue)

    def _plan(self, x, activation):
        """The op's plan (``ops.CONV.plan``...) for ``x``'s kind, with the layer's bias."""
        op, weights, args = self._op_arguments(x, None)
        return op.plan(x, *weights, **args, bias=self._bias(x), activation=activation)

    def _bias(self, x):
        return self.weight_as(x, "bias") if self.use_bias else None

    # A model folds a following batch normalisation and activation into the op
    # (cthulhu.engine.fusion) when this layer's own activation is linear.
    def epilogue_axis(self, ndim):
        if fusable_name(self.activation, ops.FUSABLE_ACTIVATIONS) != "linear":
            return None
        return self.channel_axis % ndim

    def call_with_epilogue(self, x, epilogue):
        return self._call_padded(x, None, epilogue)

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activation_config(self.activation),
            "use_bias": self.use_bias,
            **self.kernel_options.config(),
            **self.bias_options.config(),
            "activity_regularizer": activity_config(self),
        }
        return {**super().get_config(), **config}


@register_layer
class Cthalpa1D(Cthalpa):
    """1D convolution (temporal convolution); see ``docs/layers.md``.

    Input ``(batch, steps, channels)`` (or ``(batch, channels, steps)`` with
    ``data_format='channels_first'``); ``padding='causal'`` pads
    ``dilation_rate * (kernel_size - 1)`` zeros before the sequence.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Cthalpa1D
    >>> layer = Cthalpa1D(4, 3, padding="causal")
    >>> layer(xp.ones((2, 10, 8))).shape
    (2, 10, 4)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, **constructor_arguments(locals()))


@register_layer
class Cthalpa2D(Cthalpa):
    """2D convolution (spatial convolution over images); see ``docs/layers.md``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Cthalpa2D
    >>> layer = Cthalpa2D(8, (3, 3), strides=2, padding="same")
    >>> layer(xp.ones((1, 9, 9, 3))).shape
    (1, 5, 5, 8)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, **constructor_arguments(locals()))


@register_layer
class Cthalpa3D(Cthalpa):
    """3D convolution (spatial convolution over volumes); see ``docs/layers.md``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Cthalpa3D
    >>> layer = Cthalpa3D(2, 3, data_format="channels_first")
    >>> layer(xp.ones((1, 1, 5, 6, 7))).shape
    (1, 2, 3, 4, 5)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(3, **constructor_arguments(locals()))
