"""Pooling and global pooling on NumPy arrays.

The native kernels (``native/pooling.h``) read the input in place in either layout
(one C call, the GIL released once, the engine's threads), and write the result in the
input's memory order: a channels_last view of channels_first memory gives a
channels_last view of a channels_first result, never a transposed copy. float16
computes in float32. Without native code, NumPy paths reduce one spatial axis after
the other over strided slices (no loop over positions).
"""

from __future__ import annotations

import numpy as np

from cthulhu.devices.numpy_ import _native, _threads
from cthulhu.devices.numpy_._common import compute_dtype, output
from cthulhu.shapes.layout import join_channels, split_channels

_FIRST, _LAST = "channels_first", "channels_last"


def _elements(a):
    """Element strides of ``a``, or ``None`` when a byte stride is not a multiple."""
    if any(s % a.itemsize for s in a.strides):
        return None
    return [s // a.itemsize for s in a.strides]


def _memory_layout(x, g):
    """The layout ``x``'s memory is in, as the kernels read it: ``channels_first`` when
    the last spatial axis is contiguous, ``channels_last`` when each position's channels
    and the positions of the last axis are; ``None`` otherwise (a copy is needed).
    (The stride of an axis of length 1 is never used.)"""
    steps = _elements(x)
    if steps is None:
        return None
    _, spatial, channel = split_channels(steps, g.data_format)
    last = spatial[-1] if g.in_spatial[-1] > 1 else None
    if last in (1, None):
        return _FIRST
    if (channel == 1 or g.channels == 1) and last == g.channels:
        return _LAST
    return None


def _unused_strides(steps, layout, sizes, channels):
    """``(batch, spatial, channel)`` element strides with those of length-1 axes set to
    what the kernels check for ``layout`` (they are never used)."""
    batch, spatial, channel = split_channels(steps, layout)
    spatial = list(spatial)
    if sizes[-1] == 1:
        spatial[-1] = 1 if layout == _FIRST else channels
    if channels == 1 and layout == _LAST:
        channel = 1
    return batch, spatial, channel


def _in_layout(a, have, want):
    """``a`` (axes in layout ``have``) with its axes in layout ``want`` (a view)."""
    if have == want:
        return a
    rank = a.ndim - 2
    if want == _LAST:     # (N, C, *S) -> (N, *S, C)
        return np.transpose(a, (0, *range(2, rank + 2), 1))
    return np.transpose(a, (0, rank + 1, *range(1, rank + 1)))


def _vector(g, x, y, layout):
    """The int64 ``PG_*`` vector of ``native/kernels.c``: sizes, window and pads from the
    geometry ``g``, element strides of ``x`` and ``y`` (arrays in ``layout``'s axis
    order); ranks 1 and 2 get leading axes of size 1."""
    lead = 3 - g.rank
    one, zero = (1,) * lead, (0,) * lead
    xn, xs, xc = _unused_strides(_elements(x), layout, g.in_spatial, g.channels)
    yn, ys, yc = _unused_strides(_elements(y), layout, g.out_spatial, g.channels)
    values = (g.batch, g.channels, *one, *g.in_spatial, *one, *g.out_spatial, *one,
              *g.pool_size, *one, *g.strides, *zero, *g.pads_lo, xn, *zero, *xs, xc,
              yn, *zero, *ys, yc)
    geom = np.asarray(values, dtype=np.int64)
    if geom.size != _native.POOL_GEOMETRY_LENGTH:
        raise AssertionError("pool geometry length")      # a programming error, not input
    return geom


def _native_pool(lib, x, g, ctype):
    """The native kernel, or ``None`` when it declines."""
    fmt = g.data_format
    xc = x if x.dtype == ctype else x.astype(ctype)
    memory = _memory_layout(xc, g)
    if memory is None:
        xc = np.ascontiguousarray(xc)
        memory = _memory_layout(xc, g)
    xm = _in_layout(xc, fmt, memory)         # axes in the memory's order: the kernel's view
    ym = output(join_channels(g.batch, g.out_spatial, g.channels, memory), ctype)
    func = lib.func("cthulhu_pool", ctype.itemsize)
    # held in a name for the whole call: ``.ctypes.data`` of a temporary is the address
    # of freed memory, which another thread's allocation may overwrite mid-call
    geom = _vector(g, xm, ym, memory)
    status = func(xm.ctypes.data, ym.ctypes.data, geom.ctypes.data,
                  int(g.kind == "average"), _threads.workers())
    if status == -1:
        raise MemoryError("cthulhu_pool: no memory for the row buffers")
    if status != 0:
        return None
    return _in_layout(ym, memory, fmt)


def _counts(n, k, s, lo, m):
    starts = np.arange(m) * s - lo
    return np.minimum(starts + k, n) - np.maximum(starts, 0)


def _numpy_pool(x, g, ctype):
    """One spatial axis after the other: pad with the neutral value, reduce the strided
    slices of the window's taps (channels_last view)."""
    is_max = g.kind == "max"
    y = np.transpose(x, g.to_channels_last) if g.channels_first else x
    y = y.astype(ctype, copy=False)
    fill = -np.inf if is_max else 0.0
    per_axis = zip(g.pool_size, g.strides, g.pads, g.out_spatial, strict=True)
    for axis, (k, s, (lo, hi), m) in enumerate(per_axis, start=1):
        if lo or hi:
            widths = [(0, 0)] * y.ndim
            widths[axis] = (lo, hi)
            y = np.pad(y, widths, constant_values=fill)

        def tap(t, y=y, axis=axis, s=s, m=m):
            index = [slice(None)] * y.ndim
            index[axis] = slice(t, t + (m - 1) * s + 1, s)
            return y[tuple(index)]

        out = np.array(tap(0))
        for t in range(1, k):
            (np.maximum if is_max else np.add)(out, tap(t), out=out)
        y = out
    if not is_max:
        for axis, (n, k, s, (lo, _), m) in enumerate(
                zip(g.in_spatial, g.pool_size, g.strides, g.pads, g.out_spatial, strict=True),
                start=1):
            shape = [1] * y.ndim
            shape[axis] = m
            y /= _counts(n, k, s, lo, m).astype(ctype).reshape(shape)
    return np.transpose(y, g.from_channels_last) if g.channels_first else y


def pool(x, *, geometry, epilogue):
    """Max or average pooling of ``geometry`` (the plugin contract of
    :mod:`cthulhu.devices.base`; pooling has no epilogue)."""
    g = geometry
    ctype = compute_dtype(x.dtype)
    if ctype is None:
        return NotImplemented
    lib = _native.library()
    y = None
    if lib is not None:
        y = _native_pool(lib, x, g, ctype)
    if y is None:
        y = _numpy_pool(x, g, ctype)
    return y if y.dtype == x.dtype else y.astype(x.dtype)


def _reduction_view(x, g):
    """``x`` as a C-contiguous ``(outer, positions, inner)`` array: ``(N, P, C)`` for
    channels_last memory, ``(N*C, P, 1)`` for channels_first, without a copy when the
    memory already is one of them."""
    for memory in (g.data_format, _LAST if g.channels_first else _FIRST):
        view = _in_layout(x, g.data_format, memory)
        if view.flags.c_contiguous:
            break
    else:
        memory = g.data_format
        view = np.ascontiguousarray(x)
    if memory == _LAST:
        return view.reshape(g.batch, g.positions, g.channels)
    return view.reshape(g.batch * g.channels, g.positions, 1)


def global_pool(x, *, geometry, epilogue):
    """Max or average over every spatial position (the plugin contract)."""
    g = geometry
    ctype = compute_dtype(x.dtype)
    if ctype is None:
        return NotImplemented
    lib = _native.library()
    if lib is None:
        xc = x.astype(ctype, copy=False)
        axes = tuple(g.spatial_axes)
        reduce = np.max if g.kind == "max" else np.mean
        y = reduce(xc, axis=axes, keepdims=g.keepdims)
        return y.astype(x.dtype, copy=False)
    view = _reduction_view(x if x.dtype == ctype else x.astype(ctype), g)
    outer, positions, inner = view.shape
    y = np.empty((g.batch, g.channels), ctype)
    func = lib.func("cthulhu_global_pool", ctype.itemsize)
    if func(view.ctypes.data, y.ctypes.data, outer, positions, inner,
            int(g.kind == "average"), _threads.workers()) != 0:
        raise MemoryError("cthulhu_global_pool: no memory for the partial results")
    y = y.reshape(g.out_shape)
    return y if y.dtype == x.dtype else y.astype(x.dtype)
