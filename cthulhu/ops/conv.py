"""Public convolution ops: check and normalise the arguments, then route by device.

See ``docs/internals.md`` (section ``cthulhu.ops``) for the contract. Every
function returns an array of ``x``'s library, device and dtype.
"""

from __future__ import annotations

from cthulhu import config, shapes
from cthulhu.ops import _args, _checks, _dispatch, generic


def _precision(value, op):
    return None if value is None else config.check_float32_precision(value, op)


def _common(x, kernel, strides, padding, dilation, data_format, activation, op, kind):
    """Checked arguments; ``kind`` (a ``cthulhu.shapes`` kind) gives the padding rule."""
    rank = _checks.kernel_rank(kernel, op)
    _args.check_input(x, rank, op)
    _checks.float_input(x, op)
    cfg = {
        "strides": _args.int_tuple(strides, rank, "strides", op),
        "padding": _args.padding(padding, rank, op, kind=kind,
                                 kernel_size=tuple(kernel.shape[:rank])),
        "dilation": _args.int_tuple(dilation, rank, "dilation", op),
        "data_format": _args.data_format(data_format, op),
    }
    act = _args.activation(activation, op)
    return rank, cfg, act


def _channel_axis(data_format):
    return shapes.channels_axis(1, data_format)


def _empty(x, kernel_size, cfg, channels_out, bias, act, op):
    """The op's result for an input with a zero-size axis (batch, channels or a 'same' axis)."""
    fmt = cfg["data_format"]
    spatial = _args.spatial_shape(x, fmt)
    steps = (kernel_size, cfg["strides"], cfg["dilation"])
    if "output_padding" in cfg:
        pads = _args.transpose_pads(spatial, *steps, cfg["padding"], cfg["output_padding"], op)
        out = _args.transpose_out_sizes(spatial, *steps, pads, op)
    else:
        out = _args.conv_out_sizes(spatial, *steps, cfg["padding"], op)
    batch = x.shape[0]
    shape = shapes.join_channels(batch, out, channels_out, fmt)
    return _dispatch.empty_result(x, shape, bias, act, _channel_axis(fmt))


def _check_channels(x, kernel_in, fmt, op, name="kernel"):
    got = _args.channels(x, fmt)
    if got != kernel_in:
        raise ValueError(f"{op}: x has {got} channels ({fmt}) but the {name} expects "
                         f"{kernel_in}")


def conv(x, kernel, *, strides=1, padding="valid", dilation=1, data_format="channels_last",
         bias=None, activation=None, precision=None):
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
    activation : {None, "linear", "relu"}
    precision : {None, "float32", "tf32", "bfloat16"}
        The arithmetic allowed on float32 inputs for this call (``None``: the setting
        in force, ``cthulhu.config.float32_precision()``; see docs/devices.md).

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
    op = "ops.conv"
    x = _checks.native_order(x)
    rank, cfg, act = _common(x, kernel, strides, padding, dilation, data_format,
                             activation, op, "conv")
    _check_channels(x, kernel.shape[-2], cfg["data_format"], op)
    kernel = _checks.like_x(x, kernel, "kernel", op)
    bias = _checks.like_x(x, bias, "bias", op, (kernel.shape[-1],))
    if _dispatch.is_empty(x):
        return _empty(x, kernel.shape[:rank], cfg, kernel.shape[-1], bias, act, op)
    return _dispatch.run("conv", x, (kernel,), cfg, bias, act,
                         _channel_axis(cfg["data_format"]), generic.conv,
                         _precision(precision, op))


def conv_transpose(x, kernel, *, strides=1, padding="valid", output_padding=None, dilation=1,
                   data_format="channels_last", bias=None, activation=None, precision=None):
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
    op = "ops.conv_transpose"
    x = _checks.native_order(x)
    rank, cfg, act = _common(x, kernel, strides, padding, dilation, data_format,
                             activation, op, "conv_transpose")
    if output_padding is not None:
        output_padding = _args.int_tuple(output_padding, rank, "output_padding", op, minimum=0)
    cfg["output_padding"] = output_padding
    _check_channels(x, kernel.shape[-1], cfg["data_format"], op)
    kernel = _checks.like_x(x, kernel, "kernel", op)
    bias = _checks.like_x(x, bias, "bias", op, (kernel.shape[-2],))
    if _dispatch.is_empty(x):
        return _empty(x, kernel.shape[:rank], cfg, kernel.shape[-2], bias, act, op)
    return _dispatch.run("conv_transpose", x, (kernel,), cfg, bias, act,
                         _channel_axis(cfg["data_format"]), generic.conv_transpose,
                         _precision(precision, op))


def depthwise_conv(x, kernel, *, strides=1, padding="valid", dilation=1,
                   data_format="channels_last", bias=None, activation=None):
    """Depthwise convolution: kernel ``(*kernel_size, C, M)``, output channel ``c*M + m``."""
    op = "ops.depthwise_conv"
    x = _checks.native_order(x)
    rank, cfg, act = _common(x, kernel, strides, padding, dilation, data_format,
                             activation, op, "depthwise_conv")
    _check_channels(x, kernel.shape[-2], cfg["data_format"], op)
    kernel = _checks.like_x(x, kernel, "kernel", op)
    bias = _checks.like_x(x, bias, "bias", op, (kernel.shape[-2] * kernel.shape[-1],))
    if _dispatch.is_empty(x):
        return _empty(x, kernel.shape[:rank], cfg, kernel.shape[-2] * kernel.shape[-1], bias,
                      act, op)
    return _dispatch.run("depthwise_conv", x, (kernel,), cfg, bias, act,
                         _channel_axis(cfg["data_format"]), generic.depthwise_conv)


def separable_conv(x, depthwise_kernel, pointwise_kernel, *, strides=1, padding="valid",
                   dilation=1, data_format="channels_last", bias=None, activation=None,
                   precision=None):
    """Depthwise convolution then a pointwise (1x1) one: ``(*k, C, M)`` then ``(*ones, C*M, F)``;
    ``precision`` (for the pointwise GEMM) as for :func:`conv`."""
    op = "ops.separable_conv"
    x = _checks.native_order(x)
    rank, cfg, act = _common(x, depthwise_kernel, strides, padding, dilation, data_format,
                             activation, op, "separable_conv")
    _check_channels(x, depthwise_kernel.shape[-2], cfg["data_format"], op, "depthwise_kernel")
    channels, multiplier = depthwise_kernel.shape[-2:]
    pointwise_shape = (*(1,) * rank, channels * multiplier)
    if (getattr(pointwise_kernel, "ndim", None) != rank + 2
            or tuple(pointwise_kernel.shape[:-1]) != pointwise_shape):
        raise ValueError(f"{op}: pointwise_kernel must have shape {(*pointwise_shape, 'F')}, "
                         f"got {tuple(getattr(pointwise_kernel, 'shape', ()))}")
    depthwise_kernel = _checks.like_x(x, depthwise_kernel, "depthwise_kernel", op)
    pointwise_kernel = _checks.like_x(x, pointwise_kernel, "pointwise_kernel", op)
    bias = _checks.like_x(x, bias, "bias", op, (pointwise_kernel.shape[-1],))
    if _dispatch.is_empty(x):
        return _empty(x, depthwise_kernel.shape[:rank], cfg, pointwise_kernel.shape[-1], bias,
                      act, op)
    return _dispatch.run("separable_conv", x, (depthwise_kernel, pointwise_kernel), cfg, bias,
                         act, _channel_axis(cfg["data_format"]), generic.separable_conv,
                         _precision(precision, op))
