"""Core layers: ``Daoloth`` (dense), ``Azatoth`` (activation), ``Flatten``, ``Reshape``,
``Permute``, ``RepeatVector``, ``ActivityRegularization`` and ``Masking``.

``LuKthu`` lives in :mod:`cthulhu.layers.lukthu`, the dropout family in
:mod:`cthulhu.layers.dropout`.
"""

from cthulhu import activations, ops, regularizers, shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.layers._common import (
    WeightOptions,
    activation_config,
    activity_config,
    device_of,
    fusable_name,
    get_activation,
    grouped_configs,
    namespace,
)
from cthulhu.names import register_layer
from cthulhu.ops._dispatch import zeros_for

__all__ = ["Daoloth", "Azatoth", "Flatten", "Reshape", "Permute", "RepeatVector",
           "ActivityRegularization", "Masking"]


@register_layer
class Daoloth(Layer):
    """Densely-connected layer: ``activation(x @ kernel + bias)`` on the last axis.

    Any input of rank >= 2 is accepted: ``(batch, ..., input_dim)`` becomes
    ``(batch, ..., units)``, the kernel ``(input_dim, units)`` acting on the last
    axis (as the docs' input and output shapes say; nothing is flattened).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Daoloth
    >>> Daoloth(32)(xp.ones((4, 5, 16))).shape
    (4, 5, 32)
    """

    supports_masking = True
    requires_float_input = True
    min_rank = 2

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = _args.positive_int(units, "units", self)
        self.activation = get_activation(activation, self)
        self.use_bias = _args.boolean(use_bias, "use_bias", self)
        self.kernel_options = WeightOptions("kernel", kernel_initializer, kernel_regularizer,
                                            kernel_constraint, self)
        self.bias_options = WeightOptions("bias", bias_initializer, bias_regularizer,
                                          bias_constraint, self)

    def compute_output_shape(self, input_shape):
        return shapes.dense(input_shape, self.units, owner=self)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if not isinstance(input_dim, int):
            raise ValueError(f"{self._owner()}: the last axis of the input must be known to "
                             f"build the layer, got input shape {tuple(input_shape)}")
        self.kernel_options.add_to(self, "kernel", (input_dim, self.units))
        if self.use_bias:
            self.bias_options.add_to(self, "bias", (self.units,))
        self.expected_channels = {-1: input_dim}
        self.built = True

    def call(self, x):
        fused = fusable_name(self.activation, ops.FUSABLE_ACTIVATIONS)
        y = self._matmul(x, fused)(x)
        return y if fused is not None else self.activation(y)

    def _matmul(self, x, fused):
        """``ops.MATMUL.plan`` for ``x``'s kind with this layer's weights and ``fused``
        activation, kept by :meth:`~cthulhu.engine.base_layer.Layer.planned`: a batch-1
        call, a few microseconds in all, pays one comparison instead of two weight
        lookups and the op's argument checks."""
        return self.planned(x, fused, self._plan, x, fused)

    def _plan(self, x, fused):
        bias = self.weight_as(x, "bias") if self.use_bias else None
        return ops.MATMUL.plan(x, self.weight_as(x, "kernel"), bias=bias, activation=fused)

    # A following batch normalisation over the units folds into the matmul's epilogue
    # (cthulhu.engine.fusion) when this layer's own activation is linear.
    def epilogue_axis(self, ndim):
        if fusable_name(self.activation, ops.FUSABLE_ACTIVATIONS) != "linear":
            return None
        return ndim - 1

    def call_with_epilogue(self, x, epilogue):
        bias = self.weight_as(x, "bias") if self.use_bias else None
        return ops.matmul(x, self.weight_as(x, "kernel"), bias=bias,
                          activation=epilogue.activation, scale=epilogue.scale,
                          shift=epilogue.shift, alpha=epilogue.alpha)

    def get_config(self):
        initializers, regularizers, constraints = grouped_configs(self.kernel_options,
                                                                  self.bias_options)
        return {**super().get_config(), "units": self.units,
                "activation": activation_config(self.activation), "use_bias": self.use_bias,
                **initializers, **regularizers, **constraints,
                "activity_regularizer": activity_config(self)}


