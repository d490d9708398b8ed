"""The native convolution engine (``native/engine.h``) as NumPy functions.

Each function takes the op's resolved :class:`cthulhu.shapes.ConvGeometry` - strides,
dilation, the ``(lo, hi)`` pads, the output sizes, the data format, all explicit - and
an :class:`~cthulhu.devices.base.Epilogue` (``bias``, ``scale``, ``shift``: per output
channel, applied in that order, then ``activation``: ``None``, ``"relu"`` or
``"relu6"``). It makes one call into C, which releases the GIL once; packing, chunking
and the threads (:func:`cthulhu.devices.numpy_.threads.current` of them) are all
inside. The result is a new array in the geometry's data format with ``x``'s dtype
(float16 computes in float32).

A function returns ``None`` to decline - native code off or unavailable, a dtype or
activation it does not handle - and the caller runs its NumPy path.
"""

from __future__ import annotations

import math

import numpy as np

from cthulhu.devices.numpy_ import _native, _threads
from cthulhu.devices.numpy_._common import compute_dtype, output
from cthulhu.shapes.layout import join_channels, split_channels

ACTIVATIONS = {None: 0, "linear": 0, "relu": 1, "relu6": 2}
_LAST = "channels_last"   # the layout the depthwise kernels read


def _library(x, activation):
    ctype = compute_dtype(x.dtype)
    if ctype is None or activation not in ACTIVATIONS:
        return None, None
    return _native.library(), ctype


