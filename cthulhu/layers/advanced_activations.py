"""Keras 2's advanced activation layers: ``LeakyReLU``, ``PReLU``, ``ELU``,
``ThresholdedReLU``, ``ReLU`` and ``Softmax``.

All keep the input shape. Their float arguments are rounded to float32 as
Keras 2 stores them (``backend.cast_to_floatx``), so configs and float64
results are Keras's. The element-wise ones run chunk by chunk on Dask (one
graph layer, :func:`cthulhu.ops.blockwise.blockwise`); ``Softmax`` along one
axis through :func:`cthulhu.activations.softmax`, which keeps that axis whole.
"""

import functools

from cthulhu import activations, shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.layers._common import (
    WeightOptions,
    device_of,
    grouped_configs,
    is_half,
    namespace,
)
from cthulhu.names import register_layer
from cthulhu.ops.blockwise import blockwise
from cthulhu.shapes.kinds.axes import resolve_axes

__all__ = ["LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "ReLU", "Softmax"]


class _Elementwise(Layer):
    """Shape-preserving, position by position (the ``pointwise`` kind)."""

    supports_masking = True
    requires_float_input = True

    def compute_output_shape(self, input_shape):
        return shapes.same_shape(input_shape, owner=self)

    def shape_spec(self):
        return {"kind": "pointwise"}


@register_layer
class LeakyReLU(_Elementwise):
    """Leaky ReLU: ``x`` for ``x > 0``, ``alpha * x`` otherwise.

    ``negative_slope`` is Keras 3's name for ``alpha`` (keyword-only); the
    config keeps Keras 2's ``alpha``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import LeakyReLU
    >>> LeakyReLU(0.5)(xp.asarray([[-2.0, 3.0]]))
    Array([[-1.,  3.]], dtype=array_api_strict.float64)
    """

    def __init__(self, alpha=0.3, *, negative_slope=None, **kwargs):
        super().__init__(**kwargs)
        if negative_slope is not None:
            if alpha != 0.3 and alpha != negative_slope:
                raise _args.layer_error(self, f"give alpha or negative_slope (Keras 3's name "
                                              f"for it), not both: got alpha={alpha!r} and "
                                              f"negative_slope={negative_slope!r}")
            alpha = negative_slope
        self.alpha = _args.floatx(alpha, "alpha", self)

    def call(self, x):
        return blockwise(functools.partial(_leaky, alpha=self.alpha), x)

    def epilogue_activation(self):
        return ("leaky_relu", self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


def _leaky(x, alpha):
    """TensorFlow's ``leaky_relu``: ``x`` where ``x > 0``, else ``alpha * x`` (NaN stays NaN)."""
    return namespace(x).where(x > 0, x, x * alpha)


@register_layer
class ELU(_Elementwise):
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import ELU
    >>> ELU(2.0)(xp.asarray([[0.0, 3.0]]))
    Array([[0., 3.]], dtype=array_api_strict.float64)
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _args.floatx(alpha, "alpha", self)

    def call(self, x):
        return activations.elu(x, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


def _thresholded(x, theta):
    """``x * (x > theta)``, as Keras 2 writes it (so ``NaN`` stays ``NaN``)."""
    xp = namespace(x)
    return x * xp.astype(x > theta, x.dtype)


@register_layer
class ThresholdedReLU(_Elementwise):
    """``x`` where ``x > theta``, ``0`` elsewhere; ``theta >= 0``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import ThresholdedReLU
    >>> ThresholdedReLU(1.0)(xp.asarray([[0.5, 1.0, 2.0]]))
    Array([[0., 0., 2.]], dtype=array_api_strict.float64)
    """

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.theta = _args.floatx(theta, "theta", self, minimum=0.0)

    def call(self, x):
        return blockwise(functools.partial(_thresholded, theta=self.theta), x)

    def get_config(self):
        return {**super().get_config(), "theta": self.theta}


@register_layer
class ReLU(_Elementwise):
    """Rectified linear unit with Keras 2's options.

    ``max_value`` for ``x >= max_value``, ``x`` for ``threshold < x < max_value``,
    ``negative_slope * (x - threshold)`` for ``x <= threshold``. ``max_value``
    (or ``None``), ``negative_slope`` and ``threshold`` must be >= 0.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import ReLU
    >>> ReLU(max_value=6.0)(xp.asarray([[-1.0, 3.0, 9.0]]))
    Array([[0., 3., 6.]], dtype=array_api_strict.float64)
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None:
            max_value = _args.floatx(max_value, "max_value", self, minimum=0.0)
        self.max_value = max_value
        self.negative_slope = _args.floatx(negative_slope, "negative_slope", self, minimum=0.0)
        self.threshold = _args.floatx(threshold, "threshold", self, minimum=0.0)

    def call(self, x):
        if self.max_value is None and self.threshold == 0.0 and self.negative_slope != 0.0:
            # Keras 2's relu is then TensorFlow's leaky_relu
            return blockwise(functools.partial(_leaky, alpha=self.negative_slope), x)
        return activations.relu(x, alpha=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def epilogue_activation(self):
        # the forms an op's epilogue computes exactly: relu, relu6, leaky_relu
        if self.threshold != 0.0:
            return None
        if self.negative_slope == 0.0 and self.max_value in (None, 6.0):
            return ("relu" if self.max_value is None else "relu6", 0.0)
        if self.max_value is None:
            return ("leaky_relu", self.negative_slope)
        return None

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


@register_layer
class PReLU(Layer):
    """Parametric ReLU: ``x`` for ``x > 0``, ``alpha * x`` otherwise, ``alpha`` learned.

    ``alpha`` has the input's shape without the batch axis, with size 1 on the
    ``shared_axes`` (1-based, e.g. ``[1, 2]`` shares one alpha per channel over
    the rows and columns of ``(batch, rows, cols, channels)``), as in Keras.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import PReLU
    >>> layer = PReLU(alpha_initializer="ones", shared_axes=[1, 2])
    >>> layer(xp.ones((1, 4, 4, 3))).shape, layer.get_weights()[0].shape
    ((1, 4, 4, 3), (1, 1, 3))
    """

    supports_masking = True
    requires_float_input = True

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_options = WeightOptions("alpha", alpha_initializer, alpha_regularizer,
                                           alpha_constraint, self)
        self._spec = shapes.normalize_spec({"kind": "per_position", "shared_axes": shared_axes,
                                            "class_name": "PReLU", "name": self.name})
        shared = self._spec["shared_axes"]
        self.shared_axes = None if shared is None else list(shared)

    def compute_output_shape(self, input_shape):
        return shapes.get_kind("per_position").output_shape(self._spec, input_shape, self)

    def shape_spec(self):
        return {"kind": "per_position", "shared_axes": self._spec["shared_axes"]}

    def build(self, input_shape):
        shared = set(self.shared_axes or ())
        param_shape = tuple(1 if i in shared else n for i, n in enumerate(input_shape)
                            if i > 0)
        self.alpha_options.add_to(self, "alpha", param_shape)
        self.expected_rank = len(input_shape)
        self.expected_channels = {i: n for i, n in enumerate(input_shape)
                                  if i > 0 and i not in shared}

    def call(self, x):
        xp = namespace(x)
        zero = xp.zeros((), dtype=x.dtype, device=device_of(x))
        negative = -self.weight_as(x, "alpha") * xp.maximum(-x, zero)
        return xp.maximum(x, zero) + negative

    def get_config(self):
        initializers, regularizers, constraints = grouped_configs(self.alpha_options)
        return {**super().get_config(), **initializers, **regularizers, **constraints,
                "shared_axes": self.shared_axes}


def _softmax_axes(x, axes, xp):
    """``exp(x - logsumexp(x, axes))``: Keras 2's softmax over several axes."""
    if any(x.shape[a] == 0 for a in axes):
        return x  # nothing to normalise (and no maximum to subtract), as activations.softmax
    top = xp.max(x, axis=axes, keepdims=True)
    shifted = x - top
    return xp.exp(shifted - xp.log(xp.sum(xp.exp(shifted), axis=axes, keepdims=True)))


@register_layer
class Softmax(Layer):
    """Softmax along ``axis`` (an int, or a list of ints: over those axes together).

    With a mask (from ``Masking``, or given), masked positions get a large
    negative number added first, so they take (almost) no weight, as in Keras.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Softmax
    >>> Softmax()(xp.asarray([[0.0, 0.0]]))
    Array([[0.5, 0.5]], dtype=array_api_strict.float64)
    """

    supports_masking = True
    requires_float_input = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self._spec = shapes.normalize_spec({"kind": "along_axis", "axis": axis,
                                            "class_name": "Softmax", "name": self.name})
        axes = self._spec["axis"]
        self.axis = list(axes) if isinstance(axis, (list, tuple)) else axes[0]

    def compute_output_shape(self, input_shape):
        return shapes.get_kind("along_axis").output_shape(self._spec, input_shape, self)

    def shape_spec(self):
        return {"kind": "along_axis", "axis": self._spec["axis"]}

    def call(self, x, mask=None):
        xp = namespace(x)
        # checked on every call: a built layer takes inputs of any rank its axis fits
        resolve_axes(self._spec["axis"], x.ndim, self)
        if mask is not None:
            # Keras 2: inputs += (1 - mask) * a large negative number (float16's minimum
            # there), broadcast as the library broadcasts (the mask's axes align at the end)
            large = -65504.0 if is_half(x) else -1e9
            adder = (1.0 - xp.astype(mask, x.dtype)) * large
            try:
                x = x + adder
            except (ValueError, TypeError) as exc:
                raise _args.layer_error(self, f"the mask of shape {tuple(mask.shape)} does not "
                                              f"broadcast to the input shape "
                                              f"{tuple(x.shape)}: {exc}") from exc
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if len(axes) == 1:
            return activations.softmax(x, axis=axes[0])
        return _softmax_axes(x, tuple(axes), xp)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
