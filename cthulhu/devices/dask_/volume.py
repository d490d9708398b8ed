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

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

from cthulhu import shapes

from . import digest, metadata, options, outputs, stores
from . import ome as ome_group
from .blocks import auto_block, cache_bytes
from .job import VolumeJob, marker_name, run_block
from .layout import fit_layout, model_input_shape
from .lock import OutputInUseError, OutputLock, StaleLockWarning
from .places import StorePlace, output_place
from .plan import output_grid
from .program import BlockProgram, model_layers
from .progress import check_progress, tracking
from .resume import check_resumable, decide, recorded_block

__all__ = ["predict_volume", "VolumeJob", "RunSummary", "DONE_DIR", "InputChangedError",
           "OutputInUseError", "StaleLockWarning"]

DONE_DIR = outputs.DONE_DIR
_ATTR = outputs.ATTR


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


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _identity(model, layers, src, block, out_shape, dtype):
    """What a resumed run must share with the run that created the output, by name.

    Not the input's path: its content is checked instead (:mod:`.digest`), so a volume
    moved elsewhere resumes, and one re-exported in place does not.
    """
    config = model.get_config() if hasattr(model, "get_config") else None
    weights = hashlib.sha256()
    for layer in layers:
        for weight in layer.get_weights():
            weights.update(f"{weight.shape} {weight.dtype.str}".encode())
            weights.update(weight.tobytes())
    return _json_safe({
        "model configuration": _sha(json.dumps(_json_safe(config), sort_keys=True).encode()),
        "model weights": weights.hexdigest(),
        "input shape": list(src.shape),
        "input dtype": str(src.dtype), "block shape": list(block),
        "output shape": list(out_shape), "dtype": str(dtype)})


def _check_source(src):
    """Refuse inputs the model cannot take: empty volumes and non-real dtypes."""
    import numpy as np

    kind = np.dtype(src.dtype).kind
    if kind == "c":
        raise TypeError(f"predict_volume: input {src.spec!r} has complex dtype {src.dtype}; "
                        "the layers take real values - pass the real part, imaginary part or "
                        "magnitude as the input")
    if kind not in "biuf":
        raise TypeError(f"predict_volume: input {src.spec!r} has dtype {src.dtype}, not real "
                        "numbers")
    if 0 in src.shape:
        raise ValueError(f"predict_volume: input {src.spec!r} is empty (shape {src.shape})")


def _check_dtype(dtype):
    import numpy as np

    try:
        ok = np.dtype(dtype).kind == "f"
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"predict_volume: dtype must be a floating dtype such as 'float32', "
                         f"got {dtype!r}")


def _normalize_block(block_shape, rank):
    if block_shape is None:
        block_shape = 64
    if isinstance(block_shape, int):
        block_shape = (block_shape,) * rank
    block_shape = tuple(block_shape)
    if len(block_shape) != rank or not all(isinstance(b, int) and b > 0 for b in block_shape):
        raise ValueError(f"block_shape must be a positive int or {rank} positive ints, "
                         f"got {block_shape!r}")
    return block_shape


class Geometry:
    """A run's shapes, before any output is looked at: what :func:`plan_volume` draws.

    ``source``, ``program``, ``layout``/``out_layout`` (stored axes of input and
    output), ``block`` (output samples per spatial axis), ``halo``, ``jump``,
    ``spatial_out``, ``out_full`` (model-side output shape) and ``out_stored``.
    """

    def __init__(self, **values):
        self.__dict__.update(values)


