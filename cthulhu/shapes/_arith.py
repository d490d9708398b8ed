"""Integer helpers that work on every kind of size (``Dim``): int, None or a symbol.

The length formulas in this package use only ``+ - *``, ``//`` and the helpers
below, so that they run unchanged on the symbolic sizes of
``cthulhu.shapes.symbolic`` (which only have to implement that protocol:
arithmetic operators, ``require_at_least(minimum, what)`` and optionally
``max(other)``). ``None`` (an unknown size) in any argument gives ``None`` out.
"""

import operator

from .errors import ShapeTypeError, shape_error

__all__ = ["is_int", "is_symbolic", "is_dim", "ceildiv", "at_least", "smax", "check_dim",
           "MAX_SIZE", "check_size_limit"]

#: The largest size a layer argument may give (``filters``, ``units``, ``kernel_size``,
#: up-sampling factors, paddings, ...): 2**31 - 1. A weight or output axis beyond it
#: could never be allocated next to anything else, and the CUDA kernels and the BLAS
#: cthulhu calls index with 32-bit integers. Refusing it at construction beats a
#: ``MemoryError`` or ``OverflowError`` at the first call.
MAX_SIZE = 2**31 - 1


def check_size_limit(value, name, owner=None, shown=None):
    """``value`` (an int) unchanged, or a ``ShapeError`` when it exceeds :data:`MAX_SIZE`."""
    if value > MAX_SIZE:
        shown = value if shown is None else shown
        raise shape_error(owner, f"{name} must be at most {MAX_SIZE} (2**31 - 1), "
                                 f"got {shown!r}")
    return value


def is_int(value) -> bool:
    """A plain integer (``bool`` excluded: ``True`` is not a size)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_symbolic(value) -> bool:
    """A symbolic size: anything that implements the ``require_at_least`` protocol."""
    return hasattr(value, "require_at_least")


def is_dim(value) -> bool:
    return value is None or is_int(value) or is_symbolic(value)


def ceildiv(a, b):
    """``ceil(a / b)`` in integer arithmetic; ``None`` if either is ``None``.

    Written as ``-((-a) // b)`` so that symbols only need negation and floor division.
    """
    if a is None or b is None:
        return None
    return -((-a) // b)


def at_least(value, minimum, what, owner=None):
    """Require ``value >= minimum`` and return ``value``.

    An ``int`` below ``minimum`` raises ``ShapeError``; ``None`` passes through;
    a symbol records the condition (``value.require_at_least``) and returns the
    symbol it gives back.
    """
    if value is None:
        return None
    if is_int(value):
        if value < minimum:
            raise shape_error(owner, f"{what} must be at least {minimum}, got {value}")
        return value
    if is_symbolic(value):
        return value.require_at_least(minimum, what)
    raise shape_error(owner, f"{what} must be an int, None or a symbolic size, got {value!r}",
                      ShapeTypeError)


def smax(a, b, what="value", owner=None):
    """``max(a, b)`` for sizes; a symbol must offer ``.max(other)``."""
    if a is None or b is None:
        return None
    if is_int(a) and is_int(b):
        return max(a, b)
    for x, y in ((a, b), (b, a)):
        if hasattr(x, "max"):
            return x.max(y)
    raise shape_error(owner, f"{what} = max({a}, {b}) cannot be computed symbolically; "
                             "bind the symbols first")


def check_dim(value, what, owner=None):
    """A size as the algebra wants it: an int >= 0, ``None`` or a symbol.

    Integer-like objects (NumPy integers, via ``__index__``) become ``int``, and a
    float NaN becomes ``None``: that is how Dask reports an unknown chunk size.
    Anything else is an error.
    """
    if value.__class__ is int and value >= 0:
        return value                            # the common case
    if value is None or is_symbolic(value):
        return value
    if isinstance(value, float) and value != value:
        return None
    if not is_int(value):
        converted = None
        if not isinstance(value, bool):
            try:
                converted = operator.index(value)
            except TypeError:
                pass
        if converted is None:
            raise shape_error(owner, f"{what} must be an int, None or a symbolic size, "
                                     f"got {value!r}", ShapeTypeError)
        value = converted
    if value < 0:
        raise shape_error(owner, f"{what} must not be negative, got {value}")
    return value
