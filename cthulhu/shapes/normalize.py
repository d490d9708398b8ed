"""Argument normalisation: the forms a user may write, turned into one canonical form.

Keras 2 accepts ``3`` for ``(3, 3)``, ``"SAME"`` for ``"same"`` and several
spellings of cropping and zero padding (data formats: :mod:`cthulhu.shapes.layout`).
Layers call these functions in their constructors, so that a bad argument fails
at construction with a message naming the layer, the argument and the value.
"""

import operator

from ._arith import check_size_limit, is_int
from .errors import ShapeTypeError, shape_error
from .layout import DATA_FORMATS, normalize_data_format

__all__ = [
    "as_tuple", "positive_int", "normalize_padding", "normalize_data_format", "check_conv_args",
    "normalize_output_padding", "normalize_size", "normalize_cropping",
    "normalize_zero_padding", "DATA_FORMATS", "PADDINGS",
]

PADDINGS = ("valid", "same", "causal")


def _as_int(value, name, owner, shown):
    """``value`` as a Python int (NumPy integers included, via ``__index__``); bools refused."""
    if isinstance(value, bool):
        raise shape_error(owner, f"{name} must be integers, got {shown!r}", ShapeTypeError)
    if not is_int(value):
        try:
            value = operator.index(value)
        except TypeError:
            raise shape_error(owner, f"{name} must be integers, got {shown!r}",
                              ShapeTypeError) from None
    return check_size_limit(value, name, owner, shown)


def positive_int(value, name, owner=None):
    """``value`` as a positive Python int (``filters``, ``units``, ``n``, ...)."""
    if isinstance(value, (list, tuple, str)) or value is None:
        raise shape_error(owner, f"{name} must be a positive integer, got {value!r}",
                          ShapeTypeError)
    value = _as_int(value, name, owner, value)
    if value <= 0:
        raise shape_error(owner, f"{name} must be a positive integer, got {value!r}")
    return value


def as_tuple(value, n, name, owner=None):
    """An int or a sequence of ``n`` ints, as a tuple of ``n`` Python ints.

    Parameters
    ----------
    value : int or sequence of int
        ``3`` means ``(3,) * n``.
    n : int
        The number of entries wanted (the spatial rank).
    name : str
        The argument's name, for error messages.
    owner : layer or str, optional
        Who is asking, for error messages.

    Examples
    --------
    >>> as_tuple(3, 2, "kernel_size")
    (3, 3)
    >>> as_tuple([1, 2], 2, "strides")
    (1, 2)
    """
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise shape_error(owner, f"{name} must be an int or a tuple of {n} ints, "
                                     f"got {tuple(value)!r}")
        return tuple(_as_int(v, name, owner, tuple(value)) for v in value)
    if isinstance(value, str) or value is None:
        raise shape_error(owner, f"{name} must be an int or a tuple of {n} ints, got {value!r}",
                          ShapeTypeError)
    return (_as_int(value, name, owner, value),) * n


def normalize_padding(value, owner=None, allowed=PADDINGS):
    """``'valid'``, ``'same'`` or ``'causal'`` (case-insensitive), limited to ``allowed``.

    >>> normalize_padding("SAME")
    'same'
    """
    if not isinstance(value, str) or value.lower() not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise shape_error(owner, f"padding must be one of {choices}, got {value!r}")
    return value.lower()


def _check_positive(values, name, owner):
    values = tuple(values)
    for v in values:
        if not is_int(v):
            raise shape_error(owner, f"{name} must be positive integers, got {values!r}",
                              ShapeTypeError)
    if any(v <= 0 for v in values):
        raise shape_error(owner, f"{name} must be positive integers, got {values!r}")
    return values


def check_conv_args(kernel_size, strides, dilation_rate, owner=None):
    """Check normalised convolution arguments; returns them unchanged.

    Every entry must be a positive int, the three tuples must have one length,
    and, as in Keras 2, a stride > 1 cannot be combined with a dilation > 1.
    """
    kernel_size = _check_positive(kernel_size, "kernel_size", owner)
    strides = _check_positive(strides, "strides", owner)
    dilation_rate = _check_positive(dilation_rate, "dilation_rate", owner)
    if not len(kernel_size) == len(strides) == len(dilation_rate):
        raise shape_error(owner, "kernel_size, strides and dilation_rate must have the same "
                                 f"length, got {kernel_size!r}, {strides!r}, {dilation_rate!r}")
    if any(s > 1 for s in strides) and any(d > 1 for d in dilation_rate):
        raise shape_error(owner, "strides > 1 cannot be combined with dilation_rate > 1, "
                                 f"got strides={strides!r} and dilation_rate={dilation_rate!r}")
    return kernel_size, strides, dilation_rate


