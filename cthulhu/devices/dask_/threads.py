"""Kernel threads per Dask worker thread.

Dask's threaded scheduler, and a ``dask.distributed`` worker, already run about
one task per core. The NumPy plugin parallelises each convolution over its own
thread pool (one thread per core unless ``CTHULHU_NUM_THREADS`` says
otherwise), so a block task on a worker thread would add a second thread per
core: they compete for the cores and each other's caches (measured: the
threaded scheduler ran a 3x3x3 convolution 0.72x as fast as ``dask_image``
while the synchronous one ran it 1.4x as fast).

:func:`kernel_threads` therefore shares the cores among the block tasks
running at the same time on worker threads: with ``t`` of them, each task's
kernels get ``max(1, cores // t)`` threads. The limit is the NumPy plugin's
thread-local :func:`cthulhu.devices.numpy_.threads.limit`, evaluated at every
op call, so a task alone - one block, or the last one - gets every core again
from its next layer on, and no process-global state is written. Tasks on the
main thread (the ``synchronous`` scheduler runs them there) keep the plugin's
own setting, and so does a process whose user set ``CTHULHU_NUM_THREADS``.
"""

from __future__ import annotations

import contextlib
import os
import threading

__all__ = ["kernel_threads", "ENV"]

ENV = "CTHULHU_NUM_THREADS"

_lock = threading.Lock()
# block tasks running on worker threads right now
_state = {"depth": 0}


@contextlib.contextmanager
def kernel_threads():
    """Run the enclosed block computation with a share of the cores on a worker thread."""
    if threading.current_thread() is threading.main_thread() or ENV in os.environ:
        yield
        return
    from cthulhu.devices.numpy_.threads import limit

    with _lock:
        _state["depth"] += 1
    try:
        with limit(share):
            yield
    finally:
        with _lock:
            _state["depth"] -= 1


def share() -> int:
    """Kernel threads for one block task: the cores divided among the running tasks."""
    return max(1, _cores() // max(1, _state["depth"]))


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
