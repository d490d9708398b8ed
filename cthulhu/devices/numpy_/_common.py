"""Helpers shared by the NumPy kernels: dtypes, layouts, padding, scratch buffers, epilogues."""

from __future__ import annotations

import math
import os
import sys
import threading
from typing import NamedTuple

import numpy as np

# Bytes of the per-chunk working set (im2col block): small enough to stay in
# the L2 cache, big enough that the GEMMs run near full speed.
CHUNK_BYTES = 1 << 20

# Largest temporary kept between calls, per thread.
SCRATCH_LIMIT = 32 << 20

_local = threading.local()


def compute_dtype(dtype):
    """float16 has no BLAS: compute in float32 and cast back at the end."""
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype.kind != "f":
        return None
    return dtype


def to_last(x, geometry):
    """``x`` (in ``geometry``'s data format) as a channels_last view."""
    return np.transpose(x, geometry.to_channels_last) if geometry.channels_first else x


def from_last(y, geometry):
    """A channels_last result in ``geometry``'s data format (a view)."""
    return np.transpose(y, geometry.from_channels_last) if geometry.channels_first else y


def padded(x, pads, dtype):
    """``x`` (channels_last) zero-padded by ``(lo, hi)`` pairs (negative crops), contiguous, ``dtype``."""
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(x.shape[1:-1], pads, strict=False))
    x = x[(slice(None), *crop, slice(None))]
    pads = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    if not any(lo or hi for lo, hi in pads):
        return np.ascontiguousarray(x, dtype=dtype)
    shape = (x.shape[0], *(n + lo + hi for n, (lo, hi) in zip(x.shape[1:-1], pads, strict=False)), x.shape[-1])
    # The padded copy lives only during the op: reuse this thread's buffer for it
    # (a fresh multi-megabyte array costs a page fault per 4 KiB on first write).
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    out = scratch("padded", shape, dtype) if nbytes <= SCRATCH_LIMIT else np.empty(shape, dtype)
    # zero only the borders: the interior is overwritten right away
    for axis, (lo, hi) in enumerate(pads, start=1):
        index = [slice(None)] * out.ndim
        if lo:
            index[axis] = slice(0, lo)
            out[tuple(index)] = 0
        if hi:
            index[axis] = slice(out.shape[axis] - hi, None)
            out[tuple(index)] = 0
    inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[1:-1], pads, strict=False))
    out[(slice(None), *inner, slice(None))] = x
    return out


def scratch(name, shape, dtype):
    """A per-thread reusable buffer (fresh large allocations page-fault on every call)."""
    size = math.prod(shape)
    store = getattr(_local, "buffers", None)
    if store is None:
        store = _local.buffers = {}
    key = (name, np.dtype(dtype).str)
    buf = store.get(key)
    if buf is None or buf.size < size:
        buf = store[key] = np.empty(max(size, 1), dtype=dtype)
    return buf[:size].reshape(shape)


#: The epilogue parts and activations the NumPy paths apply themselves (``fuses``).
FUSED_PARTS = ("bias", "scale", "shift", "activation")
FUSED_ACTIVATIONS = ("relu", "relu6")


class Tail(NamedTuple):
    """An op's :class:`~cthulhu.devices.base.Epilogue` as arrays of the compute dtype,
    applied in place to blocks of output rows by :func:`epilogue`."""

    bias: object = None
    scale: object = None
    shift: object = None
    activation: str | None = None

    @property
    def bias_relu_only(self) -> bool:
        """Nothing but a bias and a ReLU (what the few-channel kernel fuses)."""
        return self.scale is None and self.shift is None and self.activation != "relu6"


def _cast(a, ctype):
    return None if a is None else np.asarray(a, dtype=ctype)


def tail(ep, ctype) -> Tail:
    """``ep`` (an Epilogue of the parts this plugin fuses) in the compute dtype ``ctype``."""
    if ep.bias is None and ep.scale is None and ep.shift is None and ep.activation is None:
        return NO_TAIL                  # the common case of a plain convolution
    return Tail(_cast(ep.bias, ctype), _cast(ep.scale, ctype), _cast(ep.shift, ctype),
                ep.activation)


