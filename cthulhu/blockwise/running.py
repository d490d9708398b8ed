"""What every ``predict_volume`` run shares, wherever its output goes: its summary, the
refusal of a changed input, and running the block tasks on a scheduler.
"""

from __future__ import annotations

from . import digest
from .job import run_block
from .progress import tracking
from .resume import check_resumable

__all__ = ["InputChangedError", "RunSummary", "check_content_parts", "execute"]


class InputChangedError(ValueError):
    """The input's content differs from the content an unfinished output was started from."""


class RunSummary(dict):
    """What a run did: ``blocks``, ``computed``, ``skipped``, ``seconds``, ``voxels``, ``output``."""

    def line(self) -> str:
        seconds = max(self["seconds"], 1e-9)
        return (f"{self['output']}: {self['computed']} blocks computed, {self['skipped']} already "
                f"done, {self['blocks']} in all; output shape {tuple(self['shape'])}; "
                f"{self['seconds']:.1f} s, {self['voxels'] / seconds / 1e6:.2f} Mvoxel/s")

    def how_to_open(self) -> list[str]:
        """Lines saying how to open the result (Python, napari, neuroglancer)."""
        from .viewing import how_to_open

        return how_to_open(self["output"], self.get("array", self["output"]),
                           self.get("ome", False))


def check_content_parts(name, info, parts, src, old):
    """Refuse a resume whose input content differs; ``old``: the recorded part list's bytes."""
    check_resumable(name, info, src)
    if info.get("input_digest") == digest.combine(parts):
        return
    what = ("its content digest differs" if old is None
            else digest.describe_change(digest.load_parts(old), parts))
    raise InputChangedError(
        f"input {src.spec!r} changed since the unfinished run in {name!r} began "
        f"({what}); the blocks written so far came from the old content - pass "
        "overwrite=True (--overwrite) to start again from the new one")


def execute(job, todo, scheduler, progress, shape, total):
    from .scheduling import get_client, run_tasks

    out_voxels = 1
    for n in shape:
        out_voxels *= n
    with tracking(progress, get_client(scheduler), len(todo), total, out_voxels) as (done, show):
        try:
            return run_tasks(run_block, job, todo, scheduler, done, show)
        except BaseException:
            job.halt()  # the lock is released only once no block of this process still writes
            raise