@register_layer
class Azatoth(Layer):
    """Apply an activation function (a name from ``cthulhu.activations`` or a callable).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Azatoth
    >>> Azatoth("relu")(xp.asarray([[-1.0, 2.0]]))
    Array([[0., 2.]], dtype=array_api_strict.float64)
    """

    supports_masking = True
    requires_float_input = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = get_activation(activation, self)

    def compute_output_shape(self, input_shape):
        return shapes.same_shape(input_shape, owner=self)

    def shape_spec(self):
        return {"kind": "pointwise"}

    def call(self, x):
        try:
            return self.activation(x)
        except (ValueError, TypeError) as exc:  # e.g. softmax on a 1D input: name this layer
            raise type(exc)(f"{self._owner()}: {exc}") from exc

    def epilogue_activation(self):
        # the piecewise-linear built-ins, which an op's epilogue computes exactly
        # (cthulhu.engine.fusion); a custom function named 'relu' is not one of them
        name = activations.name_of(self.activation)
        return (name, 0.0) if name in ("relu", "relu6") else None

    def get_config(self):
        return {**super().get_config(), "activation": activation_config(self.activation)}


@register_layer
class Flatten(Layer):
    """Flatten every axis but the batch axis.

    With ``data_format='channels_first'`` the channels are moved last first, as
    Keras 2 does, so a model keeps its ``Daoloth`` weights when switching format.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Flatten
    >>> Flatten()(xp.ones((2, 3, 4, 5))).shape
    (2, 60)
    """

    min_rank = 1

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _args.data_format(data_format, self)

    def compute_output_shape(self, input_shape):
        return shapes.flatten(input_shape, self.data_format, owner=self)

    def call(self, x):
        xp = namespace(x)
        if shapes.is_channels_first(self.data_format) and x.ndim >= 3:
            x = xp.permute_dims(x, shapes.to_channels_last(x.ndim, self.data_format))
        size = self.compute_output_shape(tuple(x.shape))[1]
        return _reshape(xp, x, (x.shape[0], size))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@register_layer
class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be ``-1``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Reshape
    >>> Reshape((-1, 2, 2))(xp.ones((1, 12))).shape
    (1, 3, 2, 2)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        # Validate the target (ints, at most one -1) at construction.
        shapes.reshape((None, None), target_shape, owner=self)
        self.target_shape = tuple(target_shape)

    def compute_output_shape(self, input_shape):
        return shapes.reshape(input_shape, self.target_shape, owner=self)

    def call(self, x):
        out = self.compute_output_shape(tuple(x.shape))
        xp = namespace(x)
        if x.ndim > 2:
            # Flatten first: a lazy library (Dask) can only merge whole axes or split one
            # evenly, not regroup (3, 4) -> (2, 6) directly; a view for eager libraries.
            x = _reshape(xp, x, (x.shape[0], shapes.flatten(tuple(x.shape), owner=self)[1]))
        return _reshape(xp, x, (x.shape[0], *out[1:]))

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