NO_TAIL = Tail()


def apply_tail(block, t):
    """The epilogue ``t`` (a :class:`Tail`) in place on a block of output rows ``(..., F)``
    (still in cache): bias, scale, shift, then ReLU or ReLU6."""
    if t.bias is not None:
        block += t.bias
    if t.scale is not None:
        block *= t.scale
    if t.shift is not None:
        block += t.shift
    if t.activation == "relu":
        np.maximum(block, 0, out=block)
    elif t.activation == "relu6":
        np.clip(block, 0, 6, out=block)


def finish(y, t, out_dtype):
    """The epilogue ``t`` in place on a compute-dtype result, then the output dtype."""
    apply_tail(y, t)
    if y.dtype != out_dtype:
        y = y.astype(out_dtype)
    return y


def chunk_rows(width, itemsize, lo=128, hi=16384):
    """Rows per chunk so that a ``(rows, width)`` block is about ``CHUNK_BYTES``."""
    return int(min(hi, max(lo, CHUNK_BYTES // max(1, width * itemsize))))


# Chunks per worker wanted when a call has few chunks: with two workers and two
# unequal chunks one thread idles while the other finishes (a 28x28 phase of a
# transposed convolution made a 4096-row and a 2600-row chunk).
CHUNKS_PER_WORKER = 3


def balanced_rows(rows, total, lo=64):
    """``rows`` per chunk, shrunk (not below ``lo``) so ``total`` rows give every worker
    ``CHUNKS_PER_WORKER`` chunks."""
    from cthulhu.devices.numpy_._threads import workers

    n = workers()
    if n <= 1:
        return rows
    return max(min(rows, -(-total // (n * CHUNKS_PER_WORKER))), min(lo, rows))


# Outputs of at least RECYCLE_MIN_BYTES are recycled (see `output`); each thread keeps
# at most RECYCLE_LIMIT bytes of them.
RECYCLE_MIN_BYTES = 1 << 20
RECYCLE_LIMIT = 32 << 20
# Reference counts tell whether a buffer is still used only where the GIL serialises
# them; free-threaded builds get plain fresh arrays. CTHULHU_NUMPY_RECYCLE=0 turns it
# off (for code that keeps raw data pointers of results without a reference).
_RECYCLE = (getattr(sys, "_is_gil_enabled", lambda: True)()
            and os.environ.get("CTHULHU_NUMPY_RECYCLE", "1") != "0")


def _refs_of_unused():
    """What ``sys.getrefcount(pool[i])`` reads for a buffer only the pool holds."""
    pool = [np.empty(1, np.uint8)]
    return sys.getrefcount(pool[0])


_UNUSED_REFS = _refs_of_unused()


def _unused(pool, i) -> bool:
    # every NumPy view keeps its base alive, so no live result, view or exporter of
    # the buffer means nothing but the pool counts
    return sys.getrefcount(pool[i]) <= _UNUSED_REFS


def output(shape, dtype):
    """An uninitialised array for an op's result, like ``numpy.empty``.

    Its memory may be that of an earlier result that nothing references any more
    (no array, view or exporter of it is alive): a fresh multi-megabyte array
    costs a page fault per 4 KiB on first write, which the kernel of a cheap op
    such as a depthwise convolution then waits on for much of its time.
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if not _RECYCLE or nbytes < RECYCLE_MIN_BYTES or nbytes > RECYCLE_LIMIT:
        return np.empty(shape, dtype)
    pool = getattr(_local, "outputs", None)
    if pool is None:
        pool = _local.outputs = []
    for i in range(len(pool)):
        if pool[i].nbytes >= nbytes and _unused(pool, i):
            return np.ndarray(shape, dtype, pool[i])        # a view: its base is pool[i]
    held = sum(b.nbytes for b in pool)
    i = 0
    while held + nbytes > RECYCLE_LIMIT and i < len(pool):
        if _unused(pool, i):
            held -= pool.pop(i).nbytes
        else:
            i += 1
    fresh = np.empty(nbytes, np.uint8)
    if held + nbytes <= RECYCLE_LIMIT:
        pool.append(fresh)
    return np.ndarray(shape, dtype, fresh)