def geometry(model, source, block_shape=None, dtype="float32", device="numpy", target=None,
             overwrite=False, recorded=None):
    """Check the model, input and blocks, and work out the run's shapes; reads no values.

    With a ``target`` holding an unfinished output (or ``recorded(rank)`` giving one's
    block) and no ``block_shape``, the output's recorded block is used (a resume).
    """
    if recorded is None and target is not None:
        def recorded(rank):
            return recorded_block(target, rank)
    _check_device(device)
    _check_dtype(dtype)
    layers = model_layers(model)
    src = stores.open_source(source)
    _check_source(src)
    data_format = _data_format(layers)
    rank = _spatial_rank(layers, model, len(src.shape), data_format)
    layout, full_shape = fit_layout(src.shape, model_input_shape(model, layers), rank,
                                    data_format)
    program = BlockProgram(layers, full_shape, folds=getattr(model, "fold_chain", None))
    out_full = program.output_shape
    spatial_out = program._spatial(out_full)
    halo, jump = program.halo, program.jump
    if halo is not None and any(h is None for h in halo):
        halo = None
    resumed = None
    if block_shape is None and not overwrite and recorded is not None:
        resumed = recorded(rank)
    if resumed is not None:  # resuming: the blocks are the unfinished output's chunks
        block = resumed
    elif block_shape is None:
        block = auto_block(halo, jump, spatial_out)
    else:
        block = _normalize_block(block_shape, rank)
        block = tuple(min(b, n) for b, n in zip(block, spatial_out, strict=True))
    for axis, (b, n) in enumerate(zip(block, spatial_out, strict=True)):
        if halo is None or b >= n:
            continue
        need = max(halo[axis])
        if b * jump[axis] < need:
            raise ValueError(f"block_shape {block} is smaller than the model's halo {halo} "
                             f"(input samples) on spatial axis {axis}; use blocks of at least "
                             f"{-(-need // jump[axis])} output samples there")
    # A volume stored without its channels axis gets an output without one too, unless
    # the model makes several output channels.
    out_channels = out_full[shapes.channel_index(len(out_full), data_format)]
    out_layout = type(layout)(layout.has_batch, layout.has_channels or out_channels != 1,
                              data_format)
    return Geometry(model=model, layers=layers, source=src, program=program, layout=layout,
                    out_layout=out_layout, block=block, halo=halo, jump=jump,
                    spatial_out=spatial_out, out_full=out_full,
                    out_stored=out_layout.stored_shape(out_full))


def plan_run(model, source, block_shape=None, overwrite=False, dtype="float32", device="numpy",
             scheduler=None, chunks=None, compression=None, output_dtype=None, recorded=None):
    """Everything about a run that does not depend on where its output goes; writes nothing.

    ``recorded(rank)`` gives an unfinished output's block (or ``None``). Returns
    ``(geometry, plan)``; ``plan`` lacks the output's ``"state"``.
    """
    from .scheduling import check_scheduler

    check_scheduler(scheduler)
    codec = options.compressors(compression)
    out_dtype = options.check_output_dtype(output_dtype, dtype)
    geo = geometry(model, source, block_shape, dtype, device, recorded=recorded,
                   overwrite=overwrite)
    src, program, block, layers = geo.source, geo.program, geo.block, geo.layers
    out_chunks = options.check_chunks(chunks, block, geo.spatial_out)
    src.cache_bytes = cache_bytes(src, geo.layout,
                                  _region_extent(program, block, geo.spatial_out))
    stored_chunks = _chunks(geo.out_full, geo.out_layout, program, out_chunks)
    identity = _identity(model, layers, src, block, geo.out_full, dtype)
    # only where they differ from the defaults: older unfinished outputs still resume
    if out_chunks != block:
        identity["output chunks"] = list(out_chunks)
    if out_dtype != np_dtype(dtype):
        identity["output dtype"] = str(out_dtype)
    if compression is not None:
        identity["compression"] = options.describe(compression)
    names, copied, coordinates = metadata.for_output(metadata.read_input(src), geo.layout,
                                                     geo.out_layout, program, geo.out_full)
    attrs = {
        "format": outputs.FORMAT, "format_version": outputs.FORMAT_VERSION,
        "model_name": getattr(model, "name", type(model).__name__),
        "model_config": _json_safe(model.get_config() if hasattr(model, "get_config") else None),
        "source": src.spec, "block_shape": list(block),
        "halo": None if geo.halo is None else [list(h) for h in geo.halo],
        "fingerprint": _sha(json.dumps(identity, sort_keys=True).encode()),
        "identity": identity, "complete": False, "coordinates": _json_safe(coordinates),
    }
    blocks = [(b, ranges) for b in range(geo.out_full[0])
              for _, ranges in output_grid(geo.spatial_out, block)]
    return geo, {"attrs": attrs, "shape": geo.out_stored, "chunks": stored_chunks,
                 "dtype": str(out_dtype), "identity": identity, "dimension_names": names,
                 "copied": copied, "codec": codec, "coordinates": coordinates,
                 "geometry": geo, "blocks": blocks}


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


