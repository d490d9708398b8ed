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

from cthulhu.devices.numpy_ import _native, _threads
from cthulhu.devices.numpy_._common import (
    CHUNK_BYTES,
    balanced_rows,
    epilogue,
    output,
    scratch,
)

# When the direct convolution beats the NumPy (BLAS) paths, from a sweep of 3x3(x3)
# 'same' float32 convolutions on one core (8x56x56 in 2D, 64^3 in 3D, 8x1024 in 1D):
# with 1-15 input channels it wins up to 8 filters (1.3-8.7x faster; in 1D with
# 12-15 channels only up to 4); with 2-4 channels in 2D/3D up to 32 filters
# (1.3-2.7x). Wider outputs run the sums of more filters than its registers hold
# and BLAS wins (8->16 in 3D: even; 8->64: 0.69x).
THIN_MAX_CHANNELS = 15
THIN_MAX_FILTERS = 8


def thin_wins(rank, c, f):
    """Whether the native direct convolution is the faster path for ``c -> f`` channels."""
    if c > THIN_MAX_CHANNELS:
        return False
    if rank >= 2 and 2 <= c <= 4:
        return f <= 4 * THIN_MAX_FILTERS
    if rank == 1 and c >= 12:
        return f <= THIN_MAX_FILTERS // 2
    return f <= THIN_MAX_FILTERS


def _geometry(xshape, ksize, strides, dilation, pads, out_sizes, m):
    """The int64 geometry vector of ``native/kernels.c`` (ranks 1-2 padded to 3)."""
    lead = 3 - len(ksize)
    ones, zeros = (1,) * lead, (0,) * lead
    values = (xshape[0], *ones, *xshape[1:-1], xshape[-1], *ones, *out_sizes,
              *ones, *ksize, *ones, *strides, *ones, *dilation,
              *zeros, *(lo for lo, _ in pads), m)
    geom = np.asarray(values, dtype=np.int64)
    if geom.size != _native.GEOMETRY_LENGTH:
        raise AssertionError("native geometry length")   # a programming error, not input
    return geom


def _chunks(rows, row_bytes):
    """Row ranges of about ``CHUNK_BYTES`` of output, several per worker."""
    step = max(1, CHUNK_BYTES // max(1, row_bytes))
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
    x, w, b = _prepare(xl, kernel, ctype, bias)
    geom = _geometry(x.shape, kernel.shape[:-2], strides, dilation, pads, out_sizes, f)
    y = output((x.shape[0], *out_sizes, f), ctype)
    flat = y.reshape(-1)
    _run("cthulhu_conv_thin", lib, x, w, b, geom, out_sizes, f, relu,
         lambda r0, r1, row_len: flat[r0 * row_len:r1 * row_len])
    return y
