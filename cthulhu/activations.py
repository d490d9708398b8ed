"""Activation functions (Keras 2 names and semantics) for any Array API array.

Each function takes an array ``x`` of any library (NumPy, CuPy, Dask,
array-api-strict, torch via array-api-compat) and returns one of the same
library, device and dtype. ``get(name_or_callable)`` resolves what layers
receive as ``activation=``; ``None`` means ``linear``.

Examples
--------
>>> import numpy as np
>>> from cthulhu import activations
>>> activations.get("relu")(np.array([-1.0, 2.0])).tolist()
[0.0, 2.0]
>>> activations.relu(np.array([-2.0, 1.0, 8.0]), alpha=0.5, max_value=6.0).tolist()
[-1.0, 1.0, 6.0]
"""

from __future__ import annotations

import functools
import math

from cthulhu.names import lookup_custom

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _xp(x):
    import array_api_compat as aac

    return aac.array_namespace(x)


def _scalar(xp, x, value):
    """``value`` as a 0-d array matching ``x`` (some libraries refuse Python scalars in where/maximum)."""
    import array_api_compat as aac

    return xp.asarray(value, dtype=x.dtype, device=aac.device(x))


def _per_block(fn=None, *, reduces=False):
    """Run ``fn`` chunk by chunk on chunked arrays (Dask): one graph layer, not one per op.

    ``reduces``: ``fn`` reduces along its ``axis`` argument, which each block then
    holds whole. Other libraries call ``fn`` directly (a registry lookup per call).
    """
    if fn is None:
        return functools.partial(_per_block, reduces=reduces)

    @functools.wraps(fn)
    def run(x, *args, **kwargs):
        from cthulhu.ops.blockwise import blockwise, chunked

        if not chunked(x) or (reduces and getattr(x, "ndim", 0) < 2):
            # (a reduction refuses 1D inputs: now, while the caller can still name itself)
            return fn(x, *args, **kwargs)
        whole = None
        if reduces:
            whole = kwargs.get("axis", args[0] if args else -1) % max(getattr(x, "ndim", 1), 1)
        # The wrapper itself goes to the blocks (picklable by name); a block is not chunked.
        # The block comes first, then the caller's arguments (elu(x, 0.5) per block).
        return blockwise(functools.partial(_on_block, run, args, kwargs), x, whole_axis=whole)

    return run


def _on_block(fn, args, kwargs, block):
    return fn(block, *args, **kwargs)


@_per_block(reduces=True)
def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x), axis)``, computed stably (the maximum is subtracted first)."""
    xp = _xp(x)
    if x.ndim < 2:
        # Keras 2 refuses 1D input: softmax acts per sample, and a 1D array has no sample axis.
        raise ValueError(f"Cannot apply softmax to a tensor that is 1D. Received input shape {x.shape}")
    if x.shape[axis] == 0:
        return x  # nothing to normalise (and no maximum to subtract)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


@_per_block
def elu(x, alpha=1.0):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    xp = _xp(x)
    negative = alpha * xp.expm1(xp.minimum(x, _scalar(xp, x, 0)))
    return xp.where(x > 0, x, negative)


@_per_block
def selu(x):
    """Scaled ELU with the self-normalising constants of Klambauer et al. (2017)."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


@_per_block
def softplus(x):
    """``log(exp(x) + 1)``, written as ``max(x, 0) + log1p(exp(-|x|))`` so it never overflows."""
    xp = _xp(x)
    return xp.maximum(x, _scalar(xp, x, 0)) + xp.log1p(xp.exp(-xp.abs(x)))


@_per_block
def softsign(x):
    """``x / (|x| + 1)``."""
    xp = _xp(x)
    return x / (xp.abs(x) + 1)


@_per_block
def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit, Keras 2 flavour.

    ``max_value`` for ``x >= max_value``, ``x`` for ``threshold < x < max_value``,
    ``alpha * (x - threshold)`` otherwise. As in Keras 2, ``max_value`` clips
    the positive part to ``[0, max_value]``.
    """
    xp = _xp(x)
    zero = _scalar(xp, x, 0)
    # Keras 2's backend.relu step by step, so NaN and infinities come out as there:
    # max(x, 0) without a threshold (NaN stays NaN, as TensorFlow's relu), x times
    # (x > threshold) with one. Neither takes a data-dependent branch per element
    # (NumPy's where over a random mask ran ten times slower than maximum).
    if threshold == 0:
        positive = xp.maximum(x, zero)
    else:
        positive = x * xp.astype(x > threshold, x.dtype)
    if max_value is not None:
        positive = xp.clip(positive, 0, max_value)
    if alpha != 0:
        positive = positive - alpha * xp.maximum(threshold - x, zero)
    return positive


@_per_block
def tanh(x):
    return _xp(x).tanh(x)


@_per_block
def sigmoid(x):
    """``1 / (1 + exp(-x))``, written per sign so ``exp`` never overflows."""
    xp = _xp(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


@_per_block
def hard_sigmoid(x):
    """Keras 2's piecewise-linear sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``."""
    return _xp(x).clip(0.2 * x + 0.5, 0, 1)


