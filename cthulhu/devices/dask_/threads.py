"""One kernel thread per Dask worker thread.

Dask's threaded scheduler, and a ``dask.distributed`` worker, already run about
one task per core. The NumPy plugin parallelises each convolution over its own
thread pool (one thread per core unless ``CTHULHU_NUM_THREADS`` says
otherwise), so a block task on a worker thread would add a second thread per
core: they compete for the cores and each other's caches (measured: the
threaded scheduler ran a 3x3x3 convolution 0.72x as fast as ``dask_image``
while the synchronous one ran it 1.4x as fast).

:func:`kernel_threads` therefore shares the cores among the block tasks
running at the same time on worker threads: with ``t`` of them, the plugin
gets ``max(1, cores // t)`` threads (the setting is the ``CTHULHU_NUM_THREADS``
environment variable the plugin reads on every call, so a task alone - one
block, or the last one - gets every core again from its next layer on). Tasks
on the main thread (the ``synchronous`` scheduler runs them there) keep the
plugin's own setting, and so does a process whose user set
``CTHULHU_NUM_THREADS`` themselves.
"""

from __future__ import annotations

import contextlib
import os
import threading

__all__ = ["kernel_threads", "ENV"]

ENV = "CTHULHU_NUM_THREADS"

_lock = threading.Lock()
# depth: block tasks running on worker threads; ours: whether we set ENV (and must remove it)
_state = {"depth": 0, "ours": False}


@contextlib.contextmanager
def kernel_threads():
    """Run the enclosed block computation with single-threaded kernels on a worker thread."""
    if threading.current_thread() is threading.main_thread():
        yield
        return
    with _lock:
        if _state["depth"] == 0:
            _state["ours"] = ENV not in os.environ
        _state["depth"] += 1
        _share()
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            _share()
            if _state["depth"] == 0:
                _state["ours"] = False


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _share():
    """Set the plugin's threads for the tasks running now (called under the lock)."""
    if not _state["ours"]:
        return
    if _state["depth"] == 0:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = str(max(1, _cores() // _state["depth"]))
