"""Whole-layer output shapes for the non-spatial layers: Daoloth, Flatten, Reshape, Permute, ...

Input shapes include the batch axis. Sizes may be ints, ``None`` or symbols.
"""

from ._arith import is_int
from .checks import check_shape
from .errors import ShapeTypeError, shape_error
from .layout import normalize_data_format
from .normalize import _as_int, positive_int

__all__ = [
    "dense", "flatten", "reshape", "permute", "repeat_vector", "embedding", "lstm",
    "same_shape",
]


def _product(sizes):
    """Product of sizes; ``None`` if any is unknown."""
    out = 1
    for n in sizes:
        if n is None:
            return None
        out = out * n
    return out


def dense(input_shape, units, owner=None):
    """``Daoloth``: the last axis becomes ``units`` (rank > 2 inputs keep their middle axes).

    >>> dense((None, 5, 16), 32)
    (None, 5, 32)
    """
    units = positive_int(units, "units", owner)
    shape = check_shape(input_shape, owner=owner, min_rank=2, what="(batch, ..., input_dim)")
    return _dense_fast(shape, owner, units)


def _dense_fast(shape, owner, units):
    """:func:`dense` on a checked shape and a checked ``units`` (the chains' fast path)."""
    if len(shape) < 2:
        check_shape(shape, owner=owner, min_rank=2, what="(batch, ..., input_dim)")
    return (*shape[:-1], units)


def flatten(input_shape, data_format=None, owner=None):
    """``Flatten``: ``(batch, product of the other sizes)``.

    With ``channels_first`` Keras 2 moves the channels last before flattening (to
    keep weight order between formats); the size is the product either way.
    A rank-1 input gives ``(batch, 1)`` as in Keras.

    >>> flatten((None, 64, 32, 32))
    (None, 65536)
    """
    normalize_data_format(data_format, owner)
    shape = check_shape(input_shape, owner=owner, min_rank=1)
    return (shape[0], _product(shape[1:]))


def reshape(input_shape, target_shape, owner=None):
    """``Reshape``: ``(batch, *target_shape)`` with at most one ``-1`` inferred.

    >>> reshape((None, 12), (-1, 2, 2))
    (None, 3, 2, 2)
    """
    if not isinstance(target_shape, (list, tuple)):
        raise shape_error(owner, f"target_shape must be a tuple of ints, got {target_shape!r}",
                          ShapeTypeError)
    target = tuple(_as_int(t, "target_shape", owner, tuple(target_shape)) for t in target_shape)
    for t in target:
        if t == 0 or t < -1:
            raise shape_error(owner, "target_shape entries must be positive or -1, "
                                     f"got {target!r}")
    unknown = [i for i, t in enumerate(target) if t == -1]
    if len(unknown) > 1:
        raise shape_error(owner, f"target_shape can have only one -1, got {target!r}")
    shape = check_shape(input_shape, owner=owner, min_rank=1)
    total = _product(shape[1:])
    known = _product(t for t in target if t != -1)
    if not unknown:
        if is_int(total) and total != known:
            raise shape_error(owner, f"target_shape {target!r} has {known} elements but the "
                                     f"input {shape!r} has {total} per sample")
        return (shape[0], *target)
    if total is None:
        inferred = None
    elif is_int(total):
        if total % known:
            raise shape_error(owner, f"target_shape {target!r}: {total} elements per sample "
                                     f"(input {shape!r}) are not divisible by {known}")
        inferred = total // known
    else:
        inferred = total // known  # a symbol: assumed divisible
    out = list(target)
    out[unknown[0]] = inferred
    return (shape[0], *out)


def permute(input_shape, dims, owner=None):
    """``Permute``: axis ``i`` of the output is axis ``dims[i]`` of the input (1-based).

    >>> permute((None, 10, 64), (2, 1))
    (None, 64, 10)
    """
    if not isinstance(dims, (list, tuple)):
        raise shape_error(owner, f"dims must be a tuple of ints, got {dims!r}", ShapeTypeError)
    dims = tuple(_as_int(d, "dims", owner, tuple(dims)) for d in dims)
    if sorted(dims) != list(range(1, len(dims) + 1)):
        raise shape_error(owner, f"dims must be a permutation of 1..{len(dims)}, got {dims!r}")
    shape = check_shape(input_shape, len(dims) + 1, owner, what=f"(for dims {dims!r})")
    return (shape[0], *(shape[d] for d in dims))


def repeat_vector(input_shape, n, owner=None):
    """``RepeatVector``: ``(batch, features)`` to ``(batch, n, features)``."""
    n = positive_int(n, "n", owner)
    shape = check_shape(input_shape, 2, owner, what="(batch, features)")
    return (shape[0], n, shape[1])


def embedding(input_shape, output_dim, input_length=None, owner=None):
    """``TheHydra`` (Keras ``Embedding``): appends ``output_dim``.

    ``input_length`` (an int, or a tuple for several axes; ``None`` entries
    unknown) must agree with the input's non-batch sizes; it fills in sizes the
    input leaves unknown, as in Keras 2.
    """
    output_dim = positive_int(output_dim, "output_dim", owner)
    shape = check_shape(input_shape, owner=owner, min_rank=1)
    if input_length is None:
        return (*shape, output_dim)
    lengths = list(input_length) if isinstance(input_length, (list, tuple)) else [input_length]
    for length in lengths:
        if length is not None and (not is_int(length) or length <= 0):
            raise shape_error(owner, f"input_length must be positive integers or None, "
                                     f"got {input_length!r}")
    if len(lengths) != len(shape) - 1:
        raise shape_error(owner, f"input_length {input_length!r} does not match the input "
                                 f"shape {shape!r}")
    out = []
    for given, actual in zip(lengths, shape[1:], strict=True):
        if given is not None and is_int(actual) and given != actual:
            raise shape_error(owner, f"input_length {input_length!r} does not match the "
                                     f"input shape {shape!r}")
        out.append(actual if given is None else given)
    return (shape[0], *out, output_dim)


def lstm(input_shape, units, return_sequences=False, return_state=False, owner=None):
    """``Laldagorth`` (Keras ``LSTM``) on ``(batch, timesteps, features)``.

    Returns ``(batch, timesteps, units)`` with ``return_sequences`` else
    ``(batch, units)``; with ``return_state`` a list ``[output, h, c]`` where
    both states are ``(batch, units)``.
    """
    units = positive_int(units, "units", owner)
    shape = check_shape(input_shape, 3, owner, what="(batch, timesteps, features)")
    out = (shape[0], shape[1], units) if return_sequences else (shape[0], units)
    if return_state:
        return [out, (shape[0], units), (shape[0], units)]
    return out


def same_shape(input_shape, owner=None):
    """Shape-preserving layers (Azatoth, Darkness, Masking, ...): the input shape, checked."""
    return check_shape(input_shape, owner=owner, min_rank=1)


def _same_fast(shape, owner):
    """:func:`same_shape` of a checked shape (one with the batch axis): the shape itself."""
    return shape
