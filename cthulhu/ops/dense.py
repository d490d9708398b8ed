"""``matmul``: the dense layer's op."""

from __future__ import annotations

from cthulhu import config
from cthulhu.ops import _args, _checks, _dispatch, generic


def matmul(x, kernel, bias=None, activation=None, precision=None):
    """``x @ kernel (+ bias)`` over the last axis of ``x`` (any rank >= 2), then ``activation``;
    ``precision`` as for :func:`cthulhu.ops.conv`.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu import ops
    >>> ops.matmul(xp.ones((2, 3)), xp.ones((3, 4)), bias=xp.ones(4), activation="relu")[0, :]
    Array([4., 4., 4., 4.], dtype=array_api_strict.float64)
    """
    op = "ops.matmul"
    x = _checks.native_order(x)
    if getattr(x, "ndim", 0) < 2:
        raise ValueError(f"{op}: x must have at least 2 dimensions, got shape "
                         f"{tuple(getattr(x, 'shape', ()))}")
    if getattr(kernel, "ndim", None) != 2 or kernel.shape[0] != x.shape[-1]:
        raise ValueError(f"{op}: kernel must have shape ({x.shape[-1]}, units) for x of shape "
                         f"{tuple(x.shape)}, got {tuple(getattr(kernel, 'shape', ()))}")
    _checks.float_input(x, op)
    act = _args.activation(activation, op)
    kernel = _checks.like_x(x, kernel, "kernel", op)
    bias = _checks.like_x(x, bias, "bias", op, (kernel.shape[1],))
    if precision is not None:
        precision = config.check_float32_precision(precision, op)
    return _dispatch.run("matmul", x, (kernel,), {}, bias, act, -1, generic.matmul, precision)
