"""``BatchNormalization`` and ``LayerNormalization`` (Keras 2, TensorFlow backend).

Both normalise ``x`` to ``(x - mean) / sqrt(variance + epsilon)``, then scale
by ``gamma`` and shift by ``beta``; they keep the input shape (the
``along_axis`` kind of :mod:`cthulhu.shapes`).

* ``BatchNormalization`` keeps one ``gamma``, ``beta``, ``moving_mean`` and
  ``moving_variance`` per position of ``axis`` (the channels). At inference it
  is one multiply-add per element, ``x * scale + shift``, with ``scale`` and
  ``shift`` folded from the four weights once per weights version, library,
  device and dtype. With ``training=True`` it normalises with the batch
  statistics (over every axis but ``axis``) and updates the moving ones as
  Keras 2 does; see :meth:`BatchNormalization.call`.
* ``LayerNormalization`` computes the statistics of each sample over ``axis``
  and keeps one ``gamma`` and ``beta`` per position of ``axis``.
"""

import math
import numbers

from cthulhu import shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.engine.utils import _device_key, to_numpy
from cthulhu.initializers import serialize
from cthulhu.layers import _args
from cthulhu.layers._common import WeightOptions, grouped_configs, is_half, namespace
from cthulhu.names import register_layer
from cthulhu.ops import eltwise
from cthulhu.shapes.kinds.axes import resolve_axes

__all__ = ["BatchNormalization", "LayerNormalization"]


def _axis_argument(layer, axis):
    """The checked ``along_axis`` spec of ``axis``, and ``axis`` as the config shows it."""
    spec = shapes.normalize_spec({"kind": "along_axis", "axis": axis,
                                  "class_name": type(layer).__name__, "name": layer.name})
    shown = list(spec["axis"]) if isinstance(axis, (list, tuple)) else spec["axis"][0]
    return spec, shown


