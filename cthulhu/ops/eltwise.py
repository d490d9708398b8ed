"""Element-wise ops routed by the device registry: ``add`` (a residual sum and the
activation after it, :class:`cthulhu.layers.Add` with a folded activation) and
``affine`` (a per-channel ``x * scale + shift``: a batch norm at inference that no
producer folded)."""

from __future__ import annotations

from array_api_compat import array_namespace

from cthulhu.devices.base import Epilogue
from cthulhu.devices.registry import registry
from cthulhu.ops._dispatch import NO_EPILOGUE, apply_epilogue

__all__ = ["add", "affine"]


def add(xs, epilogue: Epilogue = NO_EPILOGUE):
    """``xs[0] + xs[1] + ...`` (arrays of one library that broadcast, summed in that
    order), then ``epilogue``'s activation (an epilogue of an activation alone).

    A plugin's ``"add"`` (``impl(xs, epilogue=...)``) may compute the sum in one fresh
    array and apply the activation in place: the same arithmetic, one output buffer
    instead of two; ``NotImplemented`` (or no plugin) runs the Array API code here.
    """
    impl = registry.lookup(xs[0], "add")
    if impl is not None:
        out = impl(xs, epilogue=epilogue)
        if out is not NotImplemented:
            return out
    y = xs[0]
    for x in xs[1:]:
        y = y + x
    return apply_epilogue(y, epilogue, -1)


def affine(x, scale, shift, axis: int, epilogue: Epilogue = NO_EPILOGUE):
    """``x * scale + shift`` with 1-D ``scale`` and ``shift`` (``x``'s library, length
    ``x.shape[axis]``) along ``axis``, rounded after the product and after the sum, then
    ``epilogue``'s activation (an epilogue of an activation alone).

    A plugin's ``"affine"`` (``impl(x, scale, shift, axis=..., epilogue=...)``) may do it
    in one pass over the memory; ``NotImplemented`` (or no plugin) runs the Array API
    code here.
    """
    axis = axis % x.ndim
    impl = registry.lookup(x, "affine")
    if impl is not None:
        out = impl(x, scale, shift, axis=axis, epilogue=epilogue)
        if out is not NotImplemented:
            return out
    xp = array_namespace(x)
    shape = tuple(-1 if i == axis else 1 for i in range(x.ndim))
    y = x * xp.reshape(scale, shape)
    y = y + xp.reshape(shift, shape)
    return apply_epilogue(y, epilogue, -1)
