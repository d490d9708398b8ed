"""The convolution ops: one :class:`~cthulhu.ops._op.Op` object each, and the public
functions, thin wrappers around them.

See ``docs/internals.md`` (section ``cthulhu.ops``) for the contract. Every
function returns an array of ``x``'s library, device and dtype.
"""

from __future__ import annotations

from cthulhu import shapes
from cthulhu.ops import _args, _checks, generic
from cthulhu.ops._dispatch import checked_epilogue
from cthulhu.ops._op import GeometryCache, Op, check_precision
from cthulhu.shapes.layout import channel_index

__all__ = ["ConvOp", "ConvTransposeOp", "DepthwiseConvOp", "SeparableConvOp", "CONV",
           "CONV_TRANSPOSE", "DEPTHWISE_CONV", "SEPARABLE_CONV", "conv", "conv_transpose",
           "depthwise_conv", "separable_conv"]


class _WindowOp(Op):
    """What the four convolutions share: arguments, channel checks, the geometry.

    ``kind`` is the ``cthulhu.shapes`` kind whose padding rule applies; ``weight_names``
    name the weights (the first is the kernel whose leading axes are the window).
    """

    kind = ""
    weight_names = ("kernel",)
    in_axis = -2          # the kernel axis that must match x's channels

    def __init__(self):
        self._cache = GeometryCache()

    def _arguments(self, x, kernel, strides, padding, dilation, data_format):
        label = self.label
        rank = _checks.kernel_rank(kernel, label)
        _args.check_input(x, rank, label)
        _checks.float_input(x, label)
        return {
            "strides": _args.int_tuple(strides, rank, "strides", label),
            "padding": _args.padding(padding, rank, label, kind=self.kind,
                                     kernel_size=tuple(kernel.shape[:rank])),
            "dilation": _args.int_tuple(dilation, rank, "dilation", label),
            "data_format": _args.data_format(data_format, label),
        }

    def _check_weights(self, x, weights, cfg):
        fmt = cfg["data_format"]
        got = x.shape[channel_index(x.ndim, fmt)]
        want = weights[0].shape[self.in_axis]
        if got != want:
            raise ValueError(f"{self.label}: x has {got} channels ({fmt}) but the "
                             f"{self.weight_names[0]} expects {want}")

    def out_channels(self, weights) -> int:
        return weights[0].shape[-1]

    def _build(self, x, weights, cfg):
        shape = tuple(x.shape)
        key = (shape, *(tuple(w.shape) for w in weights), *cfg.values())
        return self._cache.get(key, self._new_geometry, shape, weights, cfg)

    def _new_geometry(self, shape, weights, cfg):
        return shapes.conv_geometry(
            self.kind, shape, tuple(weights[0].shape[:-2]), filters=self._filters(weights),
            depth_multiplier=self._multiplier(weights), owner=self.label, **cfg)

    def _filters(self, weights):
        return self.out_channels(weights)

    def _multiplier(self, weights):
        return 1

    def _call(self, x, weights, args, epilogue_args, precision):
        """Check everything once, build the geometry, run (see :mod:`cthulhu.ops._op`)."""
        label = self.label
        x = _checks.native_order(x)
        cfg = self._arguments(x, weights[0], **args)
        precision = check_precision(precision, label)
        self._extra_arguments(cfg, args)
        self._check_weights(x, weights, cfg)
        weights = tuple(_checks.like_x(x, w, name, label)
                        for w, name in zip(weights, self.weight_names, strict=True))
        epilogue = checked_epilogue(x, self.out_channels(weights), label, *epilogue_args)
        geometry = self._build(x, weights, cfg)
        return self.run(x, weights, geometry, epilogue, precision)

    def _extra_arguments(self, cfg, args):
        """Check the op's own arguments into ``cfg`` (``output_padding``)."""

    def plan(self, x, *weights, bias=None, activation=None, **args):
        """``run`` with ``run(x2) == self(x2, *weights, bias=bias, activation=activation,
        **args)`` (``args``: the window arguments of :meth:`geometry`), everything
        checked here, once, raising as the call would. For an ``x2`` of ``x``'s type,
        shape, dtype (in native byte order) and device, ``run`` goes straight to
        :meth:`Op.run` with the geometry and epilogue made here; for any other, through
        the checked call. The convolutions' counterpart of ``MATMUL.plan``: a layer that
        convolves inputs of one kind again and again keeps ``run`` (the checks cost
        about as much Python as the plugin's own preparation).

        ``run`` routes through :meth:`Op.run`, which asks the registry on every call
        (a dict lookup), so a plugin registered or preferred later is used as by a
        plain call; precision is the setting in force at each call, as for a call
        without ``precision``.
        """
        label = self.label
        x = _checks.native_order(x)
        geometry = self.geometry(x, *weights, **args)
        weights = tuple(_checks.like_x(x, w, name, label)
                        for w, name in zip(weights, self.weight_names, strict=True))
        epilogue = checked_epilogue(x, self.out_channels(weights), label, bias, activation,
                                    None, None, 0.0)

        def checked(x2):
            return self(x2, *weights, bias=epilogue.bias, activation=epilogue.activation,
                        **args)

        kind = (type(x), x.shape, x.dtype, getattr(x, "device", None))

        def run(x2):
            # anything else than the kind checked here takes the checked call
            if (type(x2), getattr(x2, "shape", None), getattr(x2, "dtype", None),
                    getattr(x2, "device", None)) == kind:
                return self.run(x2, weights, geometry, epilogue)
            return checked(x2)

        return run

    def _geometry(self, x, weights, args):
        cfg = self._arguments(x, weights[0], **args)
        self._extra_arguments(cfg, args)
        self._check_weights(x, weights, cfg)
        return self._build(x, weights, cfg)


