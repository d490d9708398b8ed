"""Transposed convolutions: ``Cthalpa1DTranspose``, ``Cthalpa2DTranspose``, ``Cthalpa3DTranspose``.

The semantics are Keras 2's: the gradient of the matching forward convolution,
output lengths from ``deconv_length`` (``cthulhu.shapes.conv_transpose``), the
kernel stored as ``(*kernel_size, filters, in_channels)``.
"""

from cthulhu import ops, shapes
from cthulhu.layers._common import constructor_arguments
from cthulhu.layers.convolutional import Cthalpa
from cthulhu.names import register_layer

__all__ = ["CthalpaTranspose", "Cthalpa1DTranspose", "Cthalpa2DTranspose", "Cthalpa3DTranspose"]


class CthalpaTranspose(Cthalpa):
    """Shared base of the transposed convolutions (rank 1, 2 or 3)."""

    shape_kind = "conv_transpose"

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 output_padding=None, data_format=None, dilation_rate=1, **kwargs):
        super().__init__(rank, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, **kwargs)
        # Keras 2 requires output_padding < strides on every axis.
        self.output_padding = shapes.normalize_output_padding(output_padding, self.strides, self)

    def compute_output_shape(self, input_shape):
        return shapes.conv_transpose(input_shape, self.filters, self.kernel_size, self.strides,
                                     self.padding, self.output_padding, self.dilation_rate,
                                     self.data_format, owner=self)

    def shape_spec(self):
        return {**super().shape_spec(), "kind": "conv_transpose",
                "output_padding": self.output_padding}

    def _add_kernels(self, channels):
        # Keras stores a transposed kernel with filters before in_channels.
        self.kernel_options.add_to(self, "kernel", (*self.kernel_size, self.filters, channels))

    def _op_arguments(self, x, pads):
        # explicit pads fix the output length: no output_padding then
        own = pads is None
        return ops.CONV_TRANSPOSE, (self.weight_as(x, "kernel"),), {
            "strides": self.strides, "padding": self.padding if own else pads,
            "output_padding": self.output_padding if own else None,
            "dilation": self.dilation_rate, "data_format": self.data_format}

    def get_config(self):
        config = super().get_config()
        config["output_padding"] = self.output_padding
        return config


@register_layer
class Cthalpa1DTranspose(CthalpaTranspose):
    """1D transposed convolution (tf.keras 2.15 ``Conv1DTranspose``); see ``docs/layers.md``.

    As in tf.keras 2.15, ``data_format=None`` is the configured ``image_data_format``
    (``Cthalpa1D`` defaults to ``'channels_last'``), and ``padding`` is ``'valid'`` or
    ``'same'`` (no ``'causal'``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Cthalpa1DTranspose
    >>> layer = Cthalpa1DTranspose(4, 3, strides=2)
    >>> layer(xp.ones((1, 5, 8))).shape
    (1, 11, 4)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, **constructor_arguments(locals()))


@register_layer
class Cthalpa2DTranspose(CthalpaTranspose):
    """2D transposed convolution (deconvolution); see ``docs/layers.md``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Cthalpa2DTranspose
    >>> layer = Cthalpa2DTranspose(4, 3, strides=2)
    >>> layer(xp.ones((1, 5, 5, 8))).shape
    (1, 11, 11, 4)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, **constructor_arguments(locals()))


@register_layer
class Cthalpa3DTranspose(CthalpaTranspose):
    """3D transposed convolution (deconvolution); see ``docs/layers.md``.

    The documented signature has no ``dilation_rate`` although its argument
    list describes one; cthulhu keeps the documented positional signature and
    accepts ``dilation_rate`` as an extra keyword-only argument.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Cthalpa3DTranspose
    >>> layer = Cthalpa3DTranspose(2, 2, strides=2, padding="same")
    >>> layer(xp.ones((1, 3, 3, 3, 1))).shape
    (1, 6, 6, 6, 2)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 output_padding=None, data_format=None, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, *, dilation_rate=(1, 1, 1),
                 **kwargs):
        super().__init__(3, **constructor_arguments(locals()))
