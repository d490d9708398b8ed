"""Matmul and up-sampling on NumPy arrays."""

from __future__ import annotations

import contextlib
import math

import numpy as np

from cthulhu.devices.base import fuses
from cthulhu.devices.numpy_ import _engine, _threads
from cthulhu.devices.numpy_._common import (
    FUSED_ACTIVATIONS,
    FUSED_PARTS,
    compute_dtype,
    finish,
    from_last,
    output,
    tail,
    to_last,
)
from cthulhu.devices.numpy_.threads import override


def _blas_guard():
    """BLAS single-threaded while this thread's limit is below BLAS's own count (a
    Dask block task sharing the cores): BLAS's thread count is process-wide, so it
    cannot be set per calling thread, and N tasks x all cores would oversubscribe."""
    blas = _threads.blas_threads()
    if blas is None or _threads.workers() >= blas:
        return contextlib.nullcontext()
    return _threads.single_threaded_blas()


_FLOAT16 = np.dtype(np.float16)


@fuses(*FUSED_PARTS, activations=FUSED_ACTIVATIONS)
def matmul(x, kernel, *, geometry, epilogue):
    """``x @ kernel`` (the plugin contract of :mod:`cthulhu.devices.base`)."""
    # batch-1 dense layers spend microseconds here: no dtype construction, no context
    # manager on the common path (builtin dtypes are singletons)
    if x.dtype is _FLOAT16:
        with _blas_guard():
            y = np.matmul(x.astype(np.float32), kernel.astype(np.float32))
        return finish(y, tail(epilogue, y.dtype), x.dtype)
    limit = override()
    blas = None if limit is None else _threads.blas_threads()
    if blas is None or limit >= blas:   # no limit, or not below BLAS's: no guard to enter
        # np.dot: BLAS as matmul's 2-D loop calls it, a few tenths of a µs less around it
        y = np.dot(x, kernel) if x.ndim == 2 else np.matmul(x, kernel)
    else:
        with _threads.single_threaded_blas():
            y = np.matmul(x, kernel)
    bias, scale, shift, activation, _ = epilogue
    if scale is not None or shift is not None or activation == "relu6":
        return finish(y, tail(epilogue, y.dtype), y.dtype)
    if bias is not None:
        y += bias
    if activation == "relu":
        np.maximum(y, 0, out=y)
    return y


def _phases(factor):
    """Per output phase ``r``: offset of the lower source sample (-1 or 0) and its weight.

    Output ``i*factor + r`` samples input coordinate ``i + (r + 0.5)/factor - 0.5``
    (TensorFlow 2 half-pixel centres); edges are clamped by edge-padding by one.
    """
    out = []
    for r in range(factor):
        src = (r + 0.5) / factor - 0.5
        floor = math.floor(src)
        out.append((floor, src - floor))
    return out


def _bilinear_axis(x, axis, factor, ctype):
    """Up-sample one axis: per phase, a blend of two shifted slices of the edge-padded input."""
    n = x.shape[axis]
    first = np.take(x, [0], axis=axis)
    last = np.take(x, [n - 1], axis=axis)
    xe = np.concatenate([first, x, last], axis=axis)          # xe[j + 1] = x[clamp(j)]
    shape = list(x.shape)
    shape[axis] = n * factor
    y = np.empty(shape, dtype=ctype)
    tmp = np.empty(x.shape, dtype=ctype)

    def at(arr, start, stop, step=1):
        index = [slice(None)] * arr.ndim
        index[axis] = slice(start, stop, step)
        return arr[tuple(index)]

    for r, (offset, frac) in enumerate(_phases(factor)):
        out = at(y, r, None, factor)
        lower = at(xe, offset + 1, offset + 1 + n)
        if frac == 0.0:
            np.copyto(out, lower)
            continue
        upper = at(xe, offset + 2, offset + 2 + n)
        np.multiply(lower, ctype.type(1.0 - frac), out=out)
        np.multiply(upper, ctype.type(frac), out=tmp)
        out += tmp
    return y


def _bilinear(xl, size, out_spatial, ctype):
    """Separable bilinear up-sampling of a channels_last array, one batch item per chunk."""
    n = xl.shape[0]
    y = output((n, *out_spatial, xl.shape[-1]), ctype)

    def work(b):
        part = np.asarray(xl[b:b + 1], dtype=ctype)
        for axis, factor in enumerate(size, start=1):
            if factor != 1:
                part = _bilinear_axis(part, axis, factor, ctype)
        y[b:b + 1] = part

    _threads.run_chunks(work, range(n))
    return y


def upsample(x, *, geometry, epilogue):
    """Up-sampling of ``geometry`` (the plugin contract of :mod:`cthulhu.devices.base`)."""
    g = geometry
    xl = to_last(x, g)
    if g.interpolation == "bilinear":
        y = _bilinear(xl, g.size, g.out_spatial, compute_dtype(x.dtype))
        return from_last(y.astype(x.dtype, copy=False), g)
    # nearest: one broadcast copy with a new length-`factor` axis after each spatial axis
    n, *spatial, c = xl.shape
    expanded = xl.reshape(n, *[v for s in spatial for v in (s, 1)], c)
    target = (n, *[v for s, f in zip(spatial, g.size, strict=True) for v in (s, f)], c)
    y = np.broadcast_to(expanded, target).reshape(n, *g.out_spatial, c)
    return from_last(y, g)


def add(xs, *, epilogue):
    """``xs[0] + xs[1] + ...`` then a ``relu`` or ``relu6`` epilogue, all in the one
    fresh array the first sum returns (the ``"add"`` op of :mod:`cthulhu.ops.eltwise`).
    ``NotImplemented`` for other epilogues, or when a later input would broadcast the
    sum to a larger shape."""
    act = epilogue.activation
    if (len(xs) < 2 or epilogue.bias is not None or epilogue.scale is not None
            or epilogue.shift is not None or act not in (None, "relu", "relu6")):
        return NotImplemented
    y = _engine.add(xs, act)
    if y is not None:
        return y
    y = np.add(xs[0], xs[1])
    if not isinstance(y, np.ndarray):          # rank 0: NumPy returns a scalar, no buffer
        return NotImplemented
    for x in xs[2:]:
        if np.broadcast_shapes(y.shape, x.shape) != y.shape or np.result_type(y, x) != y.dtype:
            return NotImplemented
        np.add(y, x, out=y)
    if act is not None:
        # the same maximum (NaN stays NaN) and minimum as the op's generic epilogue
        np.maximum(y, y.dtype.type(0), out=y)
        if act == "relu6":
            np.minimum(y, y.dtype.type(6), out=y)
    return y


def affine(x, scale, shift, *, axis, epilogue):
    """The ``"affine"`` op of :mod:`cthulhu.ops.eltwise` in one native pass, or
    ``NotImplemented`` (the op's Array API code: the same arithmetic)."""
    act = epilogue.activation
    if (epilogue.bias is not None or epilogue.scale is not None or epilogue.shift is not None
            or act not in (None, "relu", "relu6")):
        return NotImplemented
    y = _engine.affine(x, scale, shift, axis, act)
    return NotImplemented if y is None else y
