"""``predict_volume``: a whole model over a volume on disk, block by block, resumable.

Every output block is one task: read the block's input region plus the
model's halo once, run every layer in memory, write the block's exact output
into its own output chunk(s), then record the block as done. Output blocks are
the output Zarr array's chunks, so no two tasks ever write the same chunk.

The completion record is one empty file per block in ``<output>/cthulhu_done/``,
written only after the block's data; the array's attributes say ``complete``
only once every block is recorded. A killed run therefore never leaves an
output that looks finished, and running the same call again computes only the
blocks without a record.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from . import stores
from .blocks import auto_block, cache_bytes
from .layout import fit_layout, model_input_shape
from .plan import output_grid
from .program import BlockProgram, model_layers
from .progress import Progress

__all__ = ["predict_volume", "VolumeJob", "RunSummary", "DONE_DIR"]

DONE_DIR = "cthulhu_done"
_ATTR = "cthulhu"


class RunSummary(dict):
    """What a run did: ``blocks``, ``computed``, ``skipped``, ``seconds``, ``voxels``, ``output``."""

    def line(self) -> str:
        seconds = max(self["seconds"], 1e-9)
        return (f"{self['output']}: {self['computed']} blocks computed, {self['skipped']} already "
                f"done, {self['blocks']} in all; output shape {tuple(self['shape'])}; "
                f"{self['seconds']:.1f} s, {self['voxels'] / seconds / 1e6:.2f} Mvoxel/s")


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


def _fingerprint(model, layers, source, block, out_shape):
    digest = hashlib.sha256()
    config = model.get_config() if hasattr(model, "get_config") else None
    digest.update(json.dumps(_json_safe(config), sort_keys=True).encode())
    for layer in layers:
        for weight in layer.get_weights():
            digest.update(str(weight.shape).encode())
            digest.update(weight.tobytes())
    digest.update(repr((source.spec, source.shape, str(source.dtype), block, out_shape)).encode())
    return digest.hexdigest()


class VolumeJob:
    """Everything a worker needs for one block: the program, the source, the target.

    Pickles small (the source and target are paths); each process opens the
    files itself, once.
    """

    def __init__(self, program, source, layout, out_layout, target, dtype, device="numpy"):
        self.program, self.source, self.layout = program, source, layout
        self.out_layout, self.target, self.dtype = out_layout, os.fspath(target), dtype
        self.device = device
        self._out = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_out"] = None
        return state

    def read(self, full_index):
        block = self.source.read(self.layout.stored_index(full_index))
        block = self.layout.restore(block, len(full_index))
        if self.device == "cupy":
            import cupy

            block = cupy.asarray(block)  # the layers then run on the GPU (CuPy plugin)
        return block

    def output(self):
        if self._out is None:
            self._out = stores.open_target(self.target, mode="r+")
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
        self.output()[stored] = _strip(y, self.out_layout, self.program.data_format)
        _record(self.target, block)
        return int(y.size)


def _strip(block, layout, data_format):
    if not layout.has_channels and block.shape[-1 if data_format == "channels_last" else 1] == 1:
        block = block[..., 0] if data_format == "channels_last" else block[:, 0]
    if not layout.has_batch:
        block = block[0]
    return block


def _marker(target, block) -> Path:
    batch, ranges = block
    name = "_".join([str(batch)] + [str(start) for start, _ in ranges])
    return Path(target) / DONE_DIR / name


def _record(target, block):
    # Written after the data: a block with a marker is a block whose chunks are on disk.
    path = _marker(target, block)
    with open(path, "wb") as handle:
        handle.flush()
        os.fsync(handle.fileno())


def _run_block(job, block):
    return job.run_block(block)


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


def prepare(model, source, target, block_shape=None, overwrite=False, dtype="float32",
            device="numpy"):
    """Check everything and plan the run; writes nothing. Returns ``(job, blocks, state)``."""
    _check_device(device)
    layers = model_layers(model)
    src = stores.open_source(source)
    data_format = _data_format(layers)
    rank = _spatial_rank(layers, model, len(src.shape), data_format)
    layout, full_shape = fit_layout(src.shape, model_input_shape(model, layers), rank,
                                    data_format)
    program = BlockProgram(layers, full_shape)
    out_full = program.output_shape
    spatial_out = program._spatial(out_full)
    halo, jump = program.halo, program.jump
    if halo is not None and any(h is None for h in halo):
        halo = None
    if block_shape is None:
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
    src.cache_bytes = cache_bytes(src, layout, _region_extent(program, block, spatial_out))
    # A volume stored without its channels axis gets an output without one too, unless
    # the model makes several output channels.
    out_channels = out_full[-1 if data_format == "channels_last" else 1]
    out_layout = type(layout)(layout.has_batch, layout.has_channels or out_channels != 1,
                              data_format)
    out_stored = out_layout.stored_shape(out_full)
    chunks = _chunks(out_full, out_layout, program, block)
    fingerprint = _fingerprint(model, layers, src, block, out_full)
    state = _target_state(target, fingerprint, overwrite)
    attrs = {_ATTR: {
        "model_name": getattr(model, "name", type(model).__name__),
        "model_config": _json_safe(model.get_config() if hasattr(model, "get_config") else None),
        "source": src.spec, "block_shape": list(block),
        "halo": None if halo is None else [list(h) for h in halo],
        "fingerprint": fingerprint, "complete": False,
    }}
    job = VolumeJob(program, src, layout, out_layout, target, dtype, device)
    blocks = [(b, ranges) for b in range(out_full[0])
              for _, ranges in output_grid(spatial_out, block)]
    return job, blocks, {"state": state, "attrs": attrs, "shape": out_stored, "chunks": chunks,
                         "dtype": dtype}


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
        raise ValueError("device 'cupy' needs CuPy: pip install 'cthulhu[cuda12]' (or cuda13)")


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


def _target_state(target, fingerprint, overwrite):
    """``"new"``, ``"overwrite"`` or ``"resume"``; raises when the output exists otherwise."""
    path = Path(target)
    if not path.exists():
        return "new"
    if overwrite:
        return "overwrite"
    existing = stores.open_target(path, mode="r")
    info = dict(existing.attrs).get(_ATTR) if existing is not None else None
    if isinstance(info, dict) and not info.get("complete") and (path / DONE_DIR).is_dir():
        if info.get("fingerprint") == fingerprint:
            return "resume"
        raise FileExistsError(f"output {os.fspath(target)!r} holds an unfinished run of a "
                              "different model, input or block shape; pass overwrite=True "
                              "(--overwrite) to replace it")
    raise FileExistsError(f"output {os.fspath(target)!r} already exists; pass overwrite=True "
                          "(--overwrite) to replace it")


def _create(target, plan):
    path = Path(target)
    if plan["state"] == "overwrite":
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    if plan["state"] != "resume":
        stores.create_target(path, plan["shape"], plan["chunks"], plan["dtype"], plan["attrs"])
        (path / DONE_DIR).mkdir()


def predict_volume(model, source, target, block_shape=None, overwrite=False, scheduler=None,
                   progress=True, dtype="float32", device="numpy"):
    """Run ``model`` over a volume on disk, block by block, into a Zarr array.

    Parameters
    ----------
    model : Pile or Lump
        A built model whose layers form one chain of spatial and position-wise layers.
    source : str, os.PathLike or array
        A Zarr array, ``'file.h5:dataset'``, a ``.npy`` file (memory-mapped) or an
        array. Axes: the model's ``(batch, spatial..., channels)``, or without the
        batch axis, or (single channel) spatial axes only.
    target : str or os.PathLike
        The output Zarr (v3) array; its chunks are the output blocks.
    block_shape : int or tuple of int, optional
        Output block size per spatial axis. By default the smallest multiple of
        16 (from 64 up to 256) whose halo adds at most 15% to the block's input
        (:func:`~cthulhu.devices.dask_.blocks.auto_block`): 128 for three
        ``3x3x3`` convolutions.
    overwrite : bool
        Replace an existing output. Without it an existing output is an error,
        except an unfinished run of the same model, input and blocks, which resumes.
    scheduler : None, str or distributed.Client
        ``None`` (Dask's threads), ``"threads"``, ``"processes"``, ``"synchronous"``,
        a ``dask.distributed`` scheduler address, or a ``Client``.
    progress : bool or Progress
        Draw a progress line on a terminal (``stderr``).
    dtype : str
        Floating dtype the model runs in (default ``"float32"``).
    device : {"numpy", "cupy"}
        Where each block runs: blocks read from disk are moved to the GPU with
        ``"cupy"`` (the CuPy plugin's kernels run) and their results back.

    Returns
    -------
    RunSummary
        A dict with ``blocks``, ``computed``, ``skipped``, ``seconds``, ``voxels``,
        ``shape`` and ``output``; ``summary.line()`` is a one-line report.
    """
    import time

    start = time.perf_counter()
    job, blocks, plan = prepare(model, source, target, block_shape, overwrite, dtype, device)
    _create(target, plan)
    done = {p.name for p in (Path(target) / DONE_DIR).iterdir()}
    todo = [b for b in blocks if _marker(target, b).name not in done]
    out_voxels = 1
    for n in plan["shape"]:
        out_voxels *= n
    bar = progress if isinstance(progress, Progress) else Progress(
        len(todo), out_voxels / max(len(blocks), 1), enabled=None if progress else False,
        done_before=len(blocks) - len(todo))
    voxels = _execute(job, todo, scheduler, bar)
    bar.close()
    _finish(target)
    return RunSummary(blocks=len(blocks), computed=len(todo), skipped=len(blocks) - len(todo),
                      seconds=time.perf_counter() - start, voxels=voxels,
                      shape=plan["shape"], output=os.fspath(target))


def _finish(target):
    out = stores.open_target(target, mode="r+")
    info = dict(out.attrs[_ATTR])
    info["complete"] = True
    out.attrs[_ATTR] = info
    shutil.rmtree(Path(target) / DONE_DIR)


def _execute(job, blocks, scheduler, bar):
    from .scheduling import run_tasks

    return run_tasks(_run_block, job, blocks, scheduler, bar.update)
