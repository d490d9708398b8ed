"""The few-channel direct convolution of ``native/body.h`` as a NumPy-plugin path.

It returns the ``(N, *O, F)`` channels_last result in the compute dtype, bias and
ReLU applied, or ``None`` to decline (native kernels off or unavailable, a case it
does not cover or where the engine of :mod:`._engine` is faster); the caller then
runs the engine or its NumPy path. One C call runs every output row, in chunks on
the engine's threads, with the GIL released once.
"""

from __future__ import annotations

import math

import numpy as np

from cthulhu.devices.numpy_ import _native, _threads
from cthulhu.devices.numpy_._common import SCRATCH_LIMIT, output, scratch

# When this kernel beats the engine: one or two filters (the engine's tiles hold a
# vector of filters, so most lanes would idle), up to 15 input channels. Measured on
# 3x3(x3) 'same' float32 convolutions, one core (64^3 in 3D): 1->1 1.2 ms against the
# engine's 3.3; with 3 filters they tie (3->3 6.5 and 6.0); from 8 filters on the
# engine wins (8->8 13 ms against 19, 1->16 4.2 against 11, 4->32 10 against 36).
THIN_MAX_CHANNELS = 15
THIN_MAX_FILTERS = 2


def thin_wins(rank, c, f):
    """Whether the few-channel direct kernel is the faster path for ``c -> f`` channels."""
    return c <= THIN_MAX_CHANNELS and f <= THIN_MAX_FILTERS


def _geometry(xshape, ksize, strides, dilation, pads, out_sizes, m, planar=(0, 0, 0, 0)):
    """The int64 geometry vector of ``native/kernels.c`` (ranks 1-2 padded to 3);
    ``planar``: element strides (batch, i0, i1, channel) of conv_thin's input."""
    lead = 3 - len(ksize)
    ones, zeros = (1,) * lead, (0,) * lead
    values = (xshape[0], *ones, *xshape[1:-1], xshape[-1], *ones, *out_sizes,
              *ones, *ksize, *ones, *strides, *ones, *dilation,
              *zeros, *(lo for lo, _ in pads), m, *planar)
    geom = np.asarray(values, dtype=np.int64)
    if geom.size != _native.GEOMETRY_LENGTH:
        raise AssertionError("native geometry length")   # a programming error, not input
    return geom


def _covered(ctype, xl, out_sizes):
    return (ctype in (np.float32, np.float64) and len(out_sizes) in (1, 2, 3)
            and xl.size > 0 and math.prod(out_sizes) > 0)


def conv_thin(xl, kernel, strides, dilation, pads, out_sizes, ctype, bias, relu, force=False):
    """Direct convolution for few input channels, or ``None`` to decline (``force``
    skips the speed thresholds of :func:`thin_wins`, for tests)."""
    c, f = kernel.shape[-2:]
    if not force and not thin_wins(kernel.ndim - 2, c, f):
        return None
    lib = _native.library()
    if lib is None or not _covered(ctype, xl, out_sizes):
        return None
    w = np.ascontiguousarray(kernel, dtype=ctype)
    b = None if bias is None else np.ascontiguousarray(bias, dtype=ctype)
    xp = _planar(xl, ctype)
    geom = _geometry(xl.shape, kernel.shape[:-2], strides, dilation, pads, out_sizes, f,
                     _planar_strides(xp))
    y = output((xl.shape[0], *out_sizes, f), ctype)
    func = lib.func("cthulhu_conv_thin_all", xp.itemsize)
    if func(xp.ctypes.data, w.ctypes.data, None if b is None else b.ctypes.data, y.ctypes.data,
            geom.ctypes.data, int(relu), _threads.workers()) != 0:
        raise MemoryError("cthulhu_conv_thin: no memory for the row buffers")
    return y


def _planar(xl, ctype):
    """``(N, *S[:-1], C, S_last)`` with the last axis contiguous: a view of a
    channels_first input (or of one channel), else a transposed copy."""
    view = np.moveaxis(xl, -1, -2)
    if view.dtype == ctype and (view.shape[-1] == 1 or view.strides[-1] == view.itemsize) \
            and all(s % view.itemsize == 0 for s in view.strides):
        return view
    buf = np.empty(view.shape, ctype) if view.nbytes > SCRATCH_LIMIT \
        else scratch("native_planar", view.shape, ctype)
    np.copyto(buf, view)
    return buf


def _planar_strides(xp):
    """Element strides (batch, i0, i1, channel) of a planar input, ranks padded to 3."""
    steps = [s // xp.itemsize for s in xp.strides]
    spatial = steps[1:-2]                       # the spatial axes but the last
    spatial = [0] * (2 - len(spatial)) + spatial
    return (steps[0], *spatial, steps[-2])
