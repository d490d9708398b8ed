"""The :class:`Op` base: one object per heavy operation, owning its geometry.

An op's call runs in three steps:

1. **Check once.** The front-end checks the arrays and arguments (ranks, channel
   counts, dtypes, the kind's padding rule from :mod:`cthulhu.shapes`) and builds the
   call's frozen *geometry* with a :mod:`cthulhu.shapes.geometry` builder: every pad,
   output size and axis, explicit. Nothing below derives one again.
2. **Route.** :meth:`Op.run` asks the device registry for ``x``'s plugin callable and
   calls ``impl(x, *weights, geometry=..., epilogue=...)`` with the epilogue parts it
   declared with :func:`cthulhu.devices.fuses`; without a plugin, or when it returns
   ``NotImplemented``, the generic Array API implementation (:meth:`Op.generic`, which
   fuses nothing) runs.
3. **Finish.** The op applies the rest of the epilogue (bias, scale, shift,
   activation) to the result.

An input with a zero-size axis never reaches a plugin: the op returns zeros of the
geometry's output shape with the epilogue applied (``_dispatch.empty_result``).
"""

from __future__ import annotations

from cthulhu import config
from cthulhu.devices.base import fusion_of
from cthulhu.devices.registry import registry
from cthulhu.ops._dispatch import NO_EPILOGUE, apply_epilogue, empty_result


class GeometryCache:
    """Geometries by the *normalised* arguments and shapes they were built from.

    A builder's result depends on nothing else, and a batch-1 model calls the same op
    with the same shapes again and again: the second call looks its geometry up
    (a dict lookup) instead of building it (microseconds of Python). Only arguments
    that passed the op's checks make a key, so no error is ever skipped; an argument
    that cannot be hashed builds every time.
    """

    LIMIT = 512

    def __init__(self):
        self._store = {}

    def clear(self):
        self._store.clear()

    def get(self, key, build, *args):
        """``build(*args)``, remembered under ``key``."""
        try:
            return self._store[key]
        except KeyError:
            pass
        except TypeError:           # an unhashable part (an exotic shape object)
            return build(*args)
        geometry = build(*args)
        if len(self._store) >= self.LIMIT:
            self.clear()            # shapes that vary without end: keep the memory bounded
        self._store[key] = geometry
        return geometry


def check_precision(value, label):
    """``None`` or a checked ``cthulhu.config.FLOAT32_PRECISIONS`` name."""
    return None if value is None else config.check_float32_precision(value, label)


class Op:
    """One heavy operation (see the module docstring).

    Attributes
    ----------
    name : str
        The name the device registry knows it by (``Plugin.get(name)``).
    label : str
        The owner named in error messages (``"ops.conv"``).
    empty_shortcut : bool
        Whether an input with a zero-size axis gets :func:`empty_result` instead of a
        plugin call (``matmul`` lets its plugins handle empty inputs).
    vjp : callable or None
        The backward pass (vector-Jacobian product) of the op: ``None`` today.
        Training fills it op by op as ``vjp(x, *weights, geometry, cotangent) ->
        (dx, *dweights)``, reading the same geometry the forward call used, so a
        gradient never re-derives a padding either.
    """

    name: str = ""
    label: str = ""
    empty_shortcut = True
    vjp = None

    def geometry(self, x, *weights, **args):
        """The call's geometry (a :mod:`cthulhu.shapes.geometry` object), every argument
        checked once; raises ``ValueError``/``TypeError`` naming :attr:`label`."""
        raise NotImplementedError

    def generic(self, x, *weights, geometry):
        """The generic Array API implementation (fuses no epilogue)."""
        raise NotImplementedError

    def reference(self, x, *weights, **args):
        """The generic implementation on arguments as the public op takes them (checked
        by :meth:`geometry`), without an epilogue: what tests compare plugins with."""
        return self.generic(x, *weights, geometry=self.geometry(x, *weights, **args))

    def run(self, x, weights, geometry, epilogue=NO_EPILOGUE, precision=None):
        """The op on checked arrays (``x`` and ``weights`` of one library and dtype) and
        its ``geometry``: a plugin or the generic code, then the rest of ``epilogue``.

        ``precision`` (checked) overrides ``cthulhu.config.float32_precision()`` for
        this call; plugins read the setting, they never receive it.
        """
        if precision is not None:
            with config.float32_precision_scope(precision):
                return self.run(x, weights, geometry, epilogue)
        axis = geometry.channel_axis
        if self.empty_shortcut and 0 in x.shape:
            return empty_result(x, geometry.out_shape, epilogue, axis)
        impl = registry.lookup(x, self.name)
        if impl is not None:
            fused, rest = epilogue.split(fusion_of(impl))
            out = impl(x, *weights, geometry=geometry, epilogue=fused)
            if out is not NotImplemented:
                return out if rest is NO_EPILOGUE else apply_epilogue(out, rest, axis)
        out = self.generic(x, *weights, geometry=geometry)
        return apply_epilogue(out, epilogue, axis)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