def _window_args(strides, padding, dilation, data_format):
    return {"strides": strides, "padding": padding, "dilation": dilation,
            "data_format": data_format}


class ConvOp(_WindowOp):
    """``conv``: kernel ``(*k, C, F)``."""

    name, label, kind = "conv", "ops.conv", "conv"

    def __call__(self, x, kernel, *, strides=1, padding="valid", dilation=1,
                 data_format="channels_last", bias=None, activation=None, precision=None,
                 scale=None, shift=None, alpha=0.0):
        return self._call(x, (kernel,), _window_args(strides, padding, dilation, data_format),
                          (bias, activation, scale, shift, alpha), precision)

    def geometry(self, x, kernel, *, strides=1, padding="valid", dilation=1,
                 data_format="channels_last"):
        return self._geometry(x, (kernel,), _window_args(strides, padding, dilation,
                                                         data_format))

    def generic(self, x, kernel, *, geometry):
        return generic.conv(x, kernel, geometry=geometry)


class ConvTransposeOp(_WindowOp):
    """``conv_transpose``: kernel ``(*k, F, C)``."""

    name, label, kind = "conv_transpose", "ops.conv_transpose", "conv_transpose"
    in_axis = -1

    def __call__(self, x, kernel, *, strides=1, padding="valid", output_padding=None,
                 dilation=1, data_format="channels_last", bias=None, activation=None,
                 precision=None, scale=None, shift=None, alpha=0.0):
        args = _window_args(strides, padding, dilation, data_format)
        return self._call(x, (kernel,), {**args, "output_padding": output_padding},
                          (bias, activation, scale, shift, alpha), precision)

    def geometry(self, x, kernel, *, strides=1, padding="valid", output_padding=None,
                 dilation=1, data_format="channels_last"):
        args = _window_args(strides, padding, dilation, data_format)
        return self._geometry(x, (kernel,), {**args, "output_padding": output_padding})

    def _arguments(self, x, kernel, output_padding=None, **args):
        return super()._arguments(x, kernel, **args)

    def _extra_arguments(self, cfg, args):
        value = args["output_padding"]
        if value is not None:
            value = _args.int_tuple(value, len(cfg["strides"]), "output_padding", self.label,
                                    minimum=0)
        cfg["output_padding"] = value

    def out_channels(self, weights):
        return weights[0].shape[-2]

    def generic(self, x, kernel, *, geometry):
        return generic.conv_transpose(x, kernel, geometry=geometry)


