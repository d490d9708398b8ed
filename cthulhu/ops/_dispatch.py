"""Routing one op call: plugin first, generic Array API code when none serves or it declines."""

from __future__ import annotations

from cthulhu.devices.registry import registry

# ops whose signature has no bias/activation
_NO_BIAS = frozenset({"upsample"})


def finish(y, bias, activation, channel_axis: int):
    """Add ``bias`` along ``channel_axis`` and apply ``activation`` (``None`` or ``"relu"``)."""
    if bias is None and activation is None:
        return y
    from array_api_compat import array_namespace, device

    xp = array_namespace(y)
    if bias is not None:
        axis = channel_axis % y.ndim
        shape = [1] * y.ndim
        shape[axis] = bias.shape[0]
        y = y + xp.reshape(bias, tuple(shape))
    if activation == "relu":
        y = xp.maximum(y, xp.zeros((), dtype=y.dtype, device=device(y)))
    return y


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


def empty_result(x, out_shape, bias, activation, channel_axis: int):
    """The result of an op on an input with nothing in it: zeros of ``out_shape``, then
    ``bias`` and ``activation`` (an empty sum is 0, so this is the op's exact value).

    The kernels and the block planners assume non-empty inputs; every device
    returns this same array instead, so NumPy, Dask and generic agree.
    """
    return finish(zeros_for(x, out_shape), bias, activation, channel_axis)


def run(op: str, x, arrays: tuple, cfg: dict, bias, activation, channel_axis: int, generic,
        precision=None):
    """Call the plugin's ``op`` for ``x`` if there is one and it accepts, else ``generic``.

    ``precision`` (one of ``cthulhu.config.FLOAT32_PRECISIONS``, checked by the caller)
    overrides the float32 precision for this call only: plugins read it with
    ``cthulhu.config.float32_precision()``.
    """
    if precision is not None:
        from cthulhu import config

        with config.float32_precision_scope(precision):
            return run(op, x, arrays, cfg, bias, activation, channel_axis, generic)
    impl = registry.lookup(x, op)
    if impl is not None:
        fused = getattr(impl, "cthulhu_fuses", ())
        if op in _NO_BIAS:
            out = impl(x, *arrays, **cfg)
        else:
            out = impl(x, *arrays, bias=bias if "bias" in fused else None,
                       activation=activation if "activation" in fused else None, **cfg)
        if out is not NotImplemented:
            return finish(out, None if "bias" in fused else bias,
                          None if "activation" in fused else activation, channel_axis)
    out = generic(x, *arrays, **cfg)
    return finish(out, bias, activation, channel_axis)