def np_dtype(dtype):
    import numpy as np

    return np.dtype(dtype)


def _region_extent(program, block, spatial_out):
    """The extent of a middle block's input region on every model-side axis (chunk cache)."""
    ranges = []
    for b, n in zip(block, spatial_out, strict=True):
        start = (n // b) // 2 * b if n > b else 0
        ranges.append((start, min(start + b, n)))
    extent = list(program.input_shape)
    extent[0] = 1
    for axis, (lo, hi) in zip(program.spatial_axes, program.plan(ranges).input_range,
                              strict=True):
        extent[axis] = hi - lo
    return extent


def _check_device(device):
    import importlib.util

    if device not in ("numpy", "cupy"):
        raise ValueError(f"device must be 'numpy' or 'cupy', got {device!r}")
    if device == "cupy" and importlib.util.find_spec("cupy") is None:
        from cthulhu._extras import install_hint

        raise ValueError(f"device 'cupy' needs CuPy: {install_hint('cuda12')}")


def _data_format(layers):
    from .program import _data_format as program_format

    return program_format(layers)


def _spatial_rank(layers, model, stored_rank, data_format):
    for layer in layers:
        spec = layer.shape_spec() if hasattr(layer, "shape_spec") else None
        if spec and spec.get("rank"):
            return int(spec["rank"])
        if spec and spec.get("kernel_size") is not None:
            return len(spec["kernel_size"])
    shape = model_input_shape(model, layers)
    if shape is not None:
        return len(shape) - 2
    return stored_rank - 1


def _chunks(out_full, out_layout, program, block):
    chunks = list(out_full)
    chunks[0] = 1
    for axis, b in zip(program.spatial_axes, block, strict=True):
        chunks[axis] = b
    kept = out_layout._kept(len(out_full), out_full)
    return tuple(chunks[i] for i in kept)


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
    _check_content_parts(os.fspath(target), info, parts, src, old)


def _check_content_parts(name, info, parts, src, old):
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
        (:func:`~cthulhu.devices.dask_.blocks.auto_block`): 128 for three
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
        the array ``target/0`` (see :mod:`~cthulhu.devices.dask_.ome`).
    storage_options : dict, optional
        Options for the fsspec filesystem of URL inputs and outputs (as Zarr's).
    plan : str or os.PathLike, optional
        Draw the block plan (:func:`~cthulhu.devices.dask_.plan_volume`) to this
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
            voxels = _execute(job, todo, runner, progress, plan["shape"], len(blocks))
            _finish(array, job.generation)
    return RunSummary(blocks=len(blocks), computed=len(todo), skipped=len(blocks) - len(todo),
                      seconds=time.perf_counter() - start, voxels=voxels,
                      shape=plan["shape"], output=os.fspath(target), ome=bool(ome),
                      array=os.fspath(array))


def _execute(job, todo, scheduler, progress, shape, total):
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


def _finish(target, generation):
    path = Path(target)
    outputs.remove_strays(path)
    info = dict(json.loads((path / "zarr.json").read_bytes())["attributes"][_ATTR])
    info["complete"] = True
    outputs.set_attributes(path, info)
    shutil.rmtree(path / DONE_DIR)
    outputs.fsync_dir(path)
