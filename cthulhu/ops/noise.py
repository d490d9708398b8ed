"""Random noise for the noise layers, in the input's library, device and dtype.

As :mod:`cthulhu.ops.random` (the dropout masks), the numbers are drawn on the
host by a seeded NumPy ``Generator``, so a layer given ``seed=`` draws the same
noise on every library and device, and the array is then moved once to ``x``'s
namespace. Layers call these instead of touching NumPy or branching on the
array library.
"""

from __future__ import annotations

__all__ = ["normal", "keep_mask"]


def _to_namespace_of(x, host):
    import array_api_compat

    xp = array_api_compat.array_namespace(x)
    return xp.asarray(host, dtype=x.dtype, device=array_api_compat.device(x))


def normal(x, shape, mean=0.0, stddev=1.0, seed=None):
    """Normal noise of ``shape`` with ``mean`` and ``stddev``, as an array like ``x``.

    Parameters
    ----------
    x : array
        Fixes the library, device and floating dtype of the result.
    shape : tuple of int
    mean, stddev : float
    seed : int, sequence of int or None
        Seed of the NumPy ``Generator`` (``None``: fresh entropy).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.ops.noise import normal
    >>> n = normal(xp.zeros((2, 3)), (2, 3), 1.0, 0.0, seed=0)
    >>> sorted({float(v) for v in xp.reshape(n, (-1,))})
    [1.0]
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    host = rng.standard_normal(tuple(int(n) for n in shape)) * float(stddev) + float(mean)
    return _to_namespace_of(x, host)


def keep_mask(x, shape, rate, seed=None):
    """``1`` where a unit is kept (probability ``1 - rate``), ``0`` where it is dropped.

    The draws are those of :func:`cthulhu.ops.random.dropout_mask` for the same
    seed (a uniform number ``>= rate`` keeps the unit, as Keras does).

    >>> import array_api_strict as xp
    >>> from cthulhu.ops.noise import keep_mask
    >>> sorted({float(v) for v in xp.reshape(keep_mask(xp.ones((4, 4)), (4, 4), 0.5, 1), (-1,))})
    [0.0, 1.0]
    """
    import numpy as np

    if not 0.0 <= rate < 1.0:
        raise ValueError(f"keep_mask: rate must be in [0, 1), got {rate!r}")
    rng = np.random.default_rng(seed)
    keep = rng.random(tuple(int(n) for n in shape)) >= rate
    return _to_namespace_of(x, keep.astype(np.float64))
