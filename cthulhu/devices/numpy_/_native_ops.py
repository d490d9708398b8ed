"""The native kernels (:mod:`._native`) as NumPy-plugin paths.

Each entry point returns the ``(N, *O, channels)`` channels_last result in the
compute dtype, bias and ReLU applied, or ``None`` to decline (native kernels
off or unavailable, a case they do not cover); the caller then runs its NumPy
path. The work is cut into chunks of output rows (all axes but the last) run on
the plugin's thread pool; ``ctypes`` releases the GIL during each call, so the
chunks - and concurrent calls from other threads such as Dask's workers - run
in parallel.
"""

from __future__ import annotations

import math

import numpy as np

from cthulhu.devices.numpy_ import _common, _native, _threads
from cthulhu.devices.numpy_._common import (
    SCRATCH_LIMIT,
    balanced_rows,
    epilogue,
    output,
    scratch,
)

# When the direct convolution beats the NumPy (BLAS) paths: the most filters per
# (rank, input channels), from a sweep of 3x3(x3) 'same' float32 convolutions on one
# core (8x56x56 in 2D, 64^3 in 3D, 8x1024 in 1D). Within them it ran 1.1-9x faster
# (3D 8->8: 1.8x, 12->12: 1.4x); past them the sums of more filters than its
# registers hold lose to BLAS (3D 8->16: 1.1x, 8->32: 0.86x; 2D 1->16: 0.61x).
THIN_MAX_CHANNELS = 15
_THIN_MAX_FILTERS = {          # rank -> (1 channel, 2-4 channels, 5-15 channels)
    1: (4, 24, 8),
    2: (8, 32, 12),
    3: (16, 32, 12),
}


def thin_wins(rank, c, f):
    """Whether the native direct convolution is the faster path for ``c -> f`` channels."""
    if c > THIN_MAX_CHANNELS:
        return False
    one, few, more = _THIN_MAX_FILTERS[rank]
    return f <= (one if c == 1 else few if c <= 4 else more)


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


def _chunks(rows, row_bytes):
    """Row ranges of about ``CHUNK_BYTES`` of output, several per worker."""
    step = max(1, _common.CHUNK_BYTES // max(1, row_bytes))   # read now: tests shrink it
    step = balanced_rows(min(step, rows), rows, lo=1)
    return [(r, min(r + step, rows)) for r in range(0, rows, step)]


def _covered(ctype, xl, out_sizes):
    return (ctype in (np.float32, np.float64) and len(out_sizes) in (1, 2, 3)
            and xl.size > 0 and math.prod(out_sizes) > 0)


def _few_rows(kernel):
    # the depthwise kernel keeps the input rows of one output row in a table of 64
    return math.prod(kernel.shape[:-3]) <= 64


def _run(name, lib, x, w, bias, geom, out_sizes, width, relu, target, consume=None):
    """Run kernel ``name`` over every output row, chunk by chunk on the pool."""
    func = lib.func(name, x.itemsize)
    n = x.shape[0]
    rows = n * math.prod(out_sizes[:-1])
    row_len = out_sizes[-1] * width
    b_ptr = None if bias is None else bias.ctypes.data
    args = (x.ctypes.data, w.ctypes.data, b_ptr)

    def work(chunk):
        r0, r1 = chunk
        block = target(r0, r1, row_len)
        if func(*args, block.ctypes.data, geom.ctypes.data, r0, r1, int(relu)) != 0:
            raise MemoryError(f"{name}: no memory for the row buffers")
        if consume is not None:
            consume(r0, r1, block)

    _threads.run_chunks(work, _chunks(rows, row_len * x.itemsize))


def _prepare(xl, kernel, ctype, bias):
    x = np.ascontiguousarray(xl, dtype=ctype)
    w = np.ascontiguousarray(kernel, dtype=ctype)
    b = None if bias is None else np.ascontiguousarray(bias, dtype=ctype)
    return x, w, b


def depthwise(xl, kernel, strides, dilation, pads, out_sizes, ctype, bias, relu):
    """Depthwise convolution (any multiplier), or ``None`` to decline."""
    lib = _native.library()
    if lib is None or not _covered(ctype, xl, out_sizes) or not _few_rows(kernel):
        return None
    c, m = kernel.shape[-2:]
    x, w, b = _prepare(xl, kernel, ctype, bias)
    geom = _geometry(x.shape, kernel.shape[:-2], strides, dilation, pads, out_sizes, m)
    y = output((x.shape[0], *out_sizes, c * m), ctype)
    flat = y.reshape(-1)
    _run("cthulhu_depthwise", lib, x, w, b, geom, out_sizes, c * m, relu,
         lambda r0, r1, row_len: flat[r0 * row_len:r1 * row_len])
    return y


def separable(xl, depthwise_kernel, pointwise, strides, dilation, pads, out_sizes, ctype,
              bias, relu):
    """Depthwise by the native kernel, then the pointwise GEMM on each chunk in cache."""
    lib = _native.library()
    if lib is None or not _covered(ctype, xl, out_sizes) or not _few_rows(depthwise_kernel):
        return None
    c, m = depthwise_kernel.shape[-2:]
    width, f = c * m, pointwise.shape[-1]
    x, w, _ = _prepare(xl, depthwise_kernel, ctype, None)
    geom = _geometry(x.shape, depthwise_kernel.shape[:-2], strides, dilation, pads,
                     out_sizes, m)
    y = output((x.shape[0], *out_sizes, f), ctype)
    flat = y.reshape(-1, f)
    b = None if bias is None else np.asarray(bias, dtype=ctype)
    per_row = out_sizes[-1]

    def consume(r0, r1, block):
        out = flat[r0 * per_row:r1 * per_row]
        np.matmul(block.reshape(-1, width), pointwise, out=out)
        epilogue(out, b, relu)

    with _threads.single_threaded_blas():
        _run("cthulhu_depthwise", lib, x, w, None, geom, out_sizes, width, False,
             lambda r0, r1, row_len: scratch("native_dw", ((r1 - r0) * row_len,), ctype),
             consume)
    return y


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
    flat = y.reshape(-1)
    _run("cthulhu_conv_thin", lib, xp, w, b, geom, out_sizes, f, relu,
         lambda r0, r1, row_len: flat[r0 * row_len:r1 * row_len])
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
