"""Depthwise and depthwise-separable convolutions.

``DepthwiseCthalpa1D/2D/3D`` convolve each input channel with its own
``depth_multiplier`` filters (output channel ``c * depth_multiplier + m``);
``SeparableCthalpa1D/2D/3D`` follow that with a 1x1 "pointwise" convolution mixing
the channels, as Keras 2 does. Weights keep the Keras layouts of API.md. Keras 2 has
``DepthwiseConv1D`` (tf.keras 2.15) and ``DepthwiseConv2D``, ``SeparableConv1D/2D``;
the 3D layers are cthulhu's, with the signatures of their 2D siblings.
"""

from cthulhu import ops, shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.layers._common import (
    WeightOptions,
    activation_config,
    activity_config,
    constructor_arguments,
    grouped_configs,
)
from cthulhu.layers.convolutional import Cthalpa
from cthulhu.names import register_layer

__all__ = ["SeparableCthalpa", "SeparableCthalpa1D", "SeparableCthalpa2D", "SeparableCthalpa3D",
           "DepthwiseCthalpa", "DepthwiseCthalpa1D", "DepthwiseCthalpa2D", "DepthwiseCthalpa3D"]

# A plain convolution's kernel arguments: these layers have depthwise/pointwise
# kernels instead, so the base class must not silently accept (and ignore) them.
_KERNEL_KEYS = ("kernel_initializer", "kernel_regularizer", "kernel_constraint")


def _refuse_kernel_keys(cls_name, kwargs):
    bad = sorted(k for k in _KERNEL_KEYS if k in kwargs)
    if bad:
        raise TypeError(f"{cls_name}: unexpected keyword argument(s) {bad}; use the "
                        "depthwise_*/pointwise_* arguments")


class SeparableCthalpa(Cthalpa):
    """Shared base of ``SeparableCthalpa1D/2D/3D``."""

    shape_kind = "separable_conv"

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        _refuse_kernel_keys(type(self).__name__, kwargs)
        super().__init__(rank, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         bias_constraint=bias_constraint, **kwargs)
        del self.kernel_options  # a separable layer has two kernels instead
        self.depth_multiplier = _args.positive_int(depth_multiplier, "depth_multiplier", self)
        self.depthwise_options = WeightOptions("depthwise", depthwise_initializer,
                                               depthwise_regularizer, depthwise_constraint, self)
        self.pointwise_options = WeightOptions("pointwise", pointwise_initializer,
                                               pointwise_regularizer, pointwise_constraint, self)

    def compute_output_shape(self, input_shape):
        return shapes.separable_conv(input_shape, self.filters, self.kernel_size, self.strides,
                                     self.padding, self.depth_multiplier, self.dilation_rate,
                                     self.data_format, owner=self)

    def shape_spec(self):
        return {**super().shape_spec(), "kind": "separable_conv",
                "depth_multiplier": self.depth_multiplier}

    def _add_kernels(self, channels):
        mid = channels * self.depth_multiplier
        self.depthwise_options.add_to(self, "depthwise_kernel",
                                      (*self.kernel_size, channels, self.depth_multiplier))
        self.pointwise_options.add_to(self, "pointwise_kernel",
                                      ((1,) * self.rank + (mid, self.filters)))

    def _op_arguments(self, x, pads):
        return ops.SEPARABLE_CONV, (self.weight_as(x, "depthwise_kernel"),
                                    self.weight_as(x, "pointwise_kernel")), {
            "strides": self.strides, "padding": self.padding if pads is None else pads,
            "dilation": self.dilation_rate, "data_format": self.data_format}

    def get_config(self):
        initializers, regularizers, constraints = grouped_configs(
            self.depthwise_options, self.pointwise_options, self.bias_options)
        config = Layer.get_config(self)
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "depth_multiplier": self.depth_multiplier,
            "activation": activation_config(self.activation),
            "use_bias": self.use_bias,
            **initializers,
            **regularizers,
            "activity_regularizer": activity_config(self),
            **constraints,
        })
        return config


@register_layer
class SeparableCthalpa1D(SeparableCthalpa):
    """Depthwise separable 1D convolution; see ``docs/layers.md``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import SeparableCthalpa1D
    >>> SeparableCthalpa1D(8, 3, depth_multiplier=2)(xp.ones((1, 10, 4))).shape
    (1, 8, 8)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, depth_multiplier=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, pointwise_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(1, **constructor_arguments(locals()))


@register_layer
class SeparableCthalpa2D(SeparableCthalpa):
    """Depthwise separable 2D convolution; see ``docs/layers.md``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import SeparableCthalpa2D
    >>> SeparableCthalpa2D(8, 3, padding="same")(xp.ones((1, 6, 6, 3))).shape
    (1, 6, 6, 8)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(2, **constructor_arguments(locals()))


