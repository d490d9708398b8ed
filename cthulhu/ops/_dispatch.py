"""The epilogue and empty results, in Array API code (what the op applies after a plugin)."""

from __future__ import annotations

from cthulhu.devices.base import NO_EPILOGUE, Epilogue
from cthulhu.ops import _args, _checks

__all__ = ["NO_EPILOGUE", "checked_epilogue", "apply_epilogue", "is_empty", "zeros_for",
           "empty_result"]


def checked_epilogue(x, channels, label, bias, activation, scale=None, shift=None, alpha=0.0):
    """The call's :class:`~cthulhu.devices.base.Epilogue`: ``bias``, ``scale`` and ``shift``
    of shape ``(channels,)`` cast to ``x``'s dtype, the activation checked."""
    act = _args.activation(activation, label)
    slope = _args.alpha(alpha, act, label)
    shape = (channels,)
    bias = _checks.like_x(x, bias, "bias", label, shape)
    scale = _checks.like_x(x, scale, "scale", label, shape)
    shift = _checks.like_x(x, shift, "shift", label, shape)
    if bias is None and scale is None and shift is None and act is None:
        return NO_EPILOGUE
    return Epilogue(bias=bias, scale=scale, shift=shift, activation=act, alpha=slope)


def apply_epilogue(y, epilogue: Epilogue, channel_axis: int):
    """``epilogue`` applied to ``y`` along ``channel_axis`` (``bias``, ``scale``, ``shift``,
    then the activation); ``y`` itself when it is empty."""
    if epilogue.empty:
        return y
    from array_api_compat import array_namespace, device

    xp = array_namespace(y)
    shape = None
    for part in ("bias", "scale", "shift"):
        value = getattr(epilogue, part)
        if value is None:
            continue
        if shape is None:
            shape = [1] * y.ndim
            shape[channel_axis % y.ndim] = value.shape[0]
            shape = tuple(shape)
        value = xp.reshape(value, shape)
        y = y * value if part == "scale" else y + value
    act = epilogue.activation
    if act is None:
        return y
    zero = xp.zeros((), dtype=y.dtype, device=device(y))
    if act == "relu":
        return xp.maximum(y, zero)
    if act == "relu6":
        return xp.minimum(xp.maximum(y, zero), xp.full((), 6, dtype=y.dtype, device=device(y)))
    if act == "leaky_relu":
        return xp.where(y >= zero, y, y * epilogue.alpha)
    if act == "sigmoid":
        return 1 / (1 + xp.exp(-y))
    if act == "tanh":
        return xp.tanh(y)
    raise ValueError(f"unknown epilogue activation {act!r}")


def is_empty(x) -> bool:
    """Whether ``x`` has a zero-size axis (unknown sizes, e.g. Dask's NaN, are not zero)."""
    return any(n == 0 for n in x.shape)


def zeros_for(x, shape, dtype=None):
    """Zeros of ``shape`` in ``x``'s library, device and dtype (default ``x.dtype``).

    A shape with a zero-size axis is broadcast from one zero: Dask cannot choose
    chunks for an empty shape whose other axes are large (a division by zero),
    and an empty array holds nothing to write to.
    """
    from array_api_compat import array_namespace, device

    xp = array_namespace(x)
    dtype = x.dtype if dtype is None else dtype
    shape = tuple(shape)
    if any(n == 0 for n in shape):
        one = xp.zeros((1,) * len(shape), dtype=dtype, device=device(x))
        return xp.broadcast_to(one, shape)
    return xp.zeros(shape, dtype=dtype, device=device(x))


def empty_result(x, out_shape, epilogue: Epilogue, channel_axis: int):
    """The result of an op on an input with nothing in it: zeros of ``out_shape``, then
    the ``epilogue`` (an empty sum is 0, so this is the op's exact value).

    The kernels and the block planners assume non-empty inputs; every device
    returns this same array instead, so NumPy, Dask and generic agree.
    """
    return apply_epilogue(zeros_for(x, out_shape), epilogue, channel_axis)
