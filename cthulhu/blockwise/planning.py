"""What a ``predict_volume`` run will do, worked out before anything is written.

:func:`geometry` checks the model, the input and the blocks and works out the
run's shapes (reading no value); :func:`plan_run` adds everything else that does
not depend on where the output goes: the output's chunks, dtype, codecs,
metadata and identity (what a resume must share), and the list of blocks.
"""

from __future__ import annotations

import hashlib
import json

from cthulhu import shapes

from . import metadata, options, outputs, stores
from .blocks import auto_block, cache_bytes
from .layout import fit_layout
from .plan import output_grid
from .program import GraphProgram, Unblockable
from .resume import recorded_block
from .runner import normalize_block

__all__ = ["geometry", "plan_run", "Geometry", "np_dtype"]


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _identity(model, program, src, block, out_shape, dtype):
    """What a resumed run must share with the run that created the output, by name.

    Not the input's path: its content is checked instead (:mod:`.digest`), so a volume
    moved elsewhere resumes, and one re-exported in place does not.
    """
    config = model.get_config() if hasattr(model, "get_config") else None
    weights = hashlib.sha256()
    program.weights_digest(weights.update)
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
    src = stores.open_source(source)
    _check_source(src)
    # the model's declared input shape (None: free sizes), or its layers' layout if unbuilt
    template, rank, data_format = GraphProgram.declared(model)
    if template is not None and (len(template.input_ids) != 1 or len(template.output_ids) != 1):
        raise Unblockable(f"model {template.name!r}: out-of-core prediction runs models with "
                          f"one input and one output, got {len(template.input_ids)} and "
                          f"{len(template.output_ids)}")
    if rank is None:
        rank = len(src.shape) - 1  # a volume of position-wise layers: batch-less, channels
    layout, full_shape = fit_layout(src.shape, None if template is None else
                                    template.input_shape, rank, data_format)
    program = GraphProgram(model, [full_shape])
    out_full = program.output_shape
    spatial_out = program.spatial(out_full)
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
        block = normalize_block(block_shape, rank)
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
    return Geometry(model=model, source=src, program=program, layout=layout,
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
    src, program, block = geo.source, geo.program, geo.block
    out_chunks = options.check_chunks(chunks, block, geo.spatial_out)
    src.cache_bytes = cache_bytes(src, geo.layout,
                                  _region_extent(program, block, geo.spatial_out))
    stored_chunks = _chunks(geo.out_full, geo.out_layout, program, out_chunks)
    identity = _identity(model, program, src, block, geo.out_full, dtype)
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
    for axis, (lo, hi) in zip(program.spatial_axes, program.input_range(ranges), strict=True):
        extent[axis] = hi - lo
    return extent


def _check_device(device):
    import importlib.util

    if device not in ("numpy", "cupy"):
        raise ValueError(f"device must be 'numpy' or 'cupy', got {device!r}")
    if device == "cupy" and importlib.util.find_spec("cupy") is None:
        from cthulhu._extras import install_hint

        raise ValueError(f"device 'cupy' needs CuPy: {install_hint('cuda12')}")


def _chunks(out_full, out_layout, program, block):
    chunks = list(out_full)
    chunks[0] = 1
    for axis, b in zip(program.spatial_axes, block, strict=True):
        chunks[axis] = b
    kept = out_layout._kept(len(out_full), out_full)
    return tuple(chunks[i] for i in kept)