def _real(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _args.layer_error(owner, f"{name} must be a float, got {value!r}", TypeError)
    if not math.isfinite(float(value)):
        raise _args.layer_error(owner, f"{name} must be a finite float, got {value!r}")
    return float(value)


def _is_dask(x):
    return type(x).__module__.startswith("dask.")


def _compute_dtype(xp, x):
    """Keras computes float16 batch and layer norms in float32 and casts the result back."""
    return xp.float32 if is_half(x) else x.dtype


class _Normalization(Layer):
    """What both layers share: ``axis``, ``epsilon``, ``center``, ``scale``, gamma and beta."""

    supports_masking = True
    requires_float_input = True

    def _init_common(self, axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                     beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint):
        self._spec, self.axis = _axis_argument(self, axis)
        self.epsilon = _args.non_negative_float(epsilon, "epsilon", self)
        self.center = _args.boolean(center, "center", self)
        self.scale = _args.boolean(scale, "scale", self)
        self.gamma_options = WeightOptions("gamma", gamma_initializer, gamma_regularizer,
                                           gamma_constraint, self)
        self.beta_options = WeightOptions("beta", beta_initializer, beta_regularizer,
                                          beta_constraint, self)
        self._axes = None  # resolved at build: indices into the input's axes

    def compute_output_shape(self, input_shape):
        return shapes.get_kind("along_axis").output_shape(self._spec, input_shape, self)

    def shape_spec(self):
        return {"kind": "along_axis", "axis": self._spec["axis"]}

    def _resolve(self, input_shape):
        axes = resolve_axes(self._spec["axis"], len(input_shape), self)
        sizes = {a: input_shape[a] for a in axes}
        for a, n in sizes.items():
            if not isinstance(n, int):
                raise _args.layer_error(self, f"axis {a} of the input must have a known size to "
                                              f"build the layer, got input shape "
                                              f"{tuple(input_shape)}")
        self._axes = axes
        self.expected_rank = len(input_shape)
        self.expected_channels = sizes
        return axes, sizes

    def _broadcast(self, x, value, shape):
        """A weight reshaped to broadcast against ``x`` (Keras' ``_broadcast``: a reshape)."""
        xp = namespace(x)
        return xp.reshape(value, shape)

    def _gamma_beta_config(self):
        initializers, regularizers, constraints = grouped_configs(self.beta_options,
                                                                  self.gamma_options)
        return initializers, regularizers, constraints


@register_layer
class BatchNormalization(_Normalization):
    """Normalise with moving statistics (inference) or batch statistics (training).

    ``axis`` is the axis (an int, or a list of ints) with one statistic per
    position: the channels, ``-1`` for channels_last and ``1`` for
    channels_first. Weights, in Keras order: ``gamma`` (if ``scale``), ``beta``
    (if ``center``), ``moving_mean``, ``moving_variance``, of shape
    ``(channels,)`` (for several axes: the input's rank, with 1 on the other
    axes, as Keras).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import BatchNormalization
    >>> bn = BatchNormalization(epsilon=0.0)
    >>> bn(xp.ones((2, 3)))                  # moving mean 0, variance 1: the identity
    Array([[1., 1., 1.],
           [1., 1., 1.]], dtype=array_api_strict.float64)
    >>> [w.shape for w in bn.get_weights()]
    [(3,), (3,), (3,), (3,)]
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self._init_common(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                          beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint)
        self.momentum = _real(momentum, "momentum", self)
        self.moving_mean_options = WeightOptions("moving_mean", moving_mean_initializer, None,
                                                 None, self)
        self.moving_variance_options = WeightOptions("moving_variance",
                                                     moving_variance_initializer, None, None,
                                                     self)

    def build(self, input_shape):
        axes, sizes = self._resolve(input_shape)
        ndim = len(input_shape)
        if len(axes) == 1:
            self._param_shape = (sizes[axes[0]],)
        else:
            self._param_shape = tuple(sizes.get(i, 1) for i in range(ndim))
        self._broadcast_shape = tuple(sizes.get(i, 1) for i in range(ndim))
        # Keras keeps a float16 layer's statistics and affine weights in float32
        dtype = "float32" if self.dtype == "float16" else None
        for options, wanted in ((self.gamma_options, self.scale),
                                (self.beta_options, self.center)):
            if wanted:
                self.add_weight(options.prefix, self._param_shape, options.initializer,
                                regularizer=options.regularizer, constraint=options.constraint,
                                dtype=dtype)
        for options in (self.moving_mean_options, self.moving_variance_options):
            self.add_weight(options.prefix, self._param_shape, options.initializer,
                            trainable=False, dtype=dtype)

    # ------------------------------------------------------------ inference
    def _folded(self, x, dtype):
        """``(scale, shift)`` of the moving statistics, broadcastable to ``x`` (cached until
        the weights change)."""
        key = ("folded", type(x), x.dtype, dtype, _device_key(x))
        return self.derived(key, lambda: self._fold(x, dtype))

    def _fold(self, x, dtype):
        xp = namespace(x)
        mean = self.weight_as(x, "moving_mean", dtype)
        variance = self.weight_as(x, "moving_variance", dtype)
        # TensorFlow's batch_normalization: inv = rsqrt(variance + epsilon) * gamma,
        # y = x * inv + (beta - mean * inv)
        scale = 1.0 / xp.sqrt(variance + self.epsilon)
        if self.scale:
            scale = scale * self.weight_as(x, "gamma", dtype)
        shift = -mean * scale
        if self.center:
            shift = self.weight_as(x, "beta", dtype) + shift
        return (self._broadcast(x, scale, self._broadcast_shape),
                self._broadcast(x, shift, self._broadcast_shape))

    def affine_axis(self, ndim):
        # one statistic per position of a single axis: a per-channel map at inference,
        # which a model folds into the op before it (cthulhu.engine.fusion)
        if self._axes is None or len(self._axes) != 1 or ndim != self.expected_rank:
            return None
        return self._axes[0] % ndim

    def affine(self, x):
        """``(scale, shift)`` of :meth:`affine_axis`, 1-D, in ``x``'s library and device (the
        folded weights of :meth:`_folded`; float32 for a float16 ``x``, as Keras computes).

        For a Dask ``x`` they are folded on the host and become two one-chunk Dask arrays:
        the graph gains two constants, not a layer per step of the fold's arithmetic.
        """
        if _is_dask(x):
            import dask.array as da
            import numpy as np

            host = np.empty((0,), dtype=np.dtype(str(x.dtype)))
            return tuple(da.from_array(a, chunks=-1) for a in self.affine(host))
        # cached with the weights' versions, like _folded: a model asks on every call
        key = ("affine", type(x), x.dtype, _device_key(x))
        return self.derived(key, lambda: self._affine(x))

    def _affine(self, x):
        xp = namespace(x)
        scale, shift = self._folded(x, _compute_dtype(xp, x))
        return xp.reshape(scale, (-1,)), xp.reshape(shift, (-1,))

    def call(self, x, training=False, mask=None):
        """Inference: ``x * scale + shift``. ``training=True``: batch statistics.

        In training mode (and only if the layer is ``trainable``, as in Keras 2)
        the mean and the biased variance over every axis but ``axis`` (weighted
        by the mask, if any, as Keras' unfused path) normalise ``x``, and the
        moving statistics become ``moving - (moving - batch) * (1 - momentum)``.
        For the variance, ``batch`` is the *unbiased* variance (``n / (n - 1)``
        times the biased one) where Keras 2 takes TensorFlow's fused kernel
        (inputs of rank 4 or 5 with ``axis`` the channels, 1 or the last, and a
        layer dtype other than float64) and the biased one elsewhere, exactly as
        Keras 2 does. The statistics are copied to the host to update the NumPy
        weights (on Dask this computes them; the output stays lazy).
        """
        xp = namespace(x)
        dtype = _compute_dtype(xp, x)
        xc = x if dtype == x.dtype else xp.astype(x, dtype)
        if training and self.trainable:
            y = self._train(xc, xp, mask)
        else:
            axis = self.affine_axis(x.ndim) if dtype == x.dtype else None
            if axis is not None:
                # one per-channel map: one pass where the device has it
                scale, shift = self.affine(x)
                y = eltwise.affine(xc, scale, shift, axis)
            else:
                scale, shift = self._folded(x, dtype)
                y = xc * scale
                y += shift
        return y if y.dtype == x.dtype else xp.astype(y, x.dtype)

    # -------------------------------------------------------------- training
    def _fused_in_keras(self, ndim):
        """Whether Keras 2 runs this layer with TensorFlow's fused kernel (see :meth:`call`)."""
        return (ndim in (4, 5) and len(self._axes) == 1 and self._axes[0] in (1, ndim - 1)
                and self.dtype != "float64")

    def _train(self, x, xp, mask):
        ndim = x.ndim
        reduction = tuple(i for i in range(ndim) if i not in self._axes)
        count = math.prod(x.shape[i] for i in reduction)
        if count == 0:
            return x  # an empty batch: nothing to normalise, nothing to learn from
        fused = self._fused_in_keras(ndim)
        if mask is not None and not fused:
            # tf.nn.weighted_moments with the mask as frequency weights (one per position)
            weights = xp.expand_dims(xp.astype(mask, x.dtype), axis=-1)
            weights = weights + xp.zeros_like(x)
            total = xp.sum(weights, axis=reduction, keepdims=True)
            mean = xp.sum(weights * x, axis=reduction, keepdims=True) / total
            centered = x - mean
            variance = xp.sum(weights * centered * centered, axis=reduction, keepdims=True) / total
        else:
            mean = xp.mean(x, axis=reduction, keepdims=True)
            centered = x - mean
            variance = xp.mean(centered * centered, axis=reduction, keepdims=True)
        inv = 1.0 / xp.sqrt(variance + self.epsilon)
        if self.scale:
            inv = inv * self._broadcast(x, self.weight_as(x, "gamma", x.dtype),
                                        self._broadcast_shape)
        y = centered * inv
        if self.center:
            y = y + self._broadcast(x, self.weight_as(x, "beta", x.dtype), self._broadcast_shape)
        # one host copy of both statistics (on Dask: one computation)
        both = to_numpy(xp.stack([xp.reshape(mean, (-1,)), xp.reshape(variance, (-1,))]))
        self._update_moving(both[0], both[1], count if fused else None)
        return y

    def _update_moving(self, mean, variance, unbiased_count):
        import numpy as np

        decay = np.float32(1.0 - self.momentum)
        batch = {"moving_mean": mean, "moving_variance": variance}
        if unbiased_count is not None and unbiased_count > 1:
            batch["moving_variance"] = batch["moving_variance"] * (unbiased_count /
                                                                   (unbiased_count - 1))
        for name, value in batch.items():
            record = self._weight_record(name)
            home = record.numpy()
            value = np.reshape(np.asarray(value, dtype=home.dtype), home.shape)
            record.assign(home - (home - value) * decay.astype(home.dtype))

    def get_config(self):
        initializers, regularizers, constraints = self._gamma_beta_config()
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                **initializers,
                "moving_mean_initializer": serialize(self.moving_mean_options.initializer),
                "moving_variance_initializer": serialize(
                    self.moving_variance_options.initializer),
                **regularizers, **constraints}


