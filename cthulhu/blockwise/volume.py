"""``predict_volume``: a whole model over a volume on disk, block by block, resumable.

Every output block is one task: read the block's input region plus the
model's halo once, run every layer in memory, write the block's exact output
into its own output chunk, then record the block as done. Output blocks are the
output Zarr array's chunks, so no two tasks ever write the same chunk.

A run, in order (``docs/out-of-core.md``, "Safety: overwrite, lock, resume, durability",
is the contract):

1. Check every argument (model, input, dtype, device, scheduler, blocks, the
   output's path against the input's) and connect to a cluster; nothing is
   created before this ends.
2. Take the output's lock (:mod:`.lock`): a file beside the output, held to the end.
3. Decide, under the lock, between a new output, replacing a cthulhu output
   (:mod:`.outputs`: nothing else is ever deleted) and resuming an unfinished
   one: the same model, input, blocks and dtype, *and* the same input content
   (:mod:`.digest`).
4. Each block: write its chunk, ``fsync`` the chunk file and its folders, then
   create its record, an empty file in ``cthulhu_done/<generation>/``. A record
   therefore only exists for a block whose data is durable. ``<generation>`` is
   new for every created output, so a block task of an earlier output (a worker
   that outlived its run) finds no folder to record into.
5. Remove temporary files, set ``"complete": true`` (``zarr.json`` replaced
   atomically and ``fsync``-ed), remove the records; release the lock.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from . import digest, outputs, stores
from . import ome as ome_group
from .job import VolumeJob, marker_name
from .lock import OutputLock
from .places import StorePlace, output_place
from .planning import plan_run
from .progress import check_progress
from .resume import check_resumable, decide, recorded_block
from .running import RunSummary, check_content_parts, execute

__all__ = ["predict_volume", "prepare", "DONE_DIR"]

DONE_DIR = outputs.DONE_DIR
_ATTR = outputs.ATTR


def prepare(model, source, target, block_shape=None, overwrite=False, dtype="float32",
            device="numpy", scheduler=None, chunks=None, compression=None, output_dtype=None):
    """Check everything and plan the run; writes nothing. Returns ``(job, blocks, plan)``."""
    geo, plan = plan_run(model, source, block_shape, overwrite, dtype, device, scheduler, chunks,
                         compression, output_dtype,
                         recorded=lambda rank: recorded_block(target, rank))
    src = geo.source
    outputs.check_apart(target, src.paths())
    OutputLock(target).check()  # a run in progress is the first thing to tell
    state, info = _target_state(target, plan["identity"], overwrite)
    if state == "resume":
        check_resumable(target, info, src)
    job = VolumeJob(geo.program, src, geo.layout, geo.out_layout, target, dtype, device,
                    out_dtype=plan["dtype"])
    return job, plan["blocks"], dict(plan, state=state)


def _target_state(target, identity, overwrite):
    """``("new" | "overwrite" | "resume", attributes)``; raises when the output may not be used."""
    # Refuses anything that is not a cthulhu output.
    info = outputs.existing_output(target, to_replace=overwrite)
    generation = (info or {}).get("generation")
    records = isinstance(generation, str) and (Path(target) / DONE_DIR / generation).is_dir()
    return decide(os.fspath(target), info, identity, overwrite, records), info


def _check_content(target, info, parts, src):
    record = Path(target) / DONE_DIR / f"input-{info['generation']}.txt"
    try:
        old = record.read_bytes()
    except OSError:
        old = None
    check_content_parts(os.fspath(target), info, parts, src, old)


def _create(target, plan, parts, generation):
    path = Path(target)
    attrs = dict(plan["attrs"], generation=generation, input_digest=digest.combine(parts))
    stores.create_target(path, plan["shape"], plan["chunks"], plan["dtype"],
                         {**plan["copied"], _ATTR: attrs}, dimension_names=plan["dimension_names"],
                         compressors=plan["codec"])
    records = path / DONE_DIR
    (records / generation).mkdir(parents=True)
    outputs.write_atomic(records / f"input-{generation}.txt", digest.dump_parts(parts))
    outputs.fsync_file(path / "zarr.json")
    for folder in (records, path, path.parent):
        outputs.fsync_dir(folder)


def predict_volume(model, source, target, block_shape=None, overwrite=False, scheduler=None,
                   progress=True, dtype="float32", device="numpy", chunks=None,
                   compression=None, output_dtype=None, ome=False, plan=None,
                   storage_options=None):
    """Run ``model`` over a volume on disk, block by block, into a Zarr array.

    Parameters
    ----------
    model : Pile or Lump
        A built model whose layers form one chain of spatial and position-wise layers.
    source : str, os.PathLike or array
        A Zarr array, ``'file.h5:dataset'``, a ``.npy`` file (memory-mapped) or an
        array. Axes: the model's ``(batch, spatial..., channels)``, or without the
        batch axis, or (single channel) spatial axes only. Real values only.
    target : str, os.PathLike, URL or Zarr store
        The output Zarr (v3) array; its chunks are the output blocks. It may not
        be, contain or lie inside the input. A path (or ``file://`` URL); an
        ``s3://`` or ``memory://`` URL, or a Zarr ``MemoryStore``/``FsspecStore``
        (see "Outputs in object stores" in the docs for what holds there).
    block_shape : int or tuple of int, optional
        Output block size per spatial axis. By default the smallest multiple of
        16 (from 64 up to 256) whose halo adds at most 15% to the block's input
        (:func:`~cthulhu.blockwise.blocks.auto_block`): 128 for three
        ``3x3x3`` convolutions.
    overwrite : bool
        Replace an existing output - only one written by ``predict_volume``
        (anything else is refused, and never deleted). Without it an existing
        output is an error, except an unfinished run of the same model, input
        (content included), blocks and dtype, which resumes.
    scheduler : None, str or distributed.Client
        ``None`` (Dask's threads), ``"threads"``, ``"processes"``, ``"synchronous"``,
        a ``dask.distributed`` scheduler address, or a ``Client``.
    progress : bool, "dask" or Progress
        ``True``: a ``tqdm`` bar (blocks, Mvoxel/s, time left) on a terminal
        (``stderr``, 80 columns at most) or in Jupyter; ``False``: none;
        ``"dask"``: Dask's own progress bar (``dask.diagnostics.ProgressBar``, or
        ``distributed.progress`` on a cluster). On a cluster the dashboard's
        address is printed first, unless ``progress=False``.
    dtype : str
        Floating dtype the model runs in (default ``"float32"``).
    device : {"numpy", "cupy"}
        Where each block runs: blocks read from disk are moved to the GPU with
        ``"cupy"`` (the CuPy plugin's kernels run) and their results back.
    chunks : int or tuple of int, optional
        The output's chunks per spatial axis; each must divide the block (every
        block writes whole chunks). Default: one chunk per block.
    compression : str or codecs, optional
        ``"zstd"`` (the default), ``"blosc"``, ``"gzip"`` (each with an optional
        ``":LEVEL"``), ``"none"``, or Zarr codec objects.
    output_dtype : str, optional
        The stored dtype (default: ``dtype``); integers are rounded and clipped.
    ome : bool
        Write an OME-NGFF (0.5) image: ``target`` becomes a group holding the
        ``multiscales`` metadata (axes, voxel scale, translation) of one level,
        the array ``target/0`` (see :mod:`~cthulhu.blockwise.ome`).
    storage_options : dict, optional
        Options for the fsspec filesystem of URL inputs and outputs (as Zarr's).
    plan : str or os.PathLike, optional
        Draw the block plan (:func:`~cthulhu.blockwise.plan_volume`) to this
        SVG file once every argument is checked, before any block is computed.

    Returns
    -------
    RunSummary
        A dict with ``blocks``, ``computed``, ``skipped``, ``seconds``, ``voxels``,
        ``shape`` and ``output``; ``summary.line()`` is a one-line report.

    Raises
    ------
    FileExistsError
        The output exists and may not be used (see ``overwrite``).
    OutputInUseError
        Another run holds the output's lock (``<target>.cthulhu-lock``).
    InputChangedError
        Resuming, but the input's content changed since the output was started.
    """
    import time

    from .scheduling import connected

    start = time.perf_counter()
    check_progress(progress)
    drawing = plan
    if not isinstance(source, stores.Source):
        source = stores.open_source(source, storage_options)
    place = output_place(target, storage_options)
    if isinstance(place, StorePlace):  # s3://, memory://, a Zarr store: storeoutput.py
        if ome:
            raise ValueError(f"output {place.name!r}: ome=True writes local outputs only; "
                             "write the OME-NGFF image locally and copy it")
        from .storeoutput import predict_to_store

        return predict_to_store(place, model, source, block_shape, overwrite, scheduler,
                                progress, dtype, device, chunks, compression, output_dtype,
                                drawing)
    target = place  # a local path (also file:// URLs, LocalStore, arrays on one)
    array = ome_group.array_path(target) if ome else target  # where the result array goes
    group_is_new = ome and ome_group.check_group(target) is None
    job, blocks, plan = prepare(model, source, array, block_shape, overwrite, dtype, device,
                                scheduler, chunks, compression, output_dtype)
    if ome:
        outputs.check_apart(target, job.source.paths())
        ome_group.check_axes(plan["coordinates"]["axes"], target)
    if drawing is not None:  # the block plan, drawn before anything is computed
        from .planview import VolumePlan

        VolumePlan(plan["geometry"]).save(drawing)
    with connected(scheduler) as runner:
        Path(os.path.abspath(os.fspath(array))).parent.mkdir(parents=True, exist_ok=True)
        with OutputLock(array):
            if ome:
                if not group_is_new:
                    ome_group.check_group(target)  # still cthulhu's, under the lock
                ome_group.write_group(target, plan["coordinates"], plan["attrs"]["model_name"])
            # Decided again under the lock: what was there may have changed since prepare.
            state, info = _target_state(array, plan["identity"], overwrite)
            parts = digest.input_parts(job.source)
            if state == "resume":
                _check_content(array, info, parts, job.source)
                job.generation = info["generation"]
            else:
                if state == "overwrite":
                    outputs.remove_output(array)
                job.generation = uuid.uuid4().hex
                _create(array, plan, parts, job.generation)
            done = job.done()
            todo = [b for b in blocks if marker_name(b) not in done]
            voxels = execute(job, todo, runner, progress, plan["shape"], len(blocks))
            _finish(array, job.generation)
    return RunSummary(blocks=len(blocks), computed=len(todo), skipped=len(blocks) - len(todo),
                      seconds=time.perf_counter() - start, voxels=voxels,
                      shape=plan["shape"], output=os.fspath(target), ome=bool(ome),
                      array=os.fspath(array))


def _finish(target, generation):
    path = Path(target)
    outputs.remove_strays(path)
    info = dict(json.loads((path / "zarr.json").read_bytes())["attributes"][_ATTR])
    info["complete"] = True
    outputs.set_attributes(path, info)
    shutil.rmtree(path / DONE_DIR)
    outputs.fsync_dir(path)
