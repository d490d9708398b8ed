"""Inverse questions: which input sizes give an output size, and which sizes a chain keeps.

Along one spatial axis a chain maps an input length ``n`` to an output length
``f(n)``. Every layer's length formula is non-decreasing in ``n`` (floor and
ceiling divisions, products, sums), and a length valid for ``n`` is valid for
``n + 1``, so ``f`` is non-decreasing on the ``n`` it accepts. The input
lengths giving an output length ``m`` therefore form one interval (empty,
one value or several, since floor division is many-to-one), found by binary
search on ``f`` computed with the one-axis formulas of this package.

``layers`` below is what :func:`cthulhu.shapes.chain` accepts (layer objects,
spec dicts, a model) or a :class:`~cthulhu.shapes.chain.Chain`. ``axis`` is a
spatial axis number (0-based); ``None`` means every spatial axis.
"""

from .chain import Chain, _as_specs, chain
from .errors import ShapeError
from .kinds import get_kind

__all__ = ["axis_length", "output_length", "input_sizes", "returns_to_input",
           "nearest_valid_sizes"]


def _as_chain(layers):
    if isinstance(layers, Chain):
        return layers
    specs = _as_specs(layers)
    rank = next((s["rank"] for s in specs if "rank" in s), 1)
    return chain(specs, (None,) * (rank + 2))


def axis_length(layers, axis=0):
    """The function ``n -> f(n)`` of one spatial axis; it returns ``None`` for an ``n`` too small.

    >>> from cthulhu.shapes.spec import spec_from_config
    >>> f = axis_length([spec_from_config("Cthalpa1D", {"filters": 1, "kernel_size": 3})])
    >>> f(10), f(2)
    (8, None)
    """
    c = _as_chain(layers)
    _check_axis(c, axis)
    specs = c.specs[:c.spatial_layers]
    fns = [fn for fn in (get_kind(spec["kind"]).length_fn(spec, axis) for spec in specs) if fn]

    def f(n):
        try:
            for fn in fns:
                n = fn(n)
        except ShapeError:
            return None
        return n

    return f


def _check_axis(c, axis):
    rank = len(c.spatial_axes)
    if not (isinstance(axis, int) and 0 <= axis < rank):
        raise ShapeError(f"axis must be a spatial axis number in 0..{rank - 1}, got {axis!r}")


def _axes(c, axis):
    if axis is None:
        return range(len(c.spatial_axes))
    _check_axis(c, axis)
    return (axis,)


def output_length(layers, n, axis=0):
    """``f(n)`` along one spatial axis, or ``None`` when the chain rejects ``n``."""
    return axis_length(layers, axis)(n)


def _first(f, pred, lo=0):
    """The smallest ``n >= lo`` with ``pred(f(n))``; ``pred`` must be monotone in ``n``."""
    hi = max(lo, 1)
    while not pred(f(hi)):
        lo, hi = hi + 1, hi * 2
        if hi > 1 << 62:
            raise ShapeError("no input size found (the chain never reaches it)")
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(f(mid)):
            hi = mid
        else:
            lo = mid + 1
    return lo


def input_sizes(layers, output_size, axis=None):
    """The input lengths giving ``output_size`` along a spatial axis, as a ``range``.

    Parameters
    ----------
    layers : chain-like
    output_size : int, or a sequence of ints (one per spatial axis, with ``axis=None``)
    axis : int or None

    Returns
    -------
    range, or a tuple of ranges when ``axis`` is None
        Empty when no input length gives that output (e.g. an odd length
        after a 2x up-sampling).

    Examples
    --------
    >>> from cthulhu.shapes.spec import spec_from_config
    >>> down = spec_from_config("Cthalpa1D", {"filters": 1, "kernel_size": 3, "strides": 2})
    >>> input_sizes([down], 4, axis=0)
    range(9, 11)
    """
    c = _as_chain(layers)
    if axis is None:
        sizes = tuple(output_size) if isinstance(output_size, (list, tuple)) \
            else (output_size,) * len(c.spatial_axes)
        if len(sizes) != len(c.spatial_axes):
            raise ShapeError(f"one output size per spatial axis ({len(c.spatial_axes)}) "
                             f"is needed, got {output_size!r}")
        return tuple(input_sizes(c, m, j) for j, m in enumerate(sizes))
    if not isinstance(output_size, int) or output_size < 0:
        raise ShapeError(f"output_size must be an int >= 0, got {output_size!r}")
    f = axis_length(c, axis)
    n_min = _first(f, lambda v: v is not None)
    lo = _first(f, lambda v: v is not None and v >= output_size, n_min)
    hi = _first(f, lambda v: v is not None and v >= output_size + 1, lo)
    return range(lo, hi)


def returns_to_input(layers, n, axis=None):
    """Whether the chain's output length equals ``n`` (on ``axis``, or on every spatial axis).

    For a U-Net's down and up paths this says whether an input of length
    ``n`` comes back with the same length.
    """
    c = _as_chain(layers)
    return all(axis_length(c, j)(n) == n for j in _axes(c, axis))


def nearest_valid_sizes(layers, n, axis=None, limit=100_000):
    """The nearest lengths ``<= n`` and ``>= n`` that the chain returns unchanged.

    Returns ``(below, above)``; either is ``None`` when no such length lies
    within ``limit`` of ``n`` (or below 0).

    >>> from cthulhu.shapes.spec import spec_from_config as spec
    >>> unet = [spec("Cthalpa2D", {"filters": 4, "kernel_size": 3, "padding": "same",
    ...                            "strides": 2}), spec("UbboSathla2D", {"size": 2})]
    >>> nearest_valid_sizes(unet, 101)
    (100, 102)
    """
    c = _as_chain(layers)
    fns = [axis_length(c, j) for j in _axes(c, axis)]

    def keeps(m):
        return all(f(m) == m for f in fns)

    below = next((m for m in range(n, max(-1, n - limit - 1), -1) if keeps(m)), None)
    above = next((m for m in range(n, n + limit + 1) if keeps(m)), None)
    return below, above
