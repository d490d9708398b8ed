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


def _factor(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{owner}: {name} must be a non-negative number, got {value!r}")
    return float(value)


class Regularizer:
    """Base class: ``__call__(x)`` -> penalty, ``get_config``, ``from_config``."""

    def __call__(self, x):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """Penalty ``sum(l1 * |x|) + sum(l2 * x**2)``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1", type(self).__name__)
        self.l2 = _factor(l2, "l2", type(self).__name__)

    def __call__(self, x):
        import array_api_compat as aac

        xp = aac.array_namespace(x)
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


def serialize(regularizer):
    if isinstance(regularizer, Regularizer):
        return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
    return getattr(regularizer, "__name__", repr(regularizer))


def deserialize(config, custom_objects=None):
    from cthulhu.engine.serialization import lookup_custom

    if isinstance(config, str):
        found = lookup_custom(config, custom_objects)
        if found is not None:
            return found() if isinstance(found, type) else found
        if config not in _NAMES and config not in _CLASSES:
            raise ValueError(f"Unknown regularizer: {config!r}")
        return (_NAMES.get(config) or _CLASSES[config])()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret regularizer identifier: {config!r}")
    name = config["class_name"]
    cls = lookup_custom(name, custom_objects) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Unknown regularizer: {name!r}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """A regularizer from ``None``, a name, a config dict, an instance or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")
