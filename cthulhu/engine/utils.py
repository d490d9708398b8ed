"""Helpers of the Layer base class: automatic names, shape arguments, array conversion, masks."""

from __future__ import annotations

import inspect
import re
import threading

import numpy as np

_NAME_COUNTS: dict[str, int] = {}
_NAME_LOCK = threading.Lock()


def to_snake_case(name: str) -> str:
    """``'Cthalpa2D'`` -> ``'cthalpa2d'``, ``'SeparableCthalpa2D'`` -> ``'separable_cthalpa2d'`` (Keras 2 rule)."""
    step = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", step).lower()


def unique_name(prefix: str) -> str:
    """``prefix_1``, ``prefix_2``, ... one counter per prefix, as Keras 2 does."""
    with _NAME_LOCK:
        _NAME_COUNTS[prefix] = _NAME_COUNTS.get(prefix, 0) + 1
        return f"{prefix}_{_NAME_COUNTS[prefix]}"


def note_name(name: str) -> None:
    """Advance the counter past an explicit ``prefix_N`` name (e.g. from a loaded model),
    so that later automatic names never collide with it."""
    match = re.fullmatch(r"(.+)_(\d+)", name)
    if match:
        prefix, number = match.group(1), int(match.group(2))
        with _NAME_LOCK:
            _NAME_COUNTS[prefix] = max(_NAME_COUNTS.get(prefix, 0), number)


def reset_names() -> None:
    """Restart the automatic name counters (Keras' ``clear_session`` for names)."""
    with _NAME_LOCK:
        _NAME_COUNTS.clear()


def to_numpy(a) -> np.ndarray:
    """Any array (NumPy, CuPy, array-api-strict, torch, ...) as a NumPy array (a copy is not promised)."""
    if isinstance(a, np.ndarray):
        return a
    from cthulhu import devices  # a device array (e.g. CuPy) needs its plugin's host copy

    return devices.to_numpy(a)


def _is_dim(d) -> bool:
    if d is None:
        return True
    if isinstance(d, bool):
        return False
    if isinstance(d, (int, np.integer)):
        return d >= 0
    return type(d).__module__.startswith("cthulhu.shapes")  # a symbolic size


def check_shape(shape, owner: str, argument: str) -> tuple:
    """A shape argument as a tuple, or a ValueError naming ``owner`` and ``argument``."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        out = tuple(int(d) if isinstance(d, np.integer) else d for d in shape)
    except TypeError:
        raise ValueError(f"{owner}: {argument} must be a tuple of integers or None, "
                         f"got {shape!r}") from None
    if not all(_is_dim(d) for d in out):
        raise ValueError(f"{owner}: {argument} must be a tuple of non-negative integers or None, "
                         f"got {shape!r}")
    return out


def _describe(value) -> str:
    """A short description of a value that is not an array (type and a clipped repr)."""
    import reprlib

    return f"{type(value).__name__} {reprlib.repr(value)}"


def _owner_name(owner) -> str:
    """``owner`` as error messages name it: a string, or a layer (named only on error)."""
    return owner if isinstance(owner, str) else owner._owner()


def _one_input(x, owner):
    if type(x) is np.ndarray and x.dtype.isnative:
        return x, x.shape    # the common case, checked without a call (batch-1 layers)
    try:
        shape = tuple(x.shape)
    except (AttributeError, TypeError):
        shape = None
    if shape is None or not hasattr(x, "dtype"):
        raise TypeError(f"{_owner_name(owner)}: expected an array (NumPy, CuPy, Dask or "
                        f"another Array API library), or a list of arrays, got {_describe(x)}")
    from cthulhu.ops._checks import native_order

    return native_order(x), shape


def checked_input(x, owner):
    """``(x, shape)`` for a layer or model input: an array, or a list of arrays.

    ``owner`` names the caller in errors: a string, or a layer (its ``_owner()``, formatted
    only when there is an error to report).

    Anything else (a Python list of numbers, a scalar, ``None``) is a ``TypeError``
    naming ``owner``: the layers compute on Array API arrays only. Arrays with a
    byte-swapped dtype come back in native byte order (see ``ops._checks.native_order``).
    """
    if isinstance(x, (list, tuple)):
        if not x:
            raise TypeError(f"{_owner_name(owner)}: expected an array or a list of arrays, "
                            f"got an empty {type(x).__name__}")
        pairs = [_one_input(t, owner) for t in x]
        return [a for a, _ in pairs], [s for _, s in pairs]
    return _one_input(x, owner)


_SIGNATURE_CACHE: dict[type, tuple[bool, bool]] = {}


def _call_accepts(cls) -> tuple[bool, bool]:
    """Whether ``cls.call`` takes ``training`` and ``mask`` (Keras inspects the signature too)."""
    if cls not in _SIGNATURE_CACHE:
        params = inspect.signature(cls.call).parameters
        var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
        _SIGNATURE_CACHE[cls] = ("training" in params or var_kw, "mask" in params or var_kw)
    return _SIGNATURE_CACHE[cls]


def _is_multi_shape(shape) -> bool:
    """A list of shapes (several outputs) rather than one shape tuple."""
    return isinstance(shape, list) and len(shape) > 0 and all(
        isinstance(s, (tuple, list)) for s in shape)


_FLOATING: dict = {}


def _is_floating(x) -> bool:
    """Whether ``x`` has a real floating dtype (cached per array type and dtype)."""
    key = (type(x), x.dtype)
    found = _FLOATING.get(key)
    if found is None:
        import array_api_compat as aac

        found = bool(aac.array_namespace(x).isdtype(x.dtype, "real floating"))
        _FLOATING[key] = found
    return found


_HALF = {}


def is_half_dtype(dtype) -> bool:
    """Whether ``dtype`` is float16 or bfloat16, by its name (not Array API dtypes:
    namespaces need not name them). Remembered per dtype: a NumPy dtype's ``str``
    costs microseconds, and a model asks on every layer call."""
    try:
        return _HALF[dtype]
    except KeyError:
        pass
    except TypeError:                    # an unhashable dtype object: ask every time
        return str(dtype).endswith("float16")
    half = str(dtype).endswith("float16")
    if len(_HALF) < 64:
        _HALF[dtype] = half
    return half


def _device_key(x):
    """A hashable stand-in for ``x``'s device (NumPy: ``'cpu'``; others: their device's repr)."""
    device = getattr(x, "device", None)
    if device is None or type(device) is str:
        return device
    return repr(device)


def _batchless(shape):
    """The built shape with the batch axis unknown, as Keras reports ``input_shape``."""
    if _is_multi_shape(shape):
        return [(None,) + tuple(s[1:]) for s in shape]
    return (None,) + tuple(shape[1:])


def _has_mask(mask) -> bool:
    if mask is None:
        return False
    if isinstance(mask, (list, tuple)):
        return any(m is not None for m in mask)
    return True


def _convert(xp, value, dtype, device):
    """A NumPy weight as an array of ``xp`` with ``dtype`` on ``device``."""
    try:
        return xp.asarray(value, dtype=dtype, device=device)
    except TypeError:
        # Libraries whose asarray has no device keyword (older wrappers): convert, then move.
        out = xp.asarray(value, dtype=dtype)
        return out if device is None else xp.asarray(out, device=device)
