"""Progress of a run: a tqdm bar (terminal or Jupyter), or Dask's own diagnostics.

:class:`Progress` counts finished blocks on a ``tqdm.auto`` bar: a text line of
at most 80 columns on a terminal, a widget in Jupyter (where ``tqdm.auto``
finds ``ipywidgets``; a text line otherwise). Nothing is drawn elsewhere (a
pipe, a log file) unless asked. ``progress="dask"`` hands the run to Dask's own
progress bars instead (:func:`dask_progress`), and a run on a
``dask.distributed`` cluster prints the dashboard's address first
(:func:`announce_dashboard`).
"""

from __future__ import annotations

import contextlib
import sys

__all__ = ["Progress", "format_seconds", "in_notebook", "announce_dashboard", "dask_progress",
           "check_progress", "WIDTH"]

WIDTH = 80  # columns, at most, of the text bar


def format_seconds(seconds: float) -> str:
    """``3725.2`` -> ``'1:02:05'``; ``'?'`` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (where stderr is no terminal, yet shown)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def check_progress(progress):
    """Refuse a ``progress`` argument that is none of ``True``, ``False``, ``"dask"``, a bar."""
    if isinstance(progress, (bool, Progress)) or progress is None or progress == "dask":
        return
    raise ValueError(f"predict_volume: progress must be True, False, 'dask' or a Progress, "
                     f"got {progress!r}")


class Progress:
    """Counts finished blocks on a ``tqdm.auto`` bar: blocks, Mvoxel/s, time left.

    Parameters
    ----------
    total : int
        Blocks to do in this run.
    voxels_per_block : float
        Average output voxels per block, for the throughput figure.
    stream : file, optional
        Where a text bar goes (default ``sys.stderr``).
    enabled : bool, optional
        Draw at all; by default only on a terminal or in Jupyter.
    rate : float
        Redraws per second, at most.
    done_before : int
        Blocks an earlier, interrupted run finished: the bar starts there.
    """

    def __init__(self, total, voxels_per_block=0.0, stream=None, enabled=None, rate=10.0,
                 done_before=0):
        self.total, self.done, self.done_before = int(total), 0, int(done_before)
        self.voxels_per_block = float(voxels_per_block)
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = (bool(getattr(self.stream, "isatty", lambda: False)())
                       or (stream is None and in_notebook()))
        self.enabled = bool(enabled)
        self._bar = self._make_bar(rate) if self.enabled else None

    def _make_bar(self, rate):
        from tqdm.auto import tqdm

        try:
            import shutil

            columns = min(shutil.get_terminal_size((WIDTH, 24)).columns, WIDTH)
        except (OSError, ValueError):  # pragma: no cover - no terminal size at all
            columns = WIDTH
        return tqdm(total=self.done_before + self.total, initial=self.done_before,
                    unit="block", file=self.stream, ncols=columns, mininterval=1.0 / rate,
                    smoothing=0.1, leave=True, disable=False, dynamic_ncols=False,
                    bar_format="{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} blocks{postfix} "
                               "[{elapsed}<{remaining}]")

    def update(self, n=1):
        self.done += n
        bar = self._bar
        if bar is None:
            return
        elapsed = bar.format_dict["elapsed"]
        if elapsed > 0 and self.voxels_per_block:
            mvox = self.done * self.voxels_per_block / elapsed / 1e6
            bar.set_postfix_str(f"{mvox:.3g} Mvox/s", refresh=False)
        bar.update(n)

    def line(self) -> str:
        """The bar as text, as it would be drawn now (``''`` when disabled)."""
        return "" if self._bar is None else str(self._bar)

    def close(self):
        """End the bar (leaving its last state on screen)."""
        if self._bar is not None:
            self._bar.close()


def announce_dashboard(client, stream=None):
    """Print where the cluster's dashboard is (``client.dashboard_link``), if it has one."""
    try:
        link = client.dashboard_link
    except Exception:  # no dashboard (bokeh missing, or dashboard_address=None)
        link = None
    if link:
        print(f"cthulhu: Dask dashboard at {link}", file=stream or sys.stderr, flush=True)
    return link


@contextlib.contextmanager
def dask_progress(client=None, stream=None):
    """Dask's own progress bar around a run: ``dask.diagnostics.ProgressBar`` on the local
    schedulers; on a cluster, ``distributed.progress`` over the run's futures (yields a
    function the runner calls with them)."""
    if client is None:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=stream or sys.stderr):
            yield None
        return

    from distributed import progress

    def show(futures):
        if in_notebook():  # a widget, updated in the background while the run goes on
            from IPython.display import display

            display(progress(futures, notebook=True))
            return
        # In a terminal Dask's text bar waits for the futures itself; the run's own loop
        # then collects their results (an error or Ctrl-C still cancels the rest).
        progress(futures, notebook=False)

    yield show


@contextlib.contextmanager
def tracking(progress, client, todo, total, out_voxels):
    """``(on_done, on_futures)`` for a run of ``todo`` blocks out of ``total``.

    ``progress``: ``True`` (a :class:`Progress` bar where one can be seen), ``False``,
    ``"dask"`` (:func:`dask_progress`) or a :class:`Progress`. ``client``: the run's
    ``distributed.Client``, or ``None`` on a local scheduler.
    """
    if client is not None and progress is not False:
        announce_dashboard(client)
    if isinstance(progress, str) and progress == "dask":
        with dask_progress(client) as show:
            yield (lambda n=1: None), show
        return
    bar = progress if isinstance(progress, Progress) else Progress(
        todo, out_voxels / max(total, 1), enabled=None if progress else False,
        done_before=total - todo)
    try:
        yield bar.update, None
    finally:
        bar.close()