@register_layer
class SeparableCthalpa3D(SeparableCthalpa):
    """Depthwise separable 3D convolution (not in Keras; the signature of
    ``SeparableCthalpa2D``); see ``docs/layers.md``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import SeparableCthalpa3D
    >>> SeparableCthalpa3D(8, 3, padding="same")(xp.ones((1, 4, 5, 6, 3))).shape
    (1, 4, 5, 6, 8)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1, 1), depth_multiplier=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, pointwise_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(3, **constructor_arguments(locals()))


class DepthwiseCthalpa(Cthalpa):
    """Shared base of ``DepthwiseCthalpa1D/2D/3D``: each input channel gets
    ``depth_multiplier`` filters of its own."""

    shape_kind = "depthwise_conv"

    def __init__(self, rank, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        _refuse_kernel_keys(type(self).__name__, kwargs)
        # filters=1 is a placeholder: the output has in_channels * depth_multiplier channels.
        super().__init__(rank, 1, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         bias_constraint=bias_constraint, **kwargs)
        del self.kernel_options, self.filters
        self.depth_multiplier = _args.positive_int(depth_multiplier, "depth_multiplier", self)
        self.depthwise_options = WeightOptions("depthwise", depthwise_initializer,
                                               depthwise_regularizer, depthwise_constraint, self)

    def compute_output_shape(self, input_shape):
        return shapes.depthwise_conv(input_shape, self.kernel_size, self.strides, self.padding,
                                     self.depth_multiplier, self.dilation_rate, self.data_format,
                                     owner=self)

    def shape_spec(self):
        return {"kind": "depthwise_conv", "rank": self.rank, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding,
                "dilation_rate": self.dilation_rate, "data_format": self.data_format,
                "depth_multiplier": self.depth_multiplier}

    def _add_kernels(self, channels):
        self.depthwise_options.add_to(self, "depthwise_kernel",
                                      (*self.kernel_size, channels, self.depth_multiplier))

    def _output_channels(self, channels):
        return channels * self.depth_multiplier

    def _op_arguments(self, x, pads):
        return ops.DEPTHWISE_CONV, (self.weight_as(x, "depthwise_kernel"),), {
            "strides": self.strides, "padding": self.padding if pads is None else pads,
            "dilation": self.dilation_rate, "data_format": self.data_format}

    def get_config(self):
        initializers, regularizers, constraints = grouped_configs(self.depthwise_options,
                                                                  self.bias_options)
        return {
            **Layer.get_config(self),  # name, trainable, dtype, ...; not the conv keys
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "depth_multiplier": self.depth_multiplier,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activation_config(self.activation),
            "use_bias": self.use_bias,
            **initializers,
            **regularizers,
            "activity_regularizer": activity_config(self),
            **constraints,
        }


@register_layer
class DepthwiseCthalpa1D(DepthwiseCthalpa):
    """Depthwise 1D convolution (tf.keras 2.15 ``DepthwiseConv1D``); see ``docs/layers.md``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import DepthwiseCthalpa1D
    >>> DepthwiseCthalpa1D(3, depth_multiplier=2)(xp.ones((1, 7, 4))).shape
    (1, 5, 8)
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, **constructor_arguments(locals()))


@register_layer
class DepthwiseCthalpa2D(DepthwiseCthalpa):
    """Depthwise 2D convolution: each input channel gets ``depth_multiplier`` filters.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import DepthwiseCthalpa2D
    >>> DepthwiseCthalpa2D(3, depth_multiplier=2)(xp.ones((1, 5, 5, 4))).shape
    (1, 3, 3, 8)
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, **constructor_arguments(locals()))


@register_layer
class DepthwiseCthalpa3D(DepthwiseCthalpa):
    """Depthwise 3D convolution (not in Keras; the signature of ``DepthwiseCthalpa2D``);
    see ``docs/layers.md``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import DepthwiseCthalpa3D
    >>> DepthwiseCthalpa3D(3, padding="same", data_format="channels_first")(
    ...     xp.ones((1, 2, 4, 5, 6))).shape
    (1, 2, 4, 5, 6)
    """

    def __init__(self, kernel_size, strides=(1, 1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(3, **constructor_arguments(locals()))
