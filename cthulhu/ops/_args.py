"""Checking and normalising the arguments of the op front-ends.

Everything here is plain Python on shapes and argument values; it touches no
array data. Padding amounts, output sizes and axes are not computed here: the ops
ask :mod:`cthulhu.shapes.geometry` for them once the arguments pass these checks.
"""

from __future__ import annotations

import operator

from cthulhu import shapes
from cthulhu.shapes.layout import DATA_FORMATS

#: The activations a layer hands its op from its own ``activation`` argument.
FUSABLE_ACTIVATIONS = ("linear", "relu")
#: Every activation an op's epilogue takes (``activation=``; ``leaky_relu`` with ``alpha``):
#: the layers' own above, and those a model fuses from a following activation layer
#: (``cthulhu.engine.fusion``).
EPILOGUE_ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh")
PADDINGS = ("valid", "same", "causal")


def int_tuple(value, n: int, name: str, op: str, *, minimum: int = 1) -> tuple[int, ...]:
    """``value`` (an int or ``n`` ints) as a tuple of ``n`` ints >= ``minimum``."""
    if type(value) is int and value >= minimum:      # the common case (never a bool)
        return (value,) * n
    items = value if isinstance(value, (tuple, list)) else (value,) * n
    if len(items) != n:
        raise ValueError(f"{op}: {name} must be an int or {n} ints, got {value!r}")
    out = []
    for item in items:
        if isinstance(item, bool):
            raise TypeError(f"{op}: {name} must be integers, got {value!r}")
        try:
            item = operator.index(item)
        except TypeError:
            raise TypeError(f"{op}: {name} must be integers, got {value!r}") from None
        if item < minimum:
            raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
        out.append(item)
    return tuple(out)


def data_format(value, op: str) -> str:
    if value not in DATA_FORMATS:
        raise ValueError(f"{op}: data_format must be one of {DATA_FORMATS}, got {value!r}")
    return value


def padding(value, rank: int, op: str, allowed=PADDINGS, kind=None, kernel_size=None):
    """A lower-case padding name, or a tuple of ``rank`` explicit ``(lo, hi)`` int pairs.

    With ``kind`` (a :mod:`cthulhu.shapes.kinds` name: what the public op front-ends
    pass) a name must pass that kind's padding rule, the one the layers and
    ``cthulhu.shapes`` apply ('causal' only for a rank-1 ``conv``); ``allowed``
    is for the generic implementations and resampling ops below the front-ends.
    """
    if isinstance(value, str) and kind is not None:
        return shapes.get_kind(kind).normalize_padding(value, rank, op, kernel_size, pairs=True)
    if isinstance(value, str):
        name = value.lower()
        if name not in allowed:
            raise ValueError(f"{op}: padding must be one of {allowed} or explicit (lo, hi) "
                             f"pairs, got {value!r}")
        return name
    try:
        pairs = tuple(tuple(operator.index(v) for v in pair) for pair in value)
    except TypeError:
        raise TypeError(f"{op}: padding must be a string or {rank} (lo, hi) int pairs, "
                        f"got {value!r}") from None
    if len(pairs) != rank or any(len(p) != 2 for p in pairs):
        raise ValueError(f"{op}: explicit padding needs {rank} (lo, hi) pairs, got {value!r}")
    return pairs


def activation(value, op: str):
    if value is None or value == "linear":
        return None
    if value not in EPILOGUE_ACTIVATIONS:
        raise ValueError(f"{op}: activation must be None or one of {EPILOGUE_ACTIVATIONS}, "
                         f"got {value!r}")
    return value


def alpha(value, act, op: str) -> float:
    """``leaky_relu``'s negative slope: a finite real number (0.0 for the others)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)        # NumPy scalars
        except (TypeError, ValueError):
            raise TypeError(f"{op}: alpha must be a real number, got {value!r}") from None
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{op}: alpha must be finite, got {value!r}")
    return value if act == "leaky_relu" else 0.0


def check_input(x, rank: int, op: str, name: str = "x") -> None:
    ndim = getattr(x, "ndim", None)
    if ndim is None:
        raise TypeError(f"{op}: {name} must be an array, got {type(x).__name__}")
    if ndim != rank + 2:
        raise ValueError(f"{op}: {name} must have {rank + 2} dimensions (batch, {rank} spatial, "
                         f"channels) for a rank-{rank} kernel, got shape {tuple(x.shape)}")
