"""Threads for the NumPy plugin: how many, and BLAS's own threads (through threadpoolctl).

The native engine (:mod:`._engine`) runs its own threads inside C, as many as
:func:`workers` says for the calling thread. The NumPy fallback paths cut their work
into cache-sized chunks, each a copy plus a few small GEMMs, run on a small thread
pool here (NumPy releases the GIL in copies and matmul). BLAS would parallelise
every small GEMM on its own (spinning threads for a few microseconds of work each,
which collapses on a busy machine), so while they run BLAS is set to one thread.
Nested or concurrent calls (e.g. Dask's worker threads) run their chunks in the
calling thread.

BLAS is found and steered with threadpoolctl, whatever it is (OpenBLAS in NumPy's
wheels, MKL or BLIS in conda, Accelerate): ``blas()`` lists what is loaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor


class _Local(threading.local):
    # The class default answers a thread that never set a limit without raising (and
    # catching) an AttributeError inside getattr: that cost ~0.4 µs on every op call.
    stack = None


_local = _Local()


def _stack() -> list:
    stack = _local.stack
    if stack is None:
        stack = _local.stack = []
    return stack


@contextlib.contextmanager
def limit(n: int | Callable[[], int]) -> Iterator[None]:
    """Use at most ``n`` kernel threads for op calls made by *this* thread.

    Parameters
    ----------
    n : int or callable
        A positive thread count, or a function returning one; a function is
        called at every op call, so the limit can follow changing conditions
        (how many Dask tasks run at the moment, for instance).

    Notes
    -----
    Limits nest: the innermost one in effect wins and the outer one comes back
    on exit. The thread pool's own worker threads run chunks of a call that
    was already sized, so they never consult a limit.
    """
    if not callable(n):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"threads.limit(): n must be a positive int or a callable, "
                             f"got {n!r}")
    stack = _stack()
    stack.append(n)
    try:
        yield
    finally:
        stack.pop()


def override() -> int | None:
    """The innermost :func:`limit` of this thread, evaluated, or ``None`` without one."""
    stack = _local.stack
    if not stack:
        return None
    n = stack[-1]
    if type(n) is int:          # limit() took it as a positive int (the common case)
        return n
    if callable(n):
        n = n()
    return max(1, int(n))


@functools.cache
def _controller():
    """threadpoolctl's view of the loaded thread pools (NumPy's BLAS among them)."""
    import numpy  # noqa: F401  (loads NumPy's BLAS before threadpoolctl looks)

    try:
        import threadpoolctl
    except ImportError:            # a dependency; tolerated if someone removed it
        return None
    return threadpoolctl.ThreadpoolController()


@functools.cache
def _blas_libs():
    ctl = _controller()
    return [] if ctl is None else list(ctl.select(user_api="blas").lib_controllers)


def blas() -> list[dict]:
    """The BLAS libraries loaded (threadpoolctl's ``info()`` of each)."""
    return [lib.info() for lib in _blas_libs()]


def describe_blas() -> str:
    """``"openblas 0.3.31 (pthreads, 2 threads)"``, for ``cthulhu devices``."""
    libs = blas()
    if not libs:
        return "not found (threadpoolctl sees none)"
    return ", ".join(f"{i.get('internal_api')} {i.get('version') or ''}".strip()
                     + f" ({i.get('threading_layer', 'threads')}, {i.get('num_threads')} threads)"
                     for i in libs)


@functools.cache
def openblas_library():
    """The OpenBLAS shared library NumPy uses (a ``ctypes.CDLL``), or ``None``."""
    for info in blas():
        if info.get("internal_api") == "openblas" and info.get("filepath"):
            try:
                return ctypes.CDLL(info["filepath"])
            except OSError:
                continue
    return None


_getters: tuple = (None, [])   # _blas_libs() and its _thread_getters(), read per matmul


def _thread_getters(libs) -> list:
    """One callable per BLAS library answering its thread count now. OpenBLAS on its
    own threads: its C getter, which threadpoolctl holds (~0.1 µs, where the
    ``num_threads`` property costs ~0.5 µs on every batch-1 matmul under a limit);
    any other library, or a threadpoolctl without that helper: the property."""
    getters = []
    for lib in libs:
        func = None
        if type(lib).__name__ == "OpenBLASController" \
                and getattr(lib, "threading_layer", None) != "openmp":
            try:
                func = lib._get_symbol("openblas_get_num_threads")
            except Exception:       # a threadpoolctl without the (private) helper
                func = None
        getters.append(func if func is not None else (lambda lib=lib: lib.num_threads))
    return getters


def blas_threads() -> int | None:
    """The largest thread count of the loaded BLAS libraries, or ``None`` without any."""
    global _getters
    libs = _blas_libs()
    known, getters = _getters
    if known is not libs:
        getters = _thread_getters(libs)
        _getters = (libs, getters)
    if len(getters) == 1:
        return getters[0]()
    return max(get() for get in getters) if getters else None


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def workers() -> int:
    """How many threads the kernels use: this thread's :func:`.threads.limit`, else
    ``CTHULHU_NUM_THREADS``, else BLAS's, else the CPUs."""
    local = override()
    if local is not None:
        return local
    env = os.environ.get("CTHULHU_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    if _state["saved"] is None:
        threads = blas_threads()
        if threads is not None:
            return max(1, threads)
    return max(1, _state["workers"] or _cpus())


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
    """Set BLAS to one thread for the duration (re-entrant and shared by concurrent
    callers: the first entry saves the thread counts, the last exit restores them)."""
    libs = _blas_libs()
    with _lock:
        if _state["depth"] == 0 and libs:
            _state["saved"] = [lib.num_threads for lib in libs]
            _state["workers"] = max(_state["saved"])
            for lib in libs:
                lib.set_num_threads(1)
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0 and libs and _state["saved"] is not None:
                for lib, n in zip(libs, _state["saved"], strict=True):
                    lib.set_num_threads(n)
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