class DepthwiseConvOp(_WindowOp):
    """``depthwise_conv``: kernel ``(*k, C, M)``, output channel ``c*M + m``."""

    name, label, kind = "depthwise_conv", "ops.depthwise_conv", "depthwise_conv"

    def __call__(self, x, kernel, *, strides=1, padding="valid", dilation=1,
                 data_format="channels_last", bias=None, activation=None, scale=None,
                 shift=None, alpha=0.0):
        return self._call(x, (kernel,), _window_args(strides, padding, dilation, data_format),
                          (bias, activation, scale, shift, alpha), None)

    def geometry(self, x, kernel, *, strides=1, padding="valid", dilation=1,
                 data_format="channels_last"):
        return self._geometry(x, (kernel,), _window_args(strides, padding, dilation,
                                                         data_format))

    def out_channels(self, weights):
        return weights[0].shape[-2] * weights[0].shape[-1]

    def _filters(self, weights):
        return None

    def _multiplier(self, weights):
        return weights[0].shape[-1]

    def generic(self, x, kernel, *, geometry):
        return generic.depthwise_conv(x, kernel, geometry=geometry)


class SeparableConvOp(_WindowOp):
    """``separable_conv``: ``(*k, C, M)`` depthwise then ``(*ones, C*M, F)`` pointwise."""

    name, label, kind = "separable_conv", "ops.separable_conv", "separable_conv"
    weight_names = ("depthwise_kernel", "pointwise_kernel")

    def __call__(self, x, depthwise_kernel, pointwise_kernel, *, strides=1, padding="valid",
                 dilation=1, data_format="channels_last", bias=None, activation=None,
                 precision=None, scale=None, shift=None, alpha=0.0):
        return self._call(x, (depthwise_kernel, pointwise_kernel),
                          _window_args(strides, padding, dilation, data_format),
                          (bias, activation, scale, shift, alpha), precision)

    def geometry(self, x, depthwise_kernel, pointwise_kernel, *, strides=1, padding="valid",
                 dilation=1, data_format="channels_last"):
        return self._geometry(x, (depthwise_kernel, pointwise_kernel),
                              _window_args(strides, padding, dilation, data_format))

    def _check_weights(self, x, weights, cfg):
        super()._check_weights(x, weights, cfg)
        depthwise, pointwise = weights
        rank = depthwise.ndim - 2
        channels, multiplier = depthwise.shape[-2:]
        pointwise_shape = (*(1,) * rank, channels * multiplier)
        if (getattr(pointwise, "ndim", None) != rank + 2
                or tuple(pointwise.shape[:-1]) != pointwise_shape):
            raise ValueError(f"{self.label}: pointwise_kernel must have shape "
                             f"{(*pointwise_shape, 'F')}, got "
                             f"{tuple(getattr(pointwise, 'shape', ()))}")

    def out_channels(self, weights):
        return weights[1].shape[-1]

    def _multiplier(self, weights):
        return weights[0].shape[-1]

    def generic(self, x, depthwise_kernel, pointwise_kernel, *, geometry):
        return generic.separable_conv(x, depthwise_kernel, pointwise_kernel, geometry=geometry)


CONV = ConvOp()
CONV_TRANSPOSE = ConvTransposeOp()
DEPTHWISE_CONV = DepthwiseConvOp()
SEPARABLE_CONV = SeparableConvOp()


