"""The native convolution engine (``native/engine.h``) as NumPy functions.

Each function takes the op's explicit geometry - strides, dilation, the ``(lo, hi)``
pads already derived by :mod:`cthulhu.shapes`, the output sizes - and an epilogue
(``bias``, ``scale``, ``shift``: per output channel, applied in that order, then
``activation``: ``None``/``"linear"``, ``"relu"`` or ``"relu6"``). It makes one call
into C, which releases the GIL once; packing, chunking and the threads
(:func:`cthulhu.devices.numpy_.threads.current` of them) are all inside. The result is
a new array in ``data_format`` with ``x``'s dtype (float16 computes in float32).

A function returns ``None`` to decline - native code off or unavailable, a dtype or
activation it does not handle - and the caller runs its NumPy path.
"""

from __future__ import annotations

import numpy as np

from cthulhu.devices.numpy_ import _native, _threads
from cthulhu.devices.numpy_._common import compute_dtype, output

ACTIVATIONS = {None: 0, "linear": 0, "relu": 1, "relu6": 2}


def _library(x, activation):
    ctype = compute_dtype(x.dtype)
    if ctype is None or activation not in ACTIVATIONS:
        return None, None
    return _native.library(), ctype


def _elements(arr):
    """Element strides of ``arr``, or ``None`` when a byte stride is not a multiple."""
    steps = [s // arr.itemsize for s in arr.strides]
    if any(s % arr.itemsize for s in arr.strides):
        return None
    return steps


def _operand(x, ctype, contiguous=False):
    """``x`` in ``ctype``, with element strides (a copy only where needed)."""
    if x.dtype != ctype or contiguous or _elements(x) is None:
        x = np.ascontiguousarray(x, dtype=ctype)
    return x


def _axes(arr, fmt):
    """(batch stride, spatial strides, channel stride) of a channels_last/first array."""
    steps = _elements(arr)
    if fmt == "channels_last":
        return steps[0], steps[1:-1], steps[-1]
    return steps[0], steps[2:], steps[1]


def geometry(x, y, x_format, y_format, c, f, m, ksize, strides, dilation, pads):
    """The engine's int64 geometry vector (``CG_*`` in ``native/kernels.c``); ranks 1
    and 2 get leading axes of size 1."""
    rank = len(ksize)
    lead = 3 - rank
    xn, xs, xc = _axes(x, x_format)
    yn, ys, yf = _axes(y, y_format)
    in_spatial = x.shape[1:-1] if x_format == "channels_last" else x.shape[2:]
    out_spatial = y.shape[1:-1] if y_format == "channels_last" else y.shape[2:]
    one, zero = (1,) * lead, (0,) * lead
    values = (x.shape[0], c, f, m, *one, *in_spatial, *one, *out_spatial, *one, *ksize,
              *one, *strides, *one, *dilation, *zero, *(lo for lo, _ in pads),
              xn, *zero, *xs, xc, yn, *zero, *ys, yf)
    geom = np.asarray(values, dtype=np.int64)
    if geom.size != _native.ENGINE_GEOMETRY_LENGTH:
        raise AssertionError("engine geometry length")   # a programming error, not input
    return geom


def _result_shape(n, out_spatial, channels, fmt):
    if fmt == "channels_last":
        return (n, *out_spatial, channels)
    return (n, channels, *out_spatial)


def _epilogue(ctype, *arrays):
    return [None if a is None else np.ascontiguousarray(a, dtype=ctype) for a in arrays]


def _ptr(a):
    return None if a is None else a.ctypes.data


def _call(lib, name, ctype, x, weights, epilogue, activation, y, geom):
    func = lib.func(name, ctype.itemsize)
    status = func(x.ctypes.data, *(w.ctypes.data for w in weights),
                  *(_ptr(a) for a in epilogue), ACTIVATIONS[activation], y.ctypes.data,
                  geom.ctypes.data, _threads.workers())
    if status == -1:
        raise MemoryError(f"{name}: no memory for the engine's buffers")
    return status == 0


def _finish(y, dtype):
    return y if y.dtype == dtype else y.astype(dtype)


def conv(x, kernel, *, data_format, strides, dilation, pads, out_spatial, bias=None,
         scale=None, shift=None, activation=None):
    """Direct convolution; ``kernel`` ``(*k, C, F)``, ``x`` and the result in
    ``data_format``."""
    lib, ctype = _library(x, activation)
    if lib is None:
        return None
    c, f = kernel.shape[-2:]
    dtype = x.dtype
    y = output(_result_shape(x.shape[0], out_spatial, f, data_format), ctype)
    if y.size == 0:
        return _finish(y, dtype)
    x = _operand(x, ctype)
    w = np.ascontiguousarray(kernel, dtype=ctype)
    geom = geometry(x, y, data_format, data_format, c, f, 1, kernel.shape[:-2], strides,
                    dilation, pads)
    if not _call(lib, "cthulhu_conv", ctype, x, (w,), _epilogue(ctype, bias, scale, shift),
                 activation, y, geom):
        return None
    return _finish(y, dtype)


def conv_transpose(x, kernel, *, data_format, strides, dilation, pads, out_spatial, bias=None,
                   scale=None, shift=None, activation=None):
    """Transposed convolution; ``kernel`` ``(*k, F, C)``; ``pads``: those of the stride-1
    convolution over the zero-stuffed input (``shapes.conv_transpose_padding``).
    Declines an axis with both a stride and a dilation above 1."""
    lib, ctype = _library(x, activation)
    if lib is None:
        return None
    f, c = kernel.shape[-2:]
    y = output(_result_shape(x.shape[0], out_spatial, f, data_format), ctype)
    dtype = x.dtype
    if y.size == 0:
        return _finish(y, dtype)
    x = _operand(x, ctype)
    w = np.ascontiguousarray(kernel, dtype=ctype)
    geom = geometry(x, y, data_format, data_format, c, f, 1, kernel.shape[:-2], strides,
                    dilation, pads)
    if not _call(lib, "cthulhu_conv_transpose", ctype, x, (w,),
                 _epilogue(ctype, bias, scale, shift), activation, y, geom):
        return None
    return _finish(y, dtype)


def _channels_last(x, data_format, ctype):
    xl = x if data_format == "channels_last" else np.moveaxis(x, 1, -1)
    return np.ascontiguousarray(xl, dtype=ctype)


def depthwise_conv(x, kernel, *, data_format, strides, dilation, pads, out_spatial, bias=None,
                   scale=None, shift=None, activation=None):
    """Depthwise convolution; ``kernel`` ``(*k, C, M)``, output channel ``c*M + m``.
    A channels_first input is transposed once; the result is then a view."""
    lib, ctype = _library(x, activation)
    if lib is None:
        return None
    c, m = kernel.shape[-2:]
    dtype = x.dtype
    y = output(_result_shape(x.shape[0], out_spatial, c * m, "channels_last"), ctype)
    if y.size:
        xl = _channels_last(x, data_format, ctype)
        w = np.ascontiguousarray(kernel, dtype=ctype)
        geom = geometry(xl, y, "channels_last", "channels_last", c, c * m, m,
                        kernel.shape[:-2], strides, dilation, pads)
        if not _call(lib, "cthulhu_depthwise_conv", ctype, xl, (w,),
                     _epilogue(ctype, bias, scale, shift), activation, y, geom):
            return None
    y = _finish(y, dtype)
    return y if data_format == "channels_last" else np.moveaxis(y, -1, 1)


def separable_conv(x, depthwise_kernel, pointwise_kernel, *, data_format, strides, dilation,
                   pads, out_spatial, bias=None, scale=None, shift=None, activation=None):
    """Depthwise then pointwise (``(*ones, C*M, F)``), the pointwise product of each
    row segment computed while its depthwise result is in cache."""
    lib, ctype = _library(x, activation)
    if lib is None:
        return None
    c, m = depthwise_kernel.shape[-2:]
    f = pointwise_kernel.shape[-1]
    dtype = x.dtype
    y = output(_result_shape(x.shape[0], out_spatial, f, data_format), ctype)
    if y.size == 0:
        return _finish(y, dtype)
    xl = _channels_last(x, data_format, ctype)
    w = np.ascontiguousarray(depthwise_kernel, dtype=ctype)
    pw = np.ascontiguousarray(pointwise_kernel, dtype=ctype).reshape(c * m, f)
    geom = geometry(xl, y, "channels_last", data_format, c, f, m, depthwise_kernel.shape[:-2],
                    strides, dilation, pads)
    if not _call(lib, "cthulhu_separable_conv", ctype, xl, (w, pw),
                 _epilogue(ctype, bias, scale, shift), activation, y, geom):
        return None
    return _finish(y, dtype)

