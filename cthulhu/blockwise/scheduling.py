"""Run independent block tasks on a Dask scheduler, reporting each finished one.

Local schedulers (``None``/``"threads"``, ``"processes"``, ``"synchronous"``) run
a Dask graph of one task per block, with a callback counting finished blocks.
A ``dask.distributed`` ``Client`` or scheduler address gets the job scattered
once to every worker and one future per block.
"""

from __future__ import annotations

import contextlib
import re

from cthulhu.devices.dask_.halo import Opaque

__all__ = ["run_tasks", "get_client", "check_scheduler", "connected"]

_LOCAL = (None, "threads", "threading", "processes", "multiprocessing", "synchronous", "sync",
          "single-threaded")
# tcp://host:8786, tls://..., inproc://..., ucx://..., or host:port
_ADDRESS = re.compile(r"[a-z][a-z0-9+.-]*://\S+|[\w.\-]+:\d+|\[[0-9a-fA-F:]+\]:\d+")


def check_scheduler(scheduler):
    """Refuse a ``scheduler`` that is no local scheduler name, address or ``Client``.

    Connects to nothing (:func:`get_client` does), so that a run can check all its
    arguments before it creates anything.
    """
    if scheduler in _LOCAL:
        return
    if isinstance(scheduler, str):
        if not _ADDRESS.fullmatch(scheduler):
            names = ", ".join(repr(n) for n in _LOCAL[1:])
            raise ValueError(f"scheduler {scheduler!r} is neither a local scheduler ({names}) "
                             "nor a dask.distributed address such as 'tcp://host:8786'")
        return
    if type(scheduler).__name__ != "Client":
        raise TypeError(f"scheduler must be None, a scheduler name, an address or a "
                        f"distributed.Client, got {type(scheduler).__name__}")


def get_client(scheduler):
    """A ``distributed.Client`` for ``scheduler`` (a Client or an address), else ``None``."""
    if scheduler in _LOCAL:
        return None
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - distributed is in the dask extra
        from cthulhu._extras import install_hint

        raise ValueError(f"scheduler {scheduler!r} needs dask.distributed: "
                         f"{install_hint('dask')}") from exc
    if isinstance(scheduler, Client):
        return scheduler
    if isinstance(scheduler, str):
        try:
            return Client(scheduler, timeout="10s")
        except OSError as exc:
            raise OSError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from exc
    raise TypeError(f"scheduler must be None, a scheduler name, an address or a "
                    f"distributed.Client, got {type(scheduler).__name__}")


@contextlib.contextmanager
def connected(scheduler):
    """``scheduler`` ready to run: a ``Client`` for an address (closed at the end), else as given."""
    client = get_client(scheduler)
    try:
        yield scheduler if client is None else client
    finally:
        if client is not None and not _is_client(scheduler):
            client.close()


def run_tasks(func, job, items, scheduler, on_done, on_futures=None):
    """``sum(func(job, item) for item in items)``, in parallel, calling ``on_done()`` per item.

    On a cluster, ``on_futures(futures)`` (if given) is called once with the run's
    futures, before any result is awaited (a progress display watches them).
    """
    if not items:
        return 0
    client = get_client(scheduler)
    if client is not None:
        return _run_distributed(client, func, job, items, on_done,
                                close=not _is_client(scheduler), on_futures=on_futures)
    return _run_local(func, job, items, scheduler, on_done)


def _is_client(scheduler):
    return not isinstance(scheduler, str) and scheduler is not None


def _run_distributed(client, func, job, items, on_done, close, on_futures=None):
    from distributed import as_completed

    futures = []
    try:
        shared = client.scatter(job, broadcast=True, hash=False)
        futures = client.map(func, [shared] * len(items), items, pure=False)
        if on_futures is not None:
            on_futures(futures)
        total = 0
        for future in as_completed(futures):
            total += future.result()
            on_done()
        return total
    except BaseException:
        # Blocks not started yet never start; one already running on a worker ends on its
        # own, and finds its output fenced off if the output was replaced meanwhile.
        client.cancel(futures)
        raise
    finally:
        if close:
            client.close()


def _call(func, job, item):
    return func(job, item.value)


def _run_local(func, job, items, scheduler, on_done):
    import dask
    from dask.callbacks import Callback

    name = "cthulhu-block"
    graph = {"cthulhu-job": job}
    keys = []
    for i, item in enumerate(items):
        key = (name, i)
        # Wrapped so Dask never mistakes a block's tuple of ranges for a task or a key.
        graph[key] = (_call, func, "cthulhu-job", Opaque(item))
        keys.append(key)

    class _Count(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if isinstance(key, tuple) and key and key[0] == name:
                on_done()

    get = dask.base.get_scheduler(scheduler=scheduler or "threads")
    with _Count():
        results = get(graph, keys)
    return int(sum(results))
