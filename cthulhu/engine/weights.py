"""``Weight``: one weight of a layer, its home array and its converted copies.

The contract every layer's weights follow:

- **a home array** of fixed shape and dtype (the dtype a NumPy dtype, the layer's
  ``dtype`` unless ``add_weight`` said otherwise). It is a NumPy array in the Keras
  layout by default (what ``add_weight`` creates and ``load_model`` reads); ``set_weights``
  installs any Array API array as the home in its own library and on its own device (a
  copy, cast to the weight's dtype). Lazy arrays (Dask) are computed into NumPy: a home
  holds values, not a task graph.
- **converted copies**, one per (library, device, dtype) of the arrays the layer is
  called on, made on first use (``Layer.weight_as``) and forgotten whenever the home
  changes (:meth:`Weight.assign`, or :meth:`Weight.changed` after writing into it).
- **a NumPy view for the host**: :meth:`Weight.numpy` goes through
  :func:`cthulhu.engine.utils.to_numpy` (the array's device plugin makes the host
  copy); ``get_weights`` returns copies of it.

Examples
--------
>>> import numpy as np
>>> import array_api_strict as xps
>>> w = Weight("kernel", np.zeros((2, 3), np.float32))
>>> w.assign(xps.ones((2, 3), device=xps.Device("device1")))    # the home moves to device1
>>> type(w.value).__module__.split(".")[0], w.dtype, w.shape
('array_api_strict', dtype('float32'), (2, 3))
>>> w.like(np.ones((1, 2), np.float64)).dtype                     # a NumPy float64 copy
dtype('float64')
>>> float(w.numpy().sum())
6.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cthulhu.engine.utils import _convert, _device_key, _is_floating, to_numpy


class Weight:
    """One weight of a layer: its home array, what applies to it, and converted copies.

    Parameters
    ----------
    name : str
        Unique within the layer (``'kernel'``, ``'bias'``, ...).
    value : array
        The home array; its shape and dtype become the weight's.
    trainable : bool
    regularizer, constraint : callable or None
        Applied by ``Layer.losses`` and ``Layer.apply_constraints``.
    """

    __slots__ = ("name", "trainable", "regularizer", "constraint", "shape", "dtype", "_home",
                 "_copies", "version")

    def __init__(self, name: str, value, trainable: bool = True, regularizer: Any = None,
                 constraint: Any = None):
        self.name = name
        self.trainable = bool(trainable)
        self.regularizer = regularizer
        self.constraint = constraint
        self.shape = tuple(int(d) for d in value.shape)
        self.dtype = _numpy_dtype(value)
        self._home = value
        self._copies: dict = {}
        #: counts the changes of the home: values derived from it are stale when it moves
        self.version = 0

    def __repr__(self):
        return f"<Weight {self.name!r} shape={self.shape} dtype={self.dtype}>"

    @property
    def value(self):
        """The home array (NumPy unless ``assign`` was given another library's array)."""
        return self._home

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def numpy(self) -> np.ndarray:
        """The home as a NumPy array (the home itself when it is one; no copy promised)."""
        return to_numpy(self._home)

    def changed(self) -> None:
        """Forget the converted copies: the home's values were written in place."""
        self._copies = {}
        self.version += 1

    def assign(self, array) -> None:
        """A new home: a copy of ``array`` in its own library and device, cast to ``dtype``.

        ``array``'s shape must be the weight's (the caller checks it and names the layer).
        """
        self._home = _home_copy(array, self.dtype)
        self._copies = {}
        self.version += 1

    def like(self, x, dtype=None, default_dtype=None):
        """The weight as an array of ``x``'s library, on ``x``'s device (cached).

        The dtype is ``dtype`` if given, else ``x``'s when it is floating, else
        ``default_dtype`` (a dtype name; the weight's own when None).
        """
        # One dict lookup keyed by what identifies the conversion without asking
        # array-api-compat: a batch-1 Daoloth call must cost little more than its matmul.
        key = (type(x), x.dtype, _device_key(x), dtype, default_dtype)
        found = self._copies.get(key)
        if found is not None:
            return found
        import array_api_compat as aac

        xp = aac.array_namespace(x)
        target = dtype
        if target is None:
            target = x.dtype if _is_floating(x) else getattr(xp, default_dtype or self.dtype.name)
        found = _converted(self._home, xp, target, aac.device(x))
        self._copies[key] = found
        return found


def _numpy_dtype(array) -> np.dtype:
    try:
        return np.dtype(array.dtype)
    except TypeError:  # a library's own dtype object (array-api-strict, torch)
        return np.dtype(to_numpy(array).dtype)


def _converted(home, xp, dtype, device):
    """``home`` as an array of ``xp`` with ``dtype`` on ``device``."""
    if isinstance(home, np.ndarray):
        return _convert(xp, home, dtype, device)
    import array_api_compat as aac

    if aac.array_namespace(home) is not xp:  # another library: through the host
        return _convert(xp, to_numpy(home), dtype, device)
    out = home if home.dtype == dtype else xp.astype(home, dtype)
    if device is not None and aac.device(out) != device:
        out = aac.to_device(out, device)
    return out


def _home_copy(array, dtype: np.dtype):
    """A copy of ``array`` fit to be a home: its own library and device, ``dtype``."""
    if isinstance(array, np.ndarray):
        return np.array(array, dtype=dtype, copy=True)
    import array_api_compat as aac

    if not aac.is_array_api_obj(array) or aac.is_dask_array(array):
        return np.array(to_numpy(array), dtype=dtype, copy=True)
    xp = aac.array_namespace(array)
    target = getattr(xp, dtype.name, None)
    if target is None:  # the library has no such dtype (e.g. float16): keep it on the host
        return np.array(to_numpy(array), dtype=dtype, copy=True)
    try:
        return xp.asarray(array, dtype=target, copy=True)
    except TypeError:  # an older wrapper without copy=: astype copies
        return xp.astype(array, target)
