"""``C = A @ B + beta*C`` straight through OpenBLAS's ``cblas_?gemm``, when we can find it.

NumPy's ``matmul`` always overwrites its output, so accumulating one GEMM per
kernel tap costs a temporary and an add per tap. BLAS itself accumulates for
free (``beta = 1``), which lets a stride-1 convolution run one GEMM per tap
directly on row-shifted views of the padded input, with no im2col copy at all.

Only symbols whose integer width is certain are used (``scipy_cblas_?gemm64_``:
64-bit, ``scipy_cblas_?gemm``: 32-bit, the two scipy-openblas wheels NumPy
ships), and a small self-test against ``numpy.matmul`` must pass before the
first use; otherwise :func:`available` is false and callers use NumPy.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

from cthulhu.devices.numpy_._threads import openblas_library

_ROW_MAJOR, _NO_TRANS = 101, 111
_VARIANTS = (("scipy_cblas_{}gemm64_", ctypes.c_int64), ("scipy_cblas_{}gemm", ctypes.c_int32))


def _bind(lib, name, blasint, real):
    func = getattr(lib, name)
    func.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, blasint, blasint, blasint, real,
                     ctypes.c_void_p, blasint, ctypes.c_void_p, blasint, real,
                     ctypes.c_void_p, blasint]
    func.restype = None
    return func


@functools.cache
def _functions():
    lib = openblas_library()
    if lib is None:
        return None
    for pattern, blasint in _VARIANTS:
        names = pattern.format("s"), pattern.format("d")
        if all(hasattr(lib, n) for n in names):
            funcs = {np.dtype(np.float32): _bind(lib, names[0], blasint, ctypes.c_float),
                     np.dtype(np.float64): _bind(lib, names[1], blasint, ctypes.c_double)}
            return funcs if _self_test(funcs) else None
    return None


def _leading(arr):
    """The BLAS leading dimension of a row-major 2-D array, or ``None`` if it has none.

    Strides of length-1 axes are meaningless in NumPy (any value may appear), so
    they are not checked.
    """
    rows, cols = arr.shape
    item = arr.itemsize
    if cols > 1 and arr.strides[1] != item:
        return None
    if rows <= 1:
        return max(cols, 1)
    step, rest = divmod(arr.strides[0], item)
    if rest or step < max(cols, 1):
        return None
    return step


def _call(funcs, a, b, c, beta):
    m, k = a.shape
    n = b.shape[1]
    funcs[a.dtype](_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, n, k, 1.0,
                   a.ctypes.data, _leading(a), b.ctypes.data, _leading(b),
                   beta, c.ctypes.data, _leading(c))


def _self_test(funcs) -> bool:
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        big = rng.standard_normal((9, 7)).astype(dtype)
        a = big[1:6, :3]                                   # strided rows (lda = 7)
        b = rng.standard_normal((3, 4)).astype(dtype)
        c = rng.standard_normal((5, 4)).astype(dtype)
        expected = a @ b + c
        try:
            _call(funcs, a, b, c, 1.0)
        except Exception:
            return False
        if not np.allclose(c, expected, rtol=1e-5, atol=1e-5):
            return False
    return True


def available(dtype) -> bool:
    funcs = _functions()
    return funcs is not None and np.dtype(dtype) in funcs


def gemm(a, b, c, beta: float) -> None:
    """``c[...] = a @ b + beta*c`` in place, for 2-D arrays with unit-stride rows.

    ``a`` may have any row stride (a view of rows of a larger matrix); ``b`` and
    ``c`` too. All three must share a dtype that :func:`available` accepts.
    """
    if c.shape != (a.shape[0], b.shape[1]) or a.shape[1] != b.shape[0]:
        raise ValueError(f"gemm(): shapes {a.shape} @ {b.shape} -> {c.shape} do not match")
    if any(_leading(arr) is None for arr in (a, b, c)):
        raise ValueError("gemm(): every operand needs contiguous, non-overlapping rows")
    if c.size and a.shape[1]:
        _call(_functions(), a, b, c, beta)
    elif c.size and beta == 0.0:
        c[...] = 0


def shifted_taps(rows, kmats, out, shifts):
    """A function ``run(r0, mm)`` that sets ``out[r0:r0+mm]`` to the sum over taps ``i``
    of ``rows[r0+shifts[i] : r0+shifts[i]+mm] @ kmats[i]`` (one BLAS call per tap, the
    first with beta = 0, the rest accumulating).

    The operands are checked and their addresses taken once, here: ``run`` then only
    makes the BLAS calls on integer addresses. Going through :func:`gemm` per tap held
    the GIL for ~7 us of argument checks and ``.ctypes`` look-ups per call, which
    serialised the pool's threads (two threads ran a 27-tap convolution no faster than
    one) and dominated small chunks.
    ``run`` keeps ``rows`` and ``out`` referenced, so the addresses stay valid.
    """
    funcs = _functions()
    t, k, f = kmats.shape
    if (rows.ndim != 2 or out.ndim != 2 or rows.shape[1] != k or out.shape[1] != f
            or len(shifts) != t or rows.dtype != kmats.dtype or out.dtype != kmats.dtype):
        raise ValueError(f"shifted_taps(): rows {rows.shape}, kernels {kmats.shape}, "
                         f"out {out.shape}, {len(shifts)} shifts do not match")
    # an empty operand has no meaningful strides; run then accepts no rows at all
    lda = _leading(rows) if rows.size else max(k, 1)
    ldc = _leading(out) if out.size else max(f, 1)
    if not kmats.flags.c_contiguous or lda is None or ldc is None:
        raise ValueError("shifted_taps(): operands need contiguous, non-overlapping rows")
    if any(sh < 0 for sh in shifts):
        raise ValueError("shifted_taps(): negative row shift")
    call = funcs[kmats.dtype]
    item = kmats.itemsize
    a0, c0 = rows.ctypes.data, out.ctypes.data
    taps = [(a0 + sh * lda * item, kmats.ctypes.data + i * k * f * item)
            for i, sh in enumerate(shifts)]
    reach = max(shifts) if shifts else 0

    def run(r0: int, mm: int) -> None:
        if r0 < 0 or mm < 0 or r0 + mm > out.shape[0] or r0 + reach + mm > rows.shape[0]:
            raise ValueError(f"shifted_taps(): rows {r0}:{r0 + mm} out of range")
        if mm == 0:
            return
        c = c0 + r0 * ldc * item
        if k == 0:
            out[r0:r0 + mm] = 0
            return
        skip = r0 * lda * item
        beta = 0.0
        for a, b in taps:
            call(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, mm, f, k, 1.0, a + skip, lda, b, f,
                 beta, c, ldc)
            beta = 1.0

    return run
