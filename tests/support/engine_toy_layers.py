"""Small layers written for the engine tests only (the real layers live in cthulhu.layers).

They are deliberately plain so that expected values in the tests can be
computed with NumPy formulas written in the tests themselves.
"""

import array_api_compat as aac

from cthulhu import activations
from cthulhu.engine.base_layer import Layer
from cthulhu.names import register_layer


@register_layer
class ToyDense(Layer):
    """``activation(x @ kernel + bias)`` over the last axis."""

    def __init__(self, units, activation=None, kernel_initializer="glorot_uniform",
                 kernel_regularizer=None, kernel_constraint=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.kernel_initializer = kernel_initializer
        self.kernel_regularizer = kernel_regularizer
        self.kernel_constraint = kernel_constraint
        self.use_bias = use_bias

    min_rank = 2

    def build(self, input_shape):
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight("bias", (self.units,), "zeros")
        self.expected_channels = {-1: input_shape[-1]}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def call(self, x):
        xp = aac.array_namespace(x)
        y = xp.matmul(x, self.weight_as(x, "kernel"))
        if self.use_bias:
            y = y + self.weight_as(x, "bias")
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation),
                "kernel_initializer": self.kernel_initializer, "use_bias": self.use_bias}


@register_layer
class ToyMasking(Layer):
    """Masks timesteps whose features all equal ``mask_value``."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def compute_mask(self, x, mask=None):
        xp = aac.array_namespace(x)
        return xp.any(x != self.mask_value, axis=-1)

    def call(self, x):
        xp = aac.array_namespace(x)
        keep = xp.astype(xp.any(x != self.mask_value, axis=-1), x.dtype)
        return x * keep[..., None]

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


@register_layer
class ToyMaskedMean(Layer):
    """Mean over the time axis of the unmasked steps (uses the mask like an RNN would)."""

    supports_masking = True
    expected_rank = 3

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def call(self, x, mask=None):
        xp = aac.array_namespace(x)
        if mask is None:
            return xp.mean(x, axis=1)
        w = xp.astype(mask, x.dtype)[..., None]
        return xp.sum(x * w, axis=1) / xp.sum(w, axis=1)

    def compute_mask(self, x, mask=None):
        return None


@register_layer
class ToyScale(Layer):
    """Multiplies by a constant; does not support masking."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x, training=False):
        return x * (self.factor if not training else -self.factor)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@register_layer
class ToyAdd(Layer):
    """Sum of a list of inputs."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def call(self, x):
        out = x[0]
        for t in x[1:]:
            out = out + t
        return out


@register_layer
class ToySplit(Layer):
    """Two outputs: the first half and the second half of the last axis."""

    def compute_output_shape(self, input_shape):
        half = input_shape[-1] // 2
        return [tuple(input_shape[:-1]) + (half,), tuple(input_shape[:-1]) + (input_shape[-1] - half,)]

    def call(self, x):
        half = x.shape[-1] // 2
        return [x[..., :half], x[..., half:]]
