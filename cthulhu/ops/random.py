"""Random masks for the dropout layers, in the input's library, device and dtype.

The random numbers are drawn on the host by a NumPy ``Generator`` (seeded, so a
layer given ``seed=`` reproduces its masks on every library and device) and the
small mask is then moved once to ``x``'s namespace. Layers call this instead of
touching NumPy or branching on the array library.
"""

from __future__ import annotations

__all__ = ["dropout_mask"]


def dropout_mask(x, noise_shape, rate, seed=None):
    """A mask to multiply ``x`` by: ``0`` for dropped units, ``1 / (1 - rate)`` for kept ones.

    Parameters
    ----------
    x : array
        Fixes the library, device and floating dtype of the mask.
    noise_shape : tuple of int
        Shape of the mask (broadcastable to ``x.shape``): 1 on the axes where one
        draw is shared (e.g. ``(batch, 1, channels)`` for spatial dropout).
    rate : float
        Fraction dropped, ``0 <= rate < 1``. Each unit is kept with probability ``1 - rate``.
    seed : int, sequence of int or None
        Seed of the NumPy ``Generator`` (``None``: fresh entropy).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.ops.random import dropout_mask
    >>> m = dropout_mask(xp.ones((2, 3)), (2, 3), 0.5, seed=0)
    >>> sorted(set(float(v) for v in xp.reshape(m, (-1,))))
    [0.0, 2.0]
    """
    import array_api_compat
    import numpy as np

    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout_mask: rate must be in [0, 1), got {rate!r}")
    noise_shape = tuple(int(n) for n in noise_shape)
    rng = np.random.default_rng(seed)
    keep = rng.random(noise_shape) >= rate
    host = keep.astype(np.float64) / (1.0 - rate)
    xp = array_api_compat.array_namespace(x)
    return xp.asarray(host, dtype=x.dtype, device=array_api_compat.device(x))
