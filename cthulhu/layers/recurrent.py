"""``Laldagorth``: the Keras 2 long short-term memory layer (``LSTM``).

Weights and gate order are exactly Keras 2's, so trained Keras weights load
unchanged: ``kernel (input_dim, 4*units)``, ``recurrent_kernel (units, 4*units)``,
``bias (4*units,)``, each split into the gates ``i, f, c, o`` in that order::

    z = x_t @ kernel + h @ recurrent_kernel + bias
    i, f, o = recurrent_activation(z_i, z_f, z_o);  g = activation(z_c)
    c = f * c + i * g;  h = o * activation(c)

A mask (from ``Masking`` or ``TheHydra(mask_zero=True)``) makes the layer skip
the masked timesteps: the state is carried over unchanged and the output at
that step repeats the previous one.
"""

import numbers

from cthulhu import shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.layers._common import (
    WeightOptions,
    activation_config,
    activity_config,
    device_of,
    get_activation,
    grouped_configs,
    namespace,
)
from cthulhu.names import register_layer
from cthulhu.ops import matmul
from cthulhu.ops._dispatch import zeros_for
from cthulhu.ops.random import dropout_mask

__all__ = ["Laldagorth"]


@register_layer
class Laldagorth(Layer):
    """Long short-term memory (Keras 2 ``LSTM``), with the Keras 2.2 signature and defaults.

    Parameters
    ----------
    units : int
        Dimensionality of the output space.
    activation, recurrent_activation
        ``tanh`` and ``hard_sigmoid`` by default (Keras 2.2).
    unit_forget_bias : bool
        Add 1 to the forget-gate bias at initialisation (Jozefowicz et al., 2015).
    dropout, recurrent_dropout : float
        Fractions of the input / recurrent units dropped during training (one
        mask per gate, constant over time, as Keras 2 does); no effect at inference.
    implementation : int
        1 or 2; accepted for compatibility, the numbers are identical.
    return_sequences : bool
        Return every timestep's output ``(batch, timesteps, units)`` instead of the last.
    return_state : bool
        Also return the final states: ``[output, h, c]``.
    go_backwards : bool
        Process the sequence in reverse (the returned sequence is in processing order).
    stateful : bool
        Keep the final states of a batch as the initial states of the next call
        (``reset_states()`` clears them).
    unroll : bool
        Accepted for compatibility; the loop is always a Python loop over time.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Laldagorth
    >>> Laldagorth(8)(xp.ones((2, 5, 3))).shape
    (2, 8)
    >>> out, h, c = Laldagorth(8, return_sequences=True, return_state=True)(xp.ones((2, 5, 3)))
    >>> out.shape, h.shape, c.shape
    ((2, 5, 8), (2, 8), (2, 8))
    """

    supports_masking = True
    requires_float_input = True
    expected_rank = 3

    def __init__(self, units, activation="tanh", recurrent_activation="hard_sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, implementation=1, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = _args.positive_int(units, "units", self)
        self.activation = get_activation(activation, self)
        self.recurrent_activation = get_activation(recurrent_activation, self,
                                                   "recurrent_activation")
        self.use_bias = _args.boolean(use_bias, "use_bias", self)
        self.unit_forget_bias = _args.boolean(unit_forget_bias, "unit_forget_bias", self)
        self.kernel_options = WeightOptions("kernel", kernel_initializer, kernel_regularizer,
                                            kernel_constraint, self)
        self.recurrent_options = WeightOptions("recurrent", recurrent_initializer,
                                               recurrent_regularizer, recurrent_constraint, self)
        self.bias_options = WeightOptions("bias", bias_initializer, bias_regularizer,
                                          bias_constraint, self)
        self.dropout = _args.rate(dropout, "dropout", self)
        self.recurrent_dropout = _args.rate(recurrent_dropout, "recurrent_dropout", self)
        if (isinstance(implementation, bool) or not isinstance(implementation, numbers.Integral)
                or implementation not in (1, 2)):
            raise _args.layer_error(self, f"implementation must be 1 or 2, got {implementation!r}")
        self.implementation = int(implementation)
        self.return_sequences = _args.boolean(return_sequences, "return_sequences", self)
        self.return_state = _args.boolean(return_state, "return_state", self)
        self.go_backwards = _args.boolean(go_backwards, "go_backwards", self)
        self.stateful = _args.boolean(stateful, "stateful", self)
        self.unroll = _args.boolean(unroll, "unroll", self)
        self.states = None

    # ------------------------------------------------------------------ shapes
    def compute_output_shape(self, input_shape):
        return shapes.lstm(input_shape, self.units, self.return_sequences, self.return_state,
                           owner=self)

    def compute_mask(self, x, mask=None):
        out = mask if (self.return_sequences and mask is not None) else None
        return [out, None, None] if self.return_state else out

    # ----------------------------------------------------------------- weights
    def build(self, input_shape):
        input_dim = input_shape[-1]
        if not isinstance(input_dim, int):
            raise ValueError(f"{self._owner()}: the feature axis of the input must be known to "
                             f"build the layer, got input shape {tuple(input_shape)}")
        u = self.units
        self.kernel_options.add_to(self, "kernel", (input_dim, 4 * u))
        self.recurrent_options.add_to(self, "recurrent_kernel", (u, 4 * u))
        if self.use_bias:
            bias = self.bias_options.add_to(self, "bias", (4 * u,))
            if self.unit_forget_bias:
                bias[u:2 * u] = 1.0  # Keras 2: initializer for i, c, o; ones for f
        self.expected_channels = {-1: input_dim}
        self.built = True

    def reset_states(self):
        """Forget the states a ``stateful`` layer carries between calls."""
        self.states = None

    # -------------------------------------------------------------------- call
    def call(self, x, training=False, mask=None):
        xp = namespace(x)
        batch, steps = x.shape[0], x.shape[1]
        u = self.units
        kernel = self.weight_as(x, "kernel")
        recurrent = self.weight_as(x, "recurrent_kernel")
        bias = self.weight_as(x, "bias") if self.use_bias else None
        in_masks, rec_masks = self._dropout_masks(x, training)
        if in_masks is None:
            projected = matmul(x, kernel, bias=bias)  # every timestep at once: (batch, steps, 4u)
        else:
            projected = xp.concat([matmul(x * in_masks[g], kernel[:, g * u:(g + 1) * u],
                                          bias=None if bias is None else bias[g * u:(g + 1) * u])
                                   for g in range(4)], axis=-1)
        if mask is not None:
            mask = xp.astype(mask, xp.bool) if mask.dtype != xp.bool else mask
        h, c = self._initial_states(x, batch)
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        for t in order:
            if rec_masks is None:
                z = projected[:, t, :] + matmul(h, recurrent)
            else:
                z = projected[:, t, :] + xp.concat(
                    [matmul(h * rec_masks[g], recurrent[:, g * u:(g + 1) * u])
                     for g in range(4)], axis=-1)
            i = self.recurrent_activation(z[:, :u])
            f = self.recurrent_activation(z[:, u:2 * u])
            g = self.activation(z[:, 2 * u:3 * u])
            o = self.recurrent_activation(z[:, 3 * u:])
            c_new = f * c + i * g
            h_new = o * self.activation(c_new)
            if mask is None:
                h, c = h_new, c_new
            else:
                keep = xp.expand_dims(mask[:, t], axis=1)  # masked step: keep the old state
                h = xp.where(keep, h_new, h)
                c = xp.where(keep, c_new, c)
            if self.return_sequences:
                outputs.append(h)
        if self.stateful:
            self.states = (h, c)
        if not self.return_sequences:
            out = h
        elif outputs:
            out = xp.stack(outputs, axis=1)
        else:  # no timesteps: an empty sequence (the states stay the initial ones)
            out = zeros_for(x, (batch, 0, u))
        return [out, h, c] if self.return_state else out

    def _initial_states(self, x, batch):
        xp = namespace(x)
        if self.stateful and self.states is not None:
            h, c = self.states
            if h.shape[0] != batch:
                raise ValueError(f"{self._owner()}: a stateful layer needs a fixed batch size; "
                                 f"it holds states for {h.shape[0]} samples, got {batch}")
            return h, c
        zeros = xp.zeros((batch, self.units), dtype=x.dtype, device=device_of(x))
        return zeros, zeros

    def _dropout_masks(self, x, training):
        """Keras 2 (implementation 1): one mask per gate, fixed over the timesteps."""
        if not training:
            return None, None
        xp = namespace(x)
        batch, features = x.shape[0], x.shape[-1]
        in_masks = rec_masks = None
        if self.dropout > 0:
            m = dropout_mask(x, (4, batch, features), self.dropout)
            in_masks = [xp.expand_dims(m[g, ...], axis=1) for g in range(4)]
        if self.recurrent_dropout > 0:
            m = dropout_mask(x, (4, batch, self.units), self.recurrent_dropout)
            rec_masks = [m[g, ...] for g in range(4)]
        return in_masks, rec_masks

    # ------------------------------------------------------------------ config
    def get_config(self):
        initializers, regularizers, constraints = grouped_configs(
            self.kernel_options, self.recurrent_options, self.bias_options)
        return {**super().get_config(), "units": self.units,
                "activation": activation_config(self.activation),
                "recurrent_activation": activation_config(self.recurrent_activation),
                "use_bias": self.use_bias,
                **initializers,
                "unit_forget_bias": self.unit_forget_bias,
                **regularizers,
                "activity_regularizer": activity_config(self),
                **constraints,
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "implementation": self.implementation,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful,
                "unroll": self.unroll}
