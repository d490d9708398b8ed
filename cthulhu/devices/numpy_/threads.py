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

# The thread-local limits live beside the kernels' thread pool (._threads), which
# reads them at every call; this module is their public face.
from cthulhu.devices.numpy_._threads import limit, override, workers

__all__ = ["limit", "current", "override"]


def current() -> int:
    """The number of kernel threads an op called now, from this thread, would use."""
    return workers()