def conv(x, kernel, *, strides=1, padding="valid", dilation=1, data_format="channels_last",
         bias=None, activation=None, precision=None, scale=None, shift=None, alpha=0.0):
    """N-D convolution (cross-correlation, as Keras), rank 1 to 3.

    Parameters
    ----------
    x : array
        ``(N, *S, C)`` for ``channels_last``, ``(N, C, *S)`` for ``channels_first``.
    kernel : array
        ``(*kernel_size, C, F)`` (the Keras layout, whatever ``data_format``).
    strides, dilation : int or tuple of int
    padding : {"valid", "same", "causal"} or tuple of (lo, hi) pairs
        ``"same"`` puts the odd extra zero at the end, as TensorFlow; ``"causal"``
        only with a rank-1 kernel (the rule of ``cthulhu.shapes.get_kind("conv")``,
        which the layers share).
    data_format : {"channels_last", "channels_first"}
    bias : array of shape (F,), optional
    activation : {None, "linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh"}
        Applied last (``leaky_relu``: ``alpha`` times the negative values).
    precision : {None, "float32", "tf32", "bfloat16"}
        The arithmetic allowed on float32 inputs for this call (``None``: the setting
        in force, ``cthulhu.config.float32_precision()``; see docs/devices.md).
    scale, shift : arrays of shape (F,), optional
        Per output channel, after the bias: ``(y + bias) * scale + shift`` (a batch
        normalisation folded into the convolution, ``cthulhu.engine.fusion``).
    alpha : float
        The negative slope of ``activation="leaky_relu"``.

    Returns
    -------
    array
        ``(N, *S_out, F)`` or ``(N, F, *S_out)``, ``S_out`` from
        ``cthulhu.shapes.conv_length``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu import ops
    >>> x = xp.reshape(xp.arange(5, dtype=xp.float64), (1, 5, 1))
    >>> k = xp.reshape(xp.asarray([1.0, 0.0, -1.0], dtype=xp.float64), (3, 1, 1))
    >>> ops.conv(x, k, padding="same")[0, :, 0]
    Array([-1., -2., -2., -2.,  3.], dtype=array_api_strict.float64)
    """
    return CONV(x, kernel, strides=strides, padding=padding, dilation=dilation,
                data_format=data_format, bias=bias, activation=activation, precision=precision,
                scale=scale, shift=shift, alpha=alpha)


def conv_transpose(x, kernel, *, strides=1, padding="valid", output_padding=None, dilation=1,
                   data_format="channels_last", bias=None, activation=None, precision=None,
                   scale=None, shift=None, alpha=0.0):
    """Transposed convolution (the gradient of ``conv``), exactly as Keras 2 / TensorFlow.

    ``kernel`` is ``(*kernel_size, F, C)``; the output length per axis is
    ``cthulhu.shapes.conv_transpose_length``. Explicit ``padding`` pairs are
    those of the equivalent stride-1 direct convolution over the zero-stuffed
    input (``cthulhu.shapes.conv_transpose_padding``). ``precision`` as for :func:`conv`.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu import ops
    >>> x = xp.ones((1, 2, 1), dtype=xp.float64)
    >>> k = xp.reshape(xp.asarray([1.0, 2.0, 3.0], dtype=xp.float64), (3, 1, 1))
    >>> ops.conv_transpose(x, k, strides=2)[0, :, 0]
    Array([1., 2., 4., 2., 3.], dtype=array_api_strict.float64)
    """
    return CONV_TRANSPOSE(x, kernel, strides=strides, padding=padding,
                          output_padding=output_padding, dilation=dilation,
                          data_format=data_format, bias=bias, activation=activation,
                          precision=precision, scale=scale, shift=shift, alpha=alpha)


def depthwise_conv(x, kernel, *, strides=1, padding="valid", dilation=1,
                   data_format="channels_last", bias=None, activation=None, scale=None,
                   shift=None, alpha=0.0):
    """Depthwise convolution: kernel ``(*kernel_size, C, M)``, output channel ``c*M + m``;
    the epilogue as for :func:`conv`."""
    return DEPTHWISE_CONV(x, kernel, strides=strides, padding=padding, dilation=dilation,
                          data_format=data_format, bias=bias, activation=activation,
                          scale=scale, shift=shift, alpha=alpha)


def separable_conv(x, depthwise_kernel, pointwise_kernel, *, strides=1, padding="valid",
                   dilation=1, data_format="channels_last", bias=None, activation=None,
                   precision=None, scale=None, shift=None, alpha=0.0):
    """Depthwise convolution then a pointwise (1x1) one: ``(*k, C, M)`` then ``(*ones, C*M, F)``;
    ``precision`` (for the pointwise GEMM) and the epilogue as for :func:`conv`."""
    return SEPARABLE_CONV(x, depthwise_kernel, pointwise_kernel, strides=strides,
                          padding=padding, dilation=dilation, data_format=data_format,
                          bias=bias, activation=activation, precision=precision,
                          scale=scale, shift=shift, alpha=alpha)
