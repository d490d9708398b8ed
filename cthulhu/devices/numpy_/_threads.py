"""Threads for the NumPy kernels: our own chunk-level parallelism over single-threaded BLAS.

The convolutions cut their work into cache-sized chunks, each a copy plus a
few small GEMMs. OpenBLAS would parallelise every small GEMM on its own
(spinning threads for a few microseconds of work each, which collapses on a
busy machine) and leaves the copies single-threaded. So while a kernel runs
we set OpenBLAS to one thread and run the chunks on a small thread pool
(NumPy releases the GIL in copies and matmul). Nested or concurrent calls
(e.g. Dask's worker threads) simply run their chunks in the calling thread.

Finding OpenBLAS is best effort (NumPy wheels bundle ``scipy-openblas``);
with another BLAS the chunks still run on the pool and BLAS keeps its own
threading.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from cthulhu.devices.numpy_.threads import override

_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


@functools.cache
def openblas_library():
    """The OpenBLAS shared library NumPy uses (a ``ctypes.CDLL``), or ``None``."""
    import numpy

    candidates = []
    for path in numpy.__path__:
        candidates += glob.glob(os.path.join(os.path.dirname(path), "numpy.libs", "*openblas*"))
        candidates += glob.glob(os.path.join(path, ".dylibs", "*openblas*"))
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            candidates += [line.split()[-1] for line in maps if "openblas" in line.lower()]
    except OSError:
        pass
    for path in dict.fromkeys(candidates):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if any(hasattr(lib, setter) for setter, _ in _SYMBOLS):
            return lib
    return None


@functools.cache
def _openblas():
    """``(set_num_threads, get_num_threads)`` of the OpenBLAS NumPy uses, or ``None``."""
    lib = openblas_library()
    if lib is None:
        return None
    for setter, getter in _SYMBOLS:
        if hasattr(lib, setter) and hasattr(lib, getter):
            getattr(lib, getter).restype = ctypes.c_int
            return getattr(lib, setter), getattr(lib, getter)
    return None


def workers() -> int:
    """How many threads the kernels use: this thread's :func:`.threads.limit`, else
    ``CTHULHU_NUM_THREADS``, else BLAS's, else the CPUs."""
    local = override()
    if local is not None:
        return local
    env = os.environ.get("CTHULHU_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    blas = _openblas()
    if blas is not None and _state["saved"] is None:
        return max(1, int(blas[1]()))
    return max(1, _state["workers"] or (os.cpu_count() or 1))


_lock = threading.Lock()
_state = {"depth": 0, "saved": None, "workers": None}
_busy = threading.Semaphore(1)


def _after_fork_in_child():
    # locks held by other threads at fork time would never be released in the child
    global _lock, _busy
    _lock = threading.Lock()
    _busy = threading.Semaphore(1)
    _state.update(depth=0, saved=None, workers=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def single_threaded_blas():
    """Set OpenBLAS to one thread for the duration (re-entrant, restored by the last exit)."""
    blas = _openblas()
    with _lock:
        if _state["depth"] == 0 and blas is not None:
            _state["saved"] = int(blas[1]())
            _state["workers"] = _state["saved"]
            blas[0](1)
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0 and blas is not None and _state["saved"] is not None:
                blas[0](_state["saved"])
                _state["saved"] = None


@functools.cache
def _pool(n: int, pid: int) -> ThreadPoolExecutor:
    # keyed by process id: a forked child must not reuse its parent's (absent) threads
    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="cthulhu-numpy")


def run_chunks(work, starts, n_workers: int | None = None) -> None:
    """Call ``work(start)`` for every start, on the pool when it is free, else here.

    ``work`` must write disjoint parts of the output: chunks run concurrently.
    """
    starts = list(starts)
    n = workers() if n_workers is None else n_workers
    if n <= 1 or len(starts) <= 1 or not _busy.acquire(blocking=False):
        for start in starts:
            work(start)
        return
    try:
        # Workers pull chunks from one shared iterator (next() on a list iterator is
        # atomic under the GIL), so a worker slowed by a busy machine takes fewer.
        shared = iter(starts)
        pool = _pool(n, os.getpid())
        futures = [pool.submit(_drain, work, shared) for _ in range(min(n, len(starts)))]
        for future in futures:
            future.result()
    finally:
        _busy.release()


def _drain(work, shared):
    for start in shared:
        work(start)
