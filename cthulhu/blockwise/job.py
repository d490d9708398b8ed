"""What a worker does for one output block: compute it, write it durably, record it.

:class:`VolumeJob` is the picklable job every task receives; :func:`run_block` is the
task. A block's record (an empty file in ``cthulhu_done/<generation>/``) is created
only after the block's chunk file, its folder and any folder created for it are
``fsync``-ed, so a record always stands for data on disk. Each process counts its
running tasks, so that a run stopping early can wait for them before it releases
its output's lock (:meth:`VolumeJob.halt`).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cthulhu import shapes

from . import outputs, stores
from .options import cast

__all__ = ["VolumeJob", "run_block", "marker_name", "DONE_DIR"]

DONE_DIR = outputs.DONE_DIR


class _Flow:
    """A process's count of running block tasks, and the switch that stops new ones."""

    def __init__(self):
        self.lock = threading.Condition()
        self.active, self.stopped = 0, False
        self.synced_dirs = set()


class VolumeJob:
    """Everything a worker needs for one block: the program, the source, the target.

    Pickles small (the source and target are paths); each process opens the
    files itself, once.
    """

    def __init__(self, program, source, layout, out_layout, target, dtype, device="numpy",
                 generation=None, out_dtype=None):
        self.program, self.source, self.layout = program, source, layout
        self.out_layout, self.target, self.dtype = out_layout, os.fspath(target), dtype
        self.device, self.generation = device, generation
        self.out_dtype = out_dtype or dtype  # the stored dtype (options.cast)
        self._out = None
        self.flow = _Flow()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_out"] = state["flow"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.flow = _Flow()  # each process counts its own tasks

    @property
    def records(self) -> Path:
        """The folder of this output generation's block records."""
        return Path(self.target) / DONE_DIR / self.generation

    def read(self, full_index):
        block = self.source.read(self.layout.stored_index(full_index))
        block = self.layout.restore(block, len(full_index))
        if self.device == "cupy":
            import cupy

            block = cupy.asarray(block)  # the layers then run on the GPU (CuPy plugin)
        return block

    def output(self):
        if self._out is None:
            out = stores.open_target(self.target, mode="r+")
            if out is None:
                raise OSError(f"output {self.target!r} was removed while this run wrote it")
            # A chunk of zeros is written too: every recorded block has its file on disk.
            self._out = out.with_config({"write_empty_chunks": True})
        return self._out

    def run_block(self, block):
        """Compute, write and record one block; returns the number of output voxels."""
        import numpy as np

        batch, ranges = block
        y = self.program.run(self.read, ranges, batch=(batch, batch + 1), dtype=self.dtype)
        y = y.get() if hasattr(y, "get") and not isinstance(y, np.ndarray) else np.asarray(y)
        index = [slice(batch, batch + 1)] + [slice(*r) for r in ranges]
        full = [slice(None)] * y.ndim
        for axis, sl in zip((0, *self.program.spatial_axes), index, strict=True):
            full[axis] = sl
        stored = self.out_layout.stored_index(tuple(full))
        if not self._generation_open():  # the output was replaced or removed: write nothing
            raise OSError(f"output {self.target!r} was removed or replaced while this run "
                          "wrote it; block not written")
        try:
            out = self.output()
            out[stored] = cast(_strip(y, self.out_layout, self.program.data_format),
                               self.out_dtype)
            self._sync_chunk(out, stored)
        except OSError as exc:
            raise OSError(f"output {self.target!r}: cannot write block {block}: "
                          f"{exc.strerror or exc}") from exc
        self._record_block(block)
        return int(y.size)

    # What a store output (storeoutput.StoreJob) does its own way:
    def _generation_open(self):
        """Whether this output generation's record folder still exists (the fence)."""
        return self.records.is_dir()

    def _record_block(self, block):
        _record(self, block)

    def done(self):
        """The names of the blocks already recorded in this generation."""
        return set(os.listdir(self.records))

    def _sync_chunk(self, out, stored):
        """``fsync`` the block's chunk files, their folders, and any folder new since the last.

        A block covers whole chunks (one by default; ``options.check_chunks``)."""
        import itertools

        ranges = [range(start // c, -(-stop // c))
                  for (start, stop, _), c in zip((sl.indices(n) for sl, n in zip(stored, out.shape,
                                                                                 strict=True)),
                                                 out.chunks, strict=True)]
        root = Path(self.target)
        for coords in itertools.product(*ranges):
            chunk = root / out.metadata.encode_chunk_key(coords)
            outputs.fsync_file(chunk)
            outputs.fsync_dir(chunk.parent)  # the chunk's name (zarr renames it into place)
            known = self.flow.synced_dirs
            child = chunk.parent
            while child != root and child not in known:  # a folder zarr created for it
                outputs.fsync_dir(child.parent)
                known.add(child)
                child = child.parent

    def halt(self):
        """Start no more blocks in this process, and wait for the running ones to end."""
        flow = self.flow
        with flow.lock:
            flow.stopped = True
            flow.lock.wait_for(lambda: flow.active == 0)


def _strip(block, layout, data_format):
    axis = shapes.channel_index(block.ndim, data_format)
    if not layout.has_channels and block.shape[axis] == 1:
        block = block[(slice(None),) * axis + (0,)]
    if not layout.has_batch:
        block = block[0]
    return block


def marker_name(block) -> str:
    batch, ranges = block
    return "_".join([str(batch)] + [str(start) for start, _ in ranges])


def _record(job, block):
    # Only called once the block's chunk file and folders are fsynced: a record is a
    # block whose data is on disk. The record itself is not fsynced (losing one to a
    # power cut only means computing that block again).
    try:
        os.close(os.open(job.records / marker_name(block), os.O_CREAT | os.O_WRONLY, 0o644))
    except FileNotFoundError:
        raise OSError(f"output {job.target!r} was removed or replaced while this run wrote "
                      "it; block not recorded") from None


def run_block(job, block):
    flow = job.flow
    with flow.lock:
        if flow.stopped:
            return 0
        flow.active += 1
    try:
        return job.run_block(block)
    finally:
        with flow.lock:
            flow.active -= 1
            flow.lock.notify_all()