@register_layer
class Permute(Layer):
    """Permute the non-batch axes: ``dims`` is 1-based, e.g. ``(2, 1)`` swaps the first two.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Permute
    >>> Permute((2, 1))(xp.ones((1, 10, 64))).shape
    (1, 64, 10)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(dims, (list, tuple)):
            raise _args.layer_error(self, f"dims must be a tuple of ints, got {dims!r}",
                                    TypeError)
        shapes.permute((None,) * (len(dims) + 1), dims, owner=self)
        self.dims = tuple(int(d) for d in dims)
        self.expected_rank = len(self.dims) + 1

    def compute_output_shape(self, input_shape):
        return shapes.permute(input_shape, self.dims, owner=self)

    def call(self, x):
        return namespace(x).permute_dims(x, (0, *self.dims))

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


@register_layer
class RepeatVector(Layer):
    """Repeat a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import RepeatVector
    >>> RepeatVector(3)(xp.ones((2, 32))).shape
    (2, 3, 32)
    """

    expected_rank = 2

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = _args.positive_int(n, "n", self)

    def compute_output_shape(self, input_shape):
        return shapes.repeat_vector(input_shape, self.n, owner=self)

    def call(self, x):
        xp = namespace(x)
        return xp.tile(xp.expand_dims(x, axis=1), (1, self.n, 1))

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@register_layer
class ActivityRegularization(Layer):
    """Identity that adds ``l1 * sum(|x|) + l2 * sum(x**2)`` to ``layer.losses``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import ActivityRegularization
    >>> layer = ActivityRegularization(l1=0.5)
    >>> _ = layer(xp.asarray([[1.0, -3.0]]))
    >>> float(layer.losses[0])
    2.0
    """

    supports_masking = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        if "activity_regularizer" in kwargs:
            raise TypeError("ActivityRegularization: give l1 and l2, not activity_regularizer")
        l1 = _args.non_negative_float(l1, "l1", type(self).__name__)
        l2 = _args.non_negative_float(l2, "l2", type(self).__name__)
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = l1, l2

    def compute_output_shape(self, input_shape):
        return shapes.same_shape(input_shape, owner=self)

    def shape_spec(self):
        return {"kind": "identity"}

    def call(self, x):
        return x

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}


@register_layer
class Masking(Layer):
    """Mask the timesteps whose features all equal ``mask_value``.

    Downstream layers that support masking (``Laldagorth`` skips those steps)
    receive the mask ``any(x != mask_value, axis=-1)``; the output is the input
    with masked steps set to zero, as in Keras 2. ``mask_value=None`` masks
    nothing.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Masking
    >>> x = xp.asarray([[[1.0], [0.0], [2.0]]])
    >>> Masking(0.0).compute_mask(x)
    Array([[ True, False,  True]], dtype=array_api_strict.bool)
    """

    supports_masking = True
    min_rank = 2

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if mask_value is not None and (isinstance(mask_value, bool)
                                       or not isinstance(mask_value, (int, float))):
            raise _args.layer_error(self, f"mask_value must be a number or None, "
                                          f"got {mask_value!r}", TypeError)
        self.mask_value = mask_value

    def compute_output_shape(self, input_shape):
        return shapes.same_shape(input_shape, owner=self)

    def shape_spec(self):
        return {"kind": "identity"}

    def _keep(self, x):
        xp = namespace(x)
        value = _comparable(xp, x, self.mask_value)
        if value is None:  # mask_value None, or a value x's dtype cannot hold: nothing masked
            return xp.ones(x.shape[:-1], dtype=xp.bool, device=device_of(x))
        return xp.any(x != value, axis=-1)

    def compute_mask(self, x, mask=None):
        return self._keep(x)

    def call(self, x):
        xp = namespace(x)
        keep = xp.expand_dims(self._keep(x), axis=-1)
        return xp.where(keep, x, xp.zeros_like(x))

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


def _comparable(xp, x, value):
    """``value`` as something ``x != value`` accepts in every library, or None if x can't hold it.

    Strict Array API libraries refuse a Python float next to an integer array and
    a Python int next to a boolean one; an integer input simply never equals a
    non-integral ``mask_value`` (nor a bool input anything but 0 or 1).
    """
    if value is None or xp.isdtype(x.dtype, ("real floating", "complex floating")):
        return value
    if not float(value).is_integer():  # also NaN and infinities
        return None
    if xp.isdtype(x.dtype, "bool"):
        return bool(value) if value in (0, 1) else None
    info = xp.iinfo(x.dtype)
    if not info.min <= int(value) <= info.max:
        return None
    return xp.asarray(int(value), dtype=x.dtype, device=device_of(x))


def _reshape(xp, x, shape):
    """``xp.reshape`` to sizes given in full where known: ``-1`` cannot be inferred for an
    empty array (NumPy refuses it), so it stands only for sizes this array does not know."""
    sizes = tuple(n if isinstance(n, int) else -1 for n in shape)
    if any(n == 0 for n in sizes):
        return zeros_for(x, sizes)  # nothing to move (and Dask cannot reshape empty chunks)
    return xp.reshape(x, sizes)
