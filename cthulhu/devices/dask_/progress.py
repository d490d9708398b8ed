"""A one-line progress bar: blocks done, throughput, time left (no dependency)."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``3725.2`` -> ``'1:02:05'``; ``'?'`` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts finished blocks and redraws one terminal line at most ``rate`` times a second.

    Parameters
    ----------
    total : int
        Blocks to do in this run.
    voxels_per_block : float
        Average output voxels per block, for the throughput figure.
    stream : file, optional
        Where to draw (default ``sys.stderr``); nothing is drawn unless
        ``enabled`` (default: the stream is a terminal).
    """

    def __init__(self, total, voxels_per_block=0.0, stream=None, enabled=None, rate=10.0,
                 done_before=0):
        self.total, self.done, self.done_before = int(total), 0, int(done_before)
        self.voxels_per_block = float(voxels_per_block)
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.interval = 1.0 / rate
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = -1

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def update(self, n=1):
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last_draw >= self.interval or self.done >= self.total):
            self._last_draw = now
            self._drawn = self.done
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def line(self, width=24) -> str:
        total = max(self.total, 1)
        filled = int(width * self.done / total)
        bar = "#" * filled + "." * (width - filled)
        elapsed = self.elapsed
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        mvox = rate * self.voxels_per_block / 1e6
        before = f" (+{self.done_before} earlier)" if self.done_before else ""
        return (f"[{bar}] {self.done}/{self.total} blocks{before}  {rate:.1f} blocks/s  "
                f"{mvox:.2f} Mvoxel/s  left {format_seconds(left)}  ")

    def close(self):
        """End the line (redrawing it first unless the final state is already shown)."""
        if self.enabled:
            final = "" if self._drawn == self.done else "\r" + self.line()
            self.stream.write(final + "\n")
            self.stream.flush()