def normalize_output_padding(value, strides, owner=None):
    """``None`` or a tuple of ints with ``0 <= output_padding < stride`` on every axis."""
    if value is None:
        return None
    strides = tuple(strides)
    value = as_tuple(value, len(strides), "output_padding", owner)
    if any(p < 0 for p in value):
        raise shape_error(owner, f"output_padding must not be negative, got {value!r}")
    if any(p >= s for p, s in zip(value, strides, strict=True)):
        raise shape_error(owner, f"output_padding must be smaller than strides {strides!r} "
                                 f"on every axis, got {value!r}")
    return value


def normalize_size(value, rank, owner=None, name="size"):
    """Up-sampling factors: an int or ``rank`` ints, all positive."""
    return _check_positive(as_tuple(value, rank, name, owner), name, owner)


def _pair(entry, name, owner, shown):
    """One axis of cropping/padding: an int (symmetric) or a ``(lo, hi)`` pair."""
    if isinstance(entry, (list, tuple)):
        if len(entry) != 2:
            raise shape_error(owner, f"{name} must give (before, after) pairs, got {shown!r}")
        pair = tuple(_as_int(v, name, owner, shown) for v in entry)
    else:
        value = _as_int(entry, name, owner, shown)
        pair = (value, value)
    if pair[0] < 0 or pair[1] < 0:
        raise shape_error(owner, f"{name} must not be negative, got {shown!r}")
    return pair


# Keras 1 spelled zero padding as a dict; the cthulhu docs still mention it for
# Xexanoth1D, so 1D and 2D keep the Keras 1 keys and 3D follows the 3D doc names.
_DICT_KEYS = {
    1: (("left_pad", "right_pad"),),
    2: (("top_pad", "bottom_pad"), ("left_pad", "right_pad")),
    3: (("left_dim1_pad", "right_dim1_pad"), ("left_dim2_pad", "right_dim2_pad"),
        ("left_dim3_pad", "right_dim3_pad")),
}


def _from_dict(value, rank, name, owner):
    keys = _DICT_KEYS[rank]
    known = {k for pair in keys for k in pair}
    unknown = sorted(set(value) - known, key=str)
    if unknown:
        raise shape_error(owner, f"{name} dict keys must be among {sorted(known)}, got {value!r}")
    return tuple(_pair((value.get(lo, 0), value.get(hi, 0)), name, owner, value)
                 for lo, hi in keys)


def _pairs(value, rank, name, owner, allow_dict):
    if rank not in (1, 2, 3):
        raise shape_error(owner, f"{name}: rank must be 1, 2 or 3, got {rank!r}")
    if isinstance(value, dict):
        if not allow_dict:
            raise shape_error(owner, f"{name} cannot be a dict, got {value!r}", ShapeTypeError)
        return _from_dict(value, rank, name, owner)
    if not isinstance(value, (list, tuple)):
        return (_pair(value, name, owner, value),) * rank
    if rank == 1:
        # 1D: an int, a (lo, hi) pair, or that pair wrapped once: ((lo, hi),).
        if len(value) == 1 and isinstance(value[0], (list, tuple)):
            value = value[0]
        return (_pair(value, name, owner, value),)
    if len(value) != rank:
        raise shape_error(owner, f"{name} must be an int, a tuple of {rank} ints or a tuple of "
                                 f"{rank} (before, after) pairs, got {value!r}")
    # Like Keras 2, each entry may be an int (symmetric) or a pair, mixed freely.
    return tuple(_pair(entry, name, owner, value) for entry in value)


def normalize_cropping(value, rank, owner=None):
    """Cropping in any documented form, as ``((lo, hi),) * rank`` ints >= 0.

    Forms: an int (the same on both sides of every axis); for rank 1 a
    ``(lo, hi)`` pair; for rank 2/3 a tuple of ``rank`` ints (symmetric per
    axis) or of ``rank`` ``(lo, hi)`` pairs.

    >>> normalize_cropping(((2, 2), (4, 4)), 2)
    ((2, 2), (4, 4))
    >>> normalize_cropping(1, 3)
    ((1, 1), (1, 1), (1, 1))
    """
    return _pairs(value, rank, "cropping", owner, allow_dict=False)


def normalize_zero_padding(value, rank, owner=None):
    """Zero padding in any documented form, as ``((lo, hi),) * rank`` ints >= 0.

    The forms of :func:`normalize_cropping`, plus a dict: rank 1
    ``{'left_pad', 'right_pad'}``, rank 2 ``{'top_pad', 'bottom_pad',
    'left_pad', 'right_pad'}``, rank 3 ``{'left_dim1_pad', 'right_dim1_pad',
    ...}``; missing keys mean 0.

    >>> normalize_zero_padding((1, 2), 1)
    ((1, 2),)
    >>> normalize_zero_padding({"top_pad": 1, "right_pad": 2}, 2)
    ((1, 0), (0, 2))
    """
    return _pairs(value, rank, "padding", owner, allow_dict=True)
