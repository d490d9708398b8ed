"""Checking and normalising the arguments of the op front-ends.

Everything here is plain Python on shapes and argument values; it touches no
array data. Padding amounts come from :mod:`cthulhu.shapes` (the one home of
shape formulas).
"""

from __future__ import annotations

import operator

from cthulhu import shapes
from cthulhu.shapes.layout import DATA_FORMATS, split_channels

FUSABLE_ACTIVATIONS = ("linear", "relu")
PADDINGS = ("valid", "same", "causal")


def int_tuple(value, n: int, name: str, op: str, *, minimum: int = 1) -> tuple[int, ...]:
    """``value`` (an int or ``n`` ints) as a tuple of ``n`` ints >= ``minimum``."""
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
    if value not in FUSABLE_ACTIVATIONS:
        raise ValueError(f"{op}: activation must be None or one of {FUSABLE_ACTIVATIONS}, "
                         f"got {value!r}")
    return value


def check_input(x, rank: int, op: str, name: str = "x") -> None:
    ndim = getattr(x, "ndim", None)
    if ndim is None:
        raise TypeError(f"{op}: {name} must be an array, got {type(x).__name__}")
    if ndim != rank + 2:
        raise ValueError(f"{op}: {name} must have {rank + 2} dimensions (batch, {rank} spatial, "
                         f"channels) for a rank-{rank} kernel, got shape {tuple(x.shape)}")


def spatial_shape(x, fmt: str) -> tuple[int, ...]:
    return split_channels(tuple(x.shape), fmt)[1]


def channels(x, fmt: str) -> int:
    return x.shape[shapes.channels_axis(x.ndim, fmt)]


def conv_pads(spatial, kernel_size, strides, dilation, pad, op: str):
    """Explicit ``(lo, hi)`` pairs of a direct convolution, from ``shapes.conv_padding``."""
    if not isinstance(pad, str):
        return pad
    return tuple(shapes.conv_padding(n, k, s, pad, d, owner=op)
                 for n, k, s, d in zip(spatial, kernel_size, strides, dilation, strict=True))


def conv_out_sizes(spatial, kernel_size, strides, dilation, pad, op: str):
    return tuple(shapes.conv_length(n, k, s, p, d, owner=op)
                 for n, k, s, d, p in zip(spatial, kernel_size, strides, dilation,
                                          _per_axis(pad, len(spatial)), strict=True))


def transpose_pads(spatial, kernel_size, strides, dilation, pad, output_padding, op: str):
    """``(lo, hi)`` per axis of the stride-1 direct convolution equal to the transposed one."""
    if not isinstance(pad, str):
        return pad
    outp = output_padding or (None,) * len(spatial)
    return tuple(shapes.conv_transpose_padding(k, s, pad, p, d, n=n, owner=op)
                 for n, k, s, d, p in zip(spatial, kernel_size, strides, dilation, outp,
                                          strict=True))


def stuffed_sizes(spatial, strides):
    """Lengths after inserting ``s - 1`` zeros between samples: ``(n - 1)*s + 1``."""
    return tuple((n - 1) * s + 1 for n, s in zip(spatial, strides, strict=True))


def transpose_out_sizes(spatial, kernel_size, strides, dilation, pads, op: str):
    """Output sizes of a transposed convolution given its explicit direct-conv padding.

    That is the stride-1 convolution of the zero-stuffed input with ``pads``
    (``shapes.conv_transpose_padding`` derives ``pads`` from the string forms).
    """
    return tuple(shapes.conv_length(n, k, 1, p, d, owner=op)
                 for n, k, d, p in zip(stuffed_sizes(spatial, strides), kernel_size, dilation,
                                       pads, strict=True))


def _per_axis(pad, rank):
    return (pad,) * rank if isinstance(pad, str) else pad
