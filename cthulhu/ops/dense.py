"""``matmul``: the dense layer's op."""

from __future__ import annotations

from cthulhu.devices.base import Epilogue, fusion_of
from cthulhu.devices.registry import registry
from cthulhu.ops import _args, _checks, generic
from cthulhu.ops._dispatch import NO_EPILOGUE, apply_epilogue
from cthulhu.ops._op import Op, check_precision
from cthulhu.shapes.geometry import MatmulGeometry

__all__ = ["MatmulOp", "MATMUL", "matmul"]


class MatmulOp(Op):
    """``matmul``: ``x @ kernel`` over the last axis of ``x``, kernel ``(in, out)``.

    Empty inputs go to the plugins (NumPy and the generic code handle them). A batch-1
    dense layer spends most of its time in this front-end, so the call path is
    written out here rather than through :meth:`Op.run`'s general one.
    """

    name, label = "matmul", "ops.matmul"
    empty_shortcut = False

    def _check(self, x, kernel):
        label = self.label
        if getattr(x, "ndim", 0) < 2:
            raise ValueError(f"{label}: x must have at least 2 dimensions, got shape "
                             f"{tuple(getattr(x, 'shape', ()))}")
        if getattr(kernel, "ndim", None) != 2 or kernel.shape[0] != x.shape[-1]:
            raise ValueError(f"{label}: kernel must have shape ({x.shape[-1]}, units) for x of "
                             f"shape {tuple(x.shape)}, got {tuple(getattr(kernel, 'shape', ()))}")
        _checks.float_input(x, label)

    def geometry(self, x, kernel):
        self._check(x, kernel)
        return MatmulGeometry(tuple(x.shape[:-1]), x.shape[-1], kernel.shape[1])

    def generic(self, x, kernel, *, geometry):
        return generic.matmul(x, kernel, geometry=geometry)

    def __call__(self, x, kernel, bias=None, activation=None, precision=None):
        label = self.label
        x = _checks.native_order(x)
        self._check(x, kernel)
        act = _args.activation(activation, label)
        kernel = _checks.like_x(x, kernel, "kernel", label)
        bias = _checks.like_x(x, bias, "bias", label, (kernel.shape[1],))
        precision = check_precision(precision, label)
        geometry = MatmulGeometry(tuple(x.shape[:-1]), x.shape[-1], kernel.shape[1])
        epilogue = NO_EPILOGUE if bias is None and act is None else Epilogue(bias, None, None,
                                                                             act)
        if precision is not None:
            return self.run(x, (kernel,), geometry, epilogue, precision)
        impl = registry.lookup(x, "matmul")
        if impl is not None:
            fused, rest = epilogue.split(fusion_of(impl))
            out = impl(x, kernel, geometry=geometry, epilogue=fused)
            if out is not NotImplemented:
                return out if rest.empty else apply_epilogue(out, rest, -1)
        return apply_epilogue(generic.matmul(x, kernel, geometry=geometry), epilogue, -1)


MATMUL = MatmulOp()


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
    return MATMUL(x, kernel, bias=bias, activation=activation, precision=precision)
