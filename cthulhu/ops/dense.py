"""``matmul``: the dense layer's op."""

from __future__ import annotations

import functools

from cthulhu.devices.base import Epilogue
from cthulhu.devices.registry import registry
from cthulhu.ops import _args, _checks, generic
from cthulhu.ops._dispatch import NO_EPILOGUE, apply_epilogue, checked_epilogue
from cthulhu.ops._op import GeometryCache, Op, check_precision
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

    def __init__(self):
        self._cache = GeometryCache()
        self._geometries = self._cache._store    # read directly on the hot path

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
        return _geometry(x.shape, kernel.shape[1])

    def generic(self, x, kernel, *, geometry):
        return generic.matmul(x, kernel, geometry=geometry)

    def _operands(self, x, kernel):
        """``x`` in native byte order and ``kernel`` in ``x``'s library, both checked."""
        x = _checks.native_order(x)
        if getattr(x, "ndim", 0) < 2 or getattr(kernel, "ndim", None) != 2 \
                or kernel.shape[0] != x.shape[-1]:
            self._check(x, kernel)              # raises, naming what is wrong
        _checks.float_input(x, self.label)
        return x, _checks.like_x(x, kernel, "kernel", self.label)

    def __call__(self, x, kernel, bias=None, activation=None, precision=None, scale=None,
                 shift=None, alpha=0.0):
        label = self.label
        x, kernel = self._operands(x, kernel)
        units = kernel.shape[1]
        precision = check_precision(precision, label)
        key = (x.shape, units)
        geometry = self._geometries.get(key)
        if geometry is None:
            geometry = self._cache.get(key, _geometry, x.shape, units)
        if scale is None and shift is None and alpha == 0.0:
            # the dense layer's own bias and activation: checked inline (the hot path)
            act = _args.activation(activation, label)
            bias = _checks.like_x(x, bias, "bias", label, (units,))
            epilogue = (NO_EPILOGUE if bias is None and act is None
                        else _new_epilogue(Epilogue, (bias, None, None, act, 0.0)))
        else:
            epilogue = checked_epilogue(x, units, label, bias, activation, scale, shift, alpha)
        bias, _, _, act, _ = epilogue
        if precision is not None:
            return self.run(x, (kernel,), geometry, epilogue, precision)
        impl = registry.lookup(x, "matmul")
        if impl is not None:
            fusion = getattr(impl, "cthulhu_fuses", None)
            if fusion is not None and (bias is None or "bias" in fusion.parts) \
                    and (act is None or act in fusion.activations) \
                    and epilogue.scale is None and epilogue.shift is None:
                fused, rest = epilogue, NO_EPILOGUE     # the common case, decided inline
            else:
                fused, rest = epilogue.split(fusion)
            out = impl(x, kernel, geometry=geometry, epilogue=fused)
            if out is not NotImplemented:
                return out if rest is NO_EPILOGUE else apply_epilogue(out, rest, -1)
        return apply_epilogue(generic.matmul(x, kernel, geometry=geometry), epilogue, -1)


    def plan(self, x, kernel, bias=None, activation=None):
        """``run`` with ``run(x2) == self(x2, kernel, bias=bias, activation=activation)``,
        the arguments checked here, once (raising as the call would): for an ``x2`` of
        ``x``'s shape and dtype (in native byte order) ``run`` goes straight to the
        plugin, for any other through the checked call. For a layer that calls with the
        same input kind and weights again and again (a batch-1 dense layer, where the
        checks cost as much as the product): it keeps ``run`` for them.

        ``run`` asks the registry on every call (a dict lookup), so a plugin
        registered or preferred later is used as by a plain call.
        """
        label = self.label
        x, kernel = self._operands(x, kernel)
        units = kernel.shape[1]
        act = _args.activation(activation, label)
        bias = _checks.like_x(x, bias, "bias", label, (units,))
        geometry = self._cache.get((x.shape, units), _geometry, x.shape, units)
        impl = registry.lookup(x, "matmul")
        fusion = getattr(impl, "cthulhu_fuses", None)
        if fusion is None or (bias is not None and "bias" not in fusion.parts) \
                or (act is not None and act not in fusion.activations):
            return functools.partial(self, kernel=kernel, bias=bias, activation=act)
        epilogue = (NO_EPILOGUE if bias is None and act is None
                    else _new_epilogue(Epilogue, (bias, None, None, act, 0.0)))

        shape, dtype = x.shape, x.dtype

        def run(x):
            # anything else than what was checked here takes the checked call
            if getattr(x, "shape", None) == shape and getattr(x, "dtype", None) is dtype \
                    and registry.lookup(x, "matmul") is impl:
                out = impl(x, kernel, geometry=geometry, epilogue=epilogue)
                if out is not NotImplemented:
                    return out
            return self(x, kernel, bias=bias, activation=act)

        return run


# An Epilogue from its five fields without the keyword handling of its constructor.
_new_epilogue = tuple.__new__


def _geometry(shape, units):
    return MatmulGeometry(tuple(shape[:-1]), shape[-1], units)


MATMUL = MatmulOp()


def matmul(x, kernel, bias=None, activation=None, precision=None, scale=None, shift=None,
           alpha=0.0):
    """``x @ kernel (+ bias)`` over the last axis of ``x`` (any rank >= 2), then ``activation``;
    ``precision`` and the rest of the epilogue (``scale``, ``shift``, ``alpha``) as for
    :func:`cthulhu.ops.conv`.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu import ops
    >>> ops.matmul(xp.ones((2, 3)), xp.ones((3, 4)), bias=xp.ones(4), activation="relu")[0, :]
    Array([4., 4., 4., 4.], dtype=array_api_strict.float64)
    """
    return MATMUL(x, kernel, bias=bias, activation=activation, precision=precision,
                  scale=scale, shift=shift, alpha=alpha)
