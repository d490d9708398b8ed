"""How many threads the NumPy plugin's kernels use, per calling thread.

The user-level default is the environment variable ``CTHULHU_NUM_THREADS``
(else OpenBLAS's thread count, else the CPU count). Code that runs several
computations at once - Dask's worker threads, a web server's request threads -
limits each of them with :func:`limit`, which is **thread-local**: a limit set
in one thread never changes what another thread uses, and nothing global
(no environment variable) is written.

Examples
--------
>>> from cthulhu.devices.numpy_ import threads
>>> with threads.limit(1):
...     threads.current()
1
>>> with threads.limit(lambda: 2):          # evaluated at every op call
...     with threads.limit(1):              # nested: the innermost wins
...         inner = threads.current()
...     outer = threads.current()
>>> inner, outer
(1, 2)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

__all__ = ["limit", "current", "override"]

_local = threading.local()


def _stack() -> list:
    stack = getattr(_local, "stack", None)
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
    stack = getattr(_local, "stack", None)
    if not stack:
        return None
    n = stack[-1]
    if callable(n):
        n = n()
    return max(1, int(n))


def current() -> int:
    """The number of kernel threads an op called now, from this thread, would use."""
    from cthulhu.devices.numpy_._threads import workers

    return workers()