def _elements(arr):
    """Element strides of ``arr``, or ``None`` when a byte stride is not a multiple.

    An axis of length 1 gets the stride a C-contiguous array would have there: its
    index is always 0, so its stride means nothing, and NumPy calls an array
    contiguous whatever that stride says (``ascontiguousarray`` then copies nothing:
    a ``(1, 1, 1)`` view of every other channel kept its strides of 2 elements, and
    the depthwise kernels, which check for contiguous channels, declined it)."""
    size = arr.itemsize
    steps, inner = [], 1
    for n, stride in zip(reversed(arr.shape), reversed(arr.strides), strict=True):
        if n != 1 and stride % size:
            return None
        steps.append(inner if n == 1 else stride // size)
        inner *= n
    return steps[::-1]


def _operand(x, ctype, contiguous=False):
    """``x`` in ``ctype``, with element strides (a copy only where needed)."""
    if x.dtype == ctype and x.flags.c_contiguous:
        return x                  # the common case, without looking at every stride
    if x.dtype != ctype or contiguous or _elements(x) is None:
        x = np.ascontiguousarray(x, dtype=ctype)
    return x


# Geometry vectors already built: a model calls each layer with the same geometry object
# (ops' GeometryCache) and array layouts every batch. Keyed by the geometry's id, the
# entry holding the geometry itself, so the id cannot be reused while the entry lives.
_VECTORS: dict = {}
_VECTORS_LIMIT = 256


def vector(x, y, x_format, y_format, g, c, f, m):
    """The engine's int64 geometry vector (``CG_*`` in ``native/kernels.c``) for the
    geometry ``g`` read from ``x`` in ``x_format`` into ``y`` in ``y_format`` with ``c``
    input channels, ``f`` outputs, multiplier ``m``: sizes, window and pads from ``g``,
    element strides from the arrays. Ranks 1 and 2 get leading axes of size 1.

    Read-only, and remembered for the same geometry object, strides, formats and
    channel counts (the kernels never write it)."""
    key = (id(g), x.strides, x.itemsize, y.strides, y.itemsize, x_format, y_format, c, f, m)
    hit = _VECTORS.get(key)
    if hit is not None and hit[0] is g:
        return hit[1]
    geom = _new_vector(x, y, x_format, y_format, g, c, f, m)
    geom.flags.writeable = False
    if len(_VECTORS) >= _VECTORS_LIMIT:
        _VECTORS.clear()
    _VECTORS[key] = (g, geom)
    return geom


def _new_vector(x, y, x_format, y_format, g, c, f, m):
    lead = 3 - g.rank
    xn, xs, xc = split_channels(_elements(x), x_format)
    yn, ys, yf = split_channels(_elements(y), y_format)
    one, zero = (1,) * lead, (0,) * lead
    values = (g.batch, c, f, m, *one, *g.in_spatial, *one, *g.out_spatial, *one,
              *g.kernel_size, *one, *g.strides, *one, *g.dilation, *zero, *g.pads_lo,
              xn, *zero, *xs, xc, yn, *zero, *ys, yf)
    geom = np.asarray(values, dtype=np.int64)
    if geom.size != _native.ENGINE_GEOMETRY_LENGTH:
        raise AssertionError("engine geometry length")   # a programming error, not input
    return geom


def _epilogue(ctype, ep):
    return [_vector_of(a, ctype) for a in (ep.bias, ep.scale, ep.shift)]


def _vector_of(a, ctype):
    if a is None or (type(a) is np.ndarray and a.dtype == ctype and a.flags.c_contiguous):
        return a
    return np.ascontiguousarray(a, dtype=ctype)


def _ptr(a):
    return None if a is None else a.ctypes.data


def _call(lib, name, ctype, x, weights, epilogue, activation, y, geom):
    """One engine call: through the extension's ``engine`` (the arrays themselves) where
    the library has it, else through ``ctypes`` (their data pointers)."""
    bias, scale, shift = epilogue
    engine = lib.engine
    if engine is not None:
        w, pw = weights if len(weights) == 2 else (weights[0], None)
        status = engine(_native.ENGINE_KINDS[name], ctype.itemsize, x, w, pw, bias, scale,
                        shift, ACTIVATIONS[activation], y, geom, _threads.workers())
    else:
        status = lib.func(name, ctype.itemsize)(
            x.ctypes.data, *[w.ctypes.data for w in weights], _ptr(bias), _ptr(scale),
            _ptr(shift), ACTIVATIONS[activation], y.ctypes.data, geom.ctypes.data,
            _threads.workers())
    if status == -1:
        raise MemoryError(f"{name}: no memory for the engine's buffers")
    return status == 0


def _finish(y, dtype):
    return y if y.dtype == dtype else y.astype(dtype)


def conv(x, kernel, geometry, epilogue):
    """Direct convolution; ``kernel`` ``(*k, C, F)``, ``x`` and the result in the
    geometry's data format."""
    return _direct(x, kernel, geometry, epilogue, "cthulhu_conv")


def conv_transpose(x, kernel, geometry, epilogue):
    """Transposed convolution; ``kernel`` ``(*k, F, C)``; the pads are those of the
    stride-1 convolution over the zero-stuffed input (``shapes.conv_transpose_padding``).
    Declines an axis with both a stride and a dilation above 1."""
    return _direct(x, kernel, geometry, epilogue, "cthulhu_conv_transpose")


def _direct(x, kernel, g, ep, name):
    lib, ctype = _library(x, ep.activation)
    if lib is None:
        return None
    fmt = g.data_format
    dtype = x.dtype
    y = output(join_channels(g.batch, g.out_spatial, g.out_channels, fmt), ctype)
    if y.size == 0:
        return _finish(y, dtype)
    x = _operand(x, ctype)
    w = np.ascontiguousarray(kernel, dtype=ctype)
    geom = vector(x, y, fmt, fmt, g, g.in_channels, g.out_channels, 1)
    if not _call(lib, name, ctype, x, (w,), _epilogue(ctype, ep), ep.activation, y, geom):
        return None
    return _finish(y, dtype)


def _channels_last(x, g, ctype):
    xl = np.transpose(x, g.to_channels_last) if g.channels_first else x
    return np.ascontiguousarray(xl, dtype=ctype)


def depthwise_conv(x, kernel, geometry, epilogue):
    """Depthwise convolution; ``kernel`` ``(*k, C, M)``, output channel ``c*M + m``.
    A channels_first input is transposed once; the result is then a view."""
    g, ep = geometry, epilogue
    lib, ctype = _library(x, ep.activation)
    if lib is None:
        return None
    dtype = x.dtype
    y = output(join_channels(g.batch, g.out_spatial, g.mid_channels, _LAST), ctype)
    if y.size:
        xl = _channels_last(x, g, ctype)
        w = np.ascontiguousarray(kernel, dtype=ctype)
        geom = vector(xl, y, _LAST, _LAST, g, g.in_channels, g.mid_channels,
                      g.depth_multiplier)
        if not _call(lib, "cthulhu_depthwise_conv", ctype, xl, (w,), _epilogue(ctype, ep),
                     ep.activation, y, geom):
            return None
    y = _finish(y, dtype)
    return np.transpose(y, g.from_channels_last) if g.channels_first else y


def separable_conv(x, depthwise_kernel, pointwise_kernel, geometry, epilogue):
    """Depthwise then pointwise (``(*ones, C*M, F)`` or ``(C*M, F)``), the pointwise
    product of each row segment computed while its depthwise result is in cache."""
    g, ep = geometry, epilogue
    lib, ctype = _library(x, ep.activation)
    if lib is None:
        return None
    dtype = x.dtype
    y = output(join_channels(g.batch, g.out_spatial, g.out_channels, g.data_format), ctype)
    if y.size == 0:
        return _finish(y, dtype)
    xl = _channels_last(x, g, ctype)
    w = np.ascontiguousarray(depthwise_kernel, dtype=ctype)
    pw = np.ascontiguousarray(pointwise_kernel, dtype=ctype).reshape(g.mid_channels,
                                                                       g.out_channels)
    geom = vector(xl, y, _LAST, g.data_format, g, g.in_channels, g.out_channels,
                  g.depth_multiplier)
    if not _call(lib, "cthulhu_separable_conv", ctype, xl, (w, pw), _epilogue(ctype, ep),
                 ep.activation, y, geom):
        return None
    return _finish(y, dtype)


def add(xs, activation):
    """``activation(xs[0] + xs[1] + ...)`` in one fresh array (``native/eltwise.h``: one
    pass over the memory, on the engine's threads), or ``None`` to decline: native code
    off, fewer than two inputs, inputs not all C-contiguous float32 or float64 arrays of
    one shape and dtype (broadcasting and float16 stay with NumPy)."""
    if len(xs) < 2 or activation not in ACTIVATIONS:
        return None
    first = xs[0]
    if type(first) is not np.ndarray or first.dtype not in _ADD_DTYPES or first.size == 0:
        return None
    for x in xs:
        if type(x) is not np.ndarray or x.shape != first.shape or x.dtype != first.dtype \
                or not x.flags.c_contiguous:
            return None
    lib = _native.library()
    if lib is None:
        return None
    y = output(first.shape, first.dtype)
    pointers = np.array([x.ctypes.data for x in xs], dtype=np.uintp)
    lib.func("cthulhu_add", first.itemsize)(pointers.ctypes.data, len(xs), y.ctypes.data,
                                            first.size, ACTIVATIONS[activation],
                                            _threads.workers())
    return y


_ADD_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def affine(x, scale, shift, axis, activation):
    """``activation(x * scale + shift)``, ``scale`` and ``shift`` 1-D along ``axis``, in
    one fresh array (``native/eltwise.h``: one pass over the memory, NumPy's two
    roundings, on the engine's threads), or ``None`` to decline: native code off, ``x``
    not a C-contiguous float32/float64 array, or the vectors not of its dtype and
    length ``x.shape[axis]``."""
    if activation not in ACTIVATIONS or type(x) is not np.ndarray \
            or x.dtype not in _ADD_DTYPES or x.size == 0 or not x.flags.c_contiguous:
        return None
    c = x.shape[axis]
    for v in (scale, shift):
        if type(v) is not np.ndarray or v.dtype != x.dtype or v.shape != (c,):
            return None
    lib = _native.library()
    if lib is None:
        return None
    scale, shift = np.ascontiguousarray(scale), np.ascontiguousarray(shift)
    inner = math.prod(x.shape[axis + 1:])
    y = output(x.shape, x.dtype)
    lib.func("cthulhu_affine", x.itemsize)(x.ctypes.data, scale.ctypes.data,
                                           shift.ctypes.data, y.ctypes.data,
                                           x.size // (c * inner), c, inner,
                                           ACTIVATIONS[activation], _threads.workers())
    return y
