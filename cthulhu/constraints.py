"""Weight constraints: ``max_norm``, ``non_neg``, ``unit_norm``, ``min_max_norm`` (Keras 2).

A constraint is a callable ``w_new = c(w)`` on an array of any Array API
library; ``layer.apply_constraints()`` applies each weight's constraint to the
stored weight. Norms are taken over ``axis`` (Keras 2 default 0: for a
``Daoloth`` kernel ``(input_dim, units)`` that is the norm of each unit's
incoming weight vector; for a convolution kernel ``(rows, cols, in, out)``
pass ``axis=[0, 1, 2]``).

Examples
--------
>>> import numpy as np
>>> from cthulhu import constraints
>>> constraints.non_neg()(np.array([-1.0, 2.0])).tolist()
[0.0, 2.0]
"""

from __future__ import annotations

from cthulhu import _identifiers

_EPSILON = 1e-7  # Keras' K.epsilon(): keeps the division finite for all-zero columns


def _xp(w):
    import array_api_compat as aac

    return aac.array_namespace(w)


def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _norms(xp, w, axis):
    return xp.sqrt(xp.sum(w * w, axis=_axis(axis), keepdims=True))


class Constraint(_identifiers.Configurable):
    """Base class: ``__call__(w)`` -> constrained ``w``, ``get_config``, ``from_config``."""

    def __call__(self, w):
        return w


class MaxNorm(Constraint):
    """Rescale weight vectors whose norm along ``axis`` exceeds ``max_value``."""

    def __init__(self, max_value=2, axis=0):
        if isinstance(max_value, bool) or not isinstance(max_value, (int, float)) or max_value < 0:
            raise ValueError(f"MaxNorm: max_value must be a non-negative number, got {max_value!r}")
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        xp = _xp(w)
        norms = _norms(xp, w, self.axis)
        desired = xp.clip(norms, 0, self.max_value)
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Set negative weights to zero."""

    def __call__(self, w):
        xp = _xp(w)
        import array_api_compat as aac

        return xp.where(w >= 0, w, xp.asarray(0, dtype=w.dtype, device=aac.device(w)))


class UnitNorm(Constraint):
    """Rescale weight vectors to unit norm along ``axis``."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        xp = _xp(w)
        return w / (_EPSILON + _norms(xp, w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Pull weight-vector norms into ``[min_value, max_value]`` at ``rate`` (1 = all the way)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        if not 0 <= min_value <= max_value:
            raise ValueError(f"MinMaxNorm: need 0 <= min_value <= max_value, got "
                             f"min_value={min_value!r}, max_value={max_value!r}")
        if not 0 <= rate <= 1:
            raise ValueError(f"MinMaxNorm: rate must be in [0, 1], got {rate!r}")
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        xp = _xp(w)
        norms = _norms(xp, w, self.axis)
        desired = self.rate * xp.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


# Keras 2 exports both the class names and these lower-case aliases.
max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm
maxnorm, nonneg, unitnorm = MaxNorm, NonNeg, UnitNorm

_CLASSES = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm, "MinMaxNorm": MinMaxNorm}
_NAMES = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
          "min_max_norm": MinMaxNorm, "maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm}


# A plain name looks in the aliases first, a config's class_name in the class names first.
_BY_NAME = {**_CLASSES, **_NAMES}
_BY_CLASS_NAME = {**_NAMES, **_CLASSES}


def serialize(constraint):
    return _identifiers.serialize(constraint, Constraint)


def deserialize(config, custom_objects=None):
    if isinstance(config, str):
        return _identifiers.from_name(config, custom_objects, "constraint", _BY_NAME)
    cls, cfg = _identifiers.class_for(config, custom_objects, "constraint", _BY_CLASS_NAME)
    return cls.from_config(cfg)


def get(identifier):
    """A constraint from ``None``, a name, a config dict, an instance or a callable."""
    if identifier is None:
        return None
    return _identifiers.get(identifier, deserialize, "constraint")
