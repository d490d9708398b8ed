"""Element-wise ops routed by the device registry: ``add`` (a residual sum and the
activation after it, :class:`cthulhu.layers.Add` with a folded activation)."""

from __future__ import annotations

from cthulhu.devices.base import Epilogue
from cthulhu.devices.registry import registry
from cthulhu.ops._dispatch import NO_EPILOGUE, apply_epilogue

__all__ = ["add"]


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
