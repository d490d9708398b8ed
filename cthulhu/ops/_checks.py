"""Checks on the arrays an op receives (shapes and dtypes; no data is read)."""

from __future__ import annotations


def native_order(x):
    """``x`` with its bytes in the machine's order (a copy only for a byte-swapped dtype).

    NumPy and Dask arrays may hold big-endian data (``'>f4'``, common in files);
    the native C kernels, BLAS and CuPy read raw bytes and would silently compute
    on garbage, so every layer and op converts such an input once, on entry.
    Libraries without byte-swapped dtypes pass through untouched.
    """
    dtype = getattr(x, "dtype", None)
    if getattr(dtype, "isnative", True):
        return x
    return x.astype(dtype.newbyteorder("="))


def float_input(x, op: str):
    """Raise ``TypeError`` unless ``x`` is an array with a real floating dtype.

    NumPy-style dtypes (NumPy, CuPy, Dask) answer through ``dtype.kind``
    without building a namespace: this runs on every call of every op.
    """
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    if isinstance(kind, str) and hasattr(x, "shape"):
        if kind != "f":
            raise TypeError(f"{op}: x must have a real floating dtype, got {x.dtype}")
        return
    namespace(x, op)


def namespace(x, op: str):
    """``x``'s Array API namespace, checking the dtype is real floating."""
    from array_api_compat import array_namespace

    try:
        xp = array_namespace(x)
    except TypeError:
        raise TypeError(f"{op}: x must be an Array API array, got {type(x).__name__}") from None
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{op}: x must have a real floating dtype, got {x.dtype}")
    return xp


def like_x(x, array, name: str, op: str, shape: tuple | None = None):
    """``array`` checked against ``shape`` and cast to ``x``'s dtype when it differs."""
    if array is None:
        return None
    if getattr(array, "dtype", None) is x.dtype and (shape is None
                                                     or tuple(array.shape) == shape):
        return array      # the common case: x's own dtype object (so native order too)
    if not hasattr(array, "shape"):
        raise TypeError(f"{op}: {name} must be an array, got {type(array).__name__}")
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {tuple(array.shape)}")
    array = native_order(array)  # before any copy to x's device: CuPy ignores byte order
    if array.dtype != x.dtype:
        array = namespace(x, op).astype(array, x.dtype)
    return array


def kernel_rank(kernel, op: str, name: str = "kernel") -> int:
    ndim = getattr(kernel, "ndim", None)
    if ndim is None:
        raise TypeError(f"{op}: {name} must be an array, got {type(kernel).__name__}")
    if ndim not in (3, 4, 5):
        raise ValueError(f"{op}: {name} must have shape (*kernel_size, in, out) with 1 to 3 "
                         f"spatial axes, got shape {tuple(kernel.shape)}")
    return ndim - 2
