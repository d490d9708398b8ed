"""Weight and activity regularizers: ``l1``, ``l2``, ``l1_l2`` (Keras 2 names and defaults).

A regularizer is a callable ``penalty = reg(x)`` on an array of any Array API
library; the penalty is a 0-d array of that library:
``sum(l1 * |x|) + sum(l2 * x**2)``. Layers list their penalties in
``layer.losses`` (and models in ``model.losses``).

Examples
--------
>>> import numpy as np
>>> from cthulhu import regularizers
>>> round(float(regularizers.l1_l2(l1=0.1, l2=0.01)(np.array([1.0, -2.0]))), 6)
0.35
"""

from __future__ import annotations

from cthulhu import _identifiers


def _factor(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{owner}: {name} must be a non-negative number, got {value!r}")
    return float(value)


class Regularizer(_identifiers.Configurable):
    """Base class: ``__call__(x)`` -> penalty, ``get_config``, ``from_config``."""

    def __call__(self, x):
        raise NotImplementedError


class L1L2(Regularizer):
    """Penalty ``sum(l1 * |x|) + sum(l2 * x**2)``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1", type(self).__name__)
        self.l2 = _factor(l2, "l2", type(self).__name__)

    def __call__(self, x):
        import array_api_compat as aac

        xp = aac.array_namespace(x)
        if not xp.isdtype(x.dtype, ("real floating", "complex floating")):
            # an activity penalty on integer or boolean outputs (a Cropping of indices...):
            # computed in float64, as strict libraries refuse float factors on int arrays
            x = xp.astype(x, xp.float64)
        penalty = xp.sum(xp.zeros_like(x))
        if self.l1:
            penalty = penalty + xp.sum(self.l1 * xp.abs(x))
        if self.l2:
            penalty = penalty + xp.sum(self.l2 * (x * x))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self):
        return f"L1L2(l1={self.l1}, l2={self.l2})"


class L1(L1L2):
    """Penalty ``sum(l1 * |x|)`` (default 0.01, the Keras value)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """Penalty ``sum(l2 * x**2)`` (default 0.01, the Keras value)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1(l=0.01):  # noqa: E741 - Keras 2's argument name
    return L1L2(l1=l)


def l2(l=0.01):  # noqa: E741
    return L1L2(l2=l)


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1=l1, l2=l2)


_CLASSES = {"L1L2": L1L2, "L1": L1, "L2": L2}
_NAMES = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(l1=0.01, l2=0.01), "l1l2": L1L2}


# A plain name looks in the aliases first; a config's class_name only in the class names.
_BY_NAME = {**_CLASSES, **_NAMES}


def serialize(regularizer):
    return _identifiers.serialize(regularizer, Regularizer)


def deserialize(config, custom_objects=None):
    if isinstance(config, str):
        return _identifiers.from_name(config, custom_objects, "regularizer", _BY_NAME)
    cls, cfg = _identifiers.class_for(config, custom_objects, "regularizer", _CLASSES)
    return cls.from_config(cfg)


def get(identifier):
    """A regularizer from ``None``, a name, a config dict, an instance or a callable."""
    if identifier is None:
        return None
    return _identifiers.get(identifier, deserialize, "regularizer")