@_per_block
def exponential(x):
    return _xp(x).exp(x)


def linear(x):
    return x


@_per_block
def swish(x):
    """``x * sigmoid(x)`` (Ramachandran et al., 2017)."""
    return x * sigmoid(x)


@_per_block
def gelu(x, approximate=False):
    """Gaussian error linear unit, ``x * P(X <= x)`` for a standard normal ``X``.

    As in Keras 2 (TensorFlow 2.4+): exact by default,
    ``0.5 * x * (1 + erf(x / sqrt(2)))``; with ``approximate=True`` the tanh
    form ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``.
    """
    xp = _xp(x)
    if approximate:
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * (x * x * x))
        return 0.5 * x * (1 + xp.tanh(inner))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


# The Array API standard has no erf, so it is built from exp and arithmetic; both
# pieces are accurate to ~1e-15 in float64 (checked against math.erf in the tests).
_ERF_SPLIT = 3.0        # series below, continued fraction at and above
_ERF_SERIES_TERMS = 50  # enough for |z| < 3
_ERFC_CF_DEPTH = 40     # enough for z >= 3


def _erf(x):
    """``erf(x)`` from Array API operations only (float32 and float64).

    For ``|z| < 3``: ``erf(z) = 2/sqrt(pi) * exp(-z^2) * sum_n z (2 z^2)^n / (2n+1)!!``,
    whose terms are all of one sign (no cancellation). For ``|z| >= 3``:
    ``erfc(z) = exp(-z^2) / sqrt(pi) / (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...))))``,
    evaluated from a fixed depth upwards, and ``erf = sign(z) * (1 - erfc(|z|))``.
    """
    xp = _xp(x)
    a = xp.abs(x)
    # each branch sees only inputs in its own range, so neither overflows nor divides by 0
    small = xp.clip(a, 0, _ERF_SPLIT)
    large = xp.clip(a, _ERF_SPLIT, None)
    two_z2 = 2 * small * small
    term = small
    total = small
    for n in range(_ERF_SERIES_TERMS):
        term = term * two_z2 / (2 * n + 3)
        total = total + term
    series = (2 / math.sqrt(math.pi)) * xp.exp(-small * small) * total
    fraction = large
    for k in range(_ERFC_CF_DEPTH, 0, -1):
        fraction = large + (k / 2) / fraction
    tail = 1 - xp.exp(-large * large) / (math.sqrt(math.pi) * fraction)
    magnitude = xp.where(a < _ERF_SPLIT, series, tail)
    return xp.where(x < 0, -magnitude, magnitude)


@_per_block
def relu6(x):
    """``min(max(x, 0), 6)`` (Keras 2.15's ``relu6``)."""
    return _xp(x).clip(x, 0, 6)


@_per_block
def mish(x):
    """``x * tanh(softplus(x))`` (Misra, 2019; Keras 2.15's ``mish``)."""
    return x * _xp(x).tanh(softplus(x))


@_per_block(reduces=True)
def log_softmax(x, axis=-1):
    """``log(softmax(x))``, computed as ``x - max - log(sum(exp(x - max)))`` (stable)."""
    xp = _xp(x)
    if x.ndim < 2:
        # as softmax: normalising over the only axis, the batch axis, mixes the samples
        raise ValueError(f"Cannot apply log_softmax to a tensor that is {x.ndim}D. Received "
                         f"input shape {x.shape}")
    if x.shape[axis] == 0:
        return x
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


_BUILTIN = {fn.__name__: fn for fn in (
    softmax, elu, selu, softplus, softsign, relu, tanh, sigmoid, hard_sigmoid, exponential,
    linear, swish, gelu, relu6, mish, log_softmax)}
# Other names Keras 2.15's activations.get() accepts for the same functions.
_ALIASES = {"silu": swish}


def serialize(activation) -> str:
    """The name under which ``get`` finds ``activation`` (Keras 2 stores activations by name)."""
    if activation is None:
        return "linear"
    name = getattr(activation, "__name__", None)
    if name is None:
        raise ValueError(f"cannot serialize activation {activation!r}: it has no __name__")
    return name


def name_of(activation):
    """The built-in name of ``activation`` (e.g. ``'relu'``), or None for a custom callable."""
    for name, fn in _BUILTIN.items():
        if fn is activation:
            return name
    return None


def deserialize(name, custom_objects=None):
    found = lookup_custom(name, custom_objects)
    if found is not None:
        return found
    if name in _ALIASES:
        return _ALIASES[name]
    if name not in _BUILTIN:
        known = sorted([*_BUILTIN, *_ALIASES])
        raise ValueError(f"Unknown activation function: {name!r}; known: {known}")
    return _BUILTIN[name]


def get(identifier):
    """An activation function from ``None`` (linear), a name or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return deserialize(identifier)
    if isinstance(identifier, dict) and "class_name" in identifier:
        return deserialize(identifier["class_name"])
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")