@register_layer
class LayerNormalization(_Normalization):
    """Normalise each sample over ``axis`` (an int or a list of ints, default ``-1``).

    Weights, in Keras order: ``gamma`` (if ``scale``), ``beta`` (if ``center``),
    of shape ``[input_shape[a] for a in axis]``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import LayerNormalization
    >>> y = LayerNormalization(epsilon=0.0)(xp.asarray([[1.0, 3.0]]))
    >>> y
    Array([[-1.,  1.]], dtype=array_api_strict.float64)
    """

    def __init__(self, axis=-1, epsilon=0.001, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self._init_common(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                          beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint)

    def build(self, input_shape):
        axes, sizes = self._resolve(input_shape)
        param_shape = tuple(sizes[a] for a in axes)
        self._broadcast_shape = tuple(sizes.get(i, 1) for i in range(len(input_shape)))
        if self.scale:
            self.gamma_options.add_to(self, "gamma", param_shape)
        if self.center:
            self.beta_options.add_to(self, "beta", param_shape)

    def call(self, x):
        xp = namespace(x)
        dtype = _compute_dtype(xp, x)
        xc = x if dtype == x.dtype else xp.astype(x, dtype)
        axes = tuple(self._axes)
        mean = xp.mean(xc, axis=axes, keepdims=True)
        centered = xc - mean
        variance = xp.mean(centered * centered, axis=axes, keepdims=True)
        y = centered * (1.0 / xp.sqrt(variance + self.epsilon))
        if self.scale:
            y = y * self._broadcast(x, self.weight_as(x, "gamma", dtype), self._broadcast_shape)
        if self.center:
            y = y + self._broadcast(x, self.weight_as(x, "beta", dtype), self._broadcast_shape)
        return y if y.dtype == x.dtype else xp.astype(y, x.dtype)

    def get_config(self):
        initializers, regularizers, constraints = self._gamma_beta_config()
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, **initializers, **regularizers,
                **constraints}
