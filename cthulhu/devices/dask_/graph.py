"""A block program over a Dask array, as a lazy Dask array (a hand-built graph).

Each output chunk is one task. The task receives exactly the input chunks its
region overlaps (block + halo, clipped at the volume's borders), assembles the
region, and runs the program on it in memory with the chunks' own library
(NumPy or CuPy), so nothing is computed when the graph is built and no full
intermediate volume ever exists.
"""

from __future__ import annotations

import bisect
import itertools
import uuid

from cthulhu import shapes

from .scheduling import _Opaque

__all__ = ["program_array", "output_chunks"]


def output_chunks(in_chunks, n_in, n_out):
    """Output chunk sizes along one axis, proportional to the input chunks.

    Any chunking is exact (every block's region is planned exactly); this one
    just keeps the number of tasks and their sizes close to the input's.
    """
    if n_out == 0:
        return (0,)
    bounds = list(itertools.accumulate(in_chunks))[:-1]
    cuts = sorted({shapes.ceildiv(b * n_out, n_in) for b in bounds} - {0, n_out})
    cuts = [c for c in cuts if 0 < c < n_out]
    edges = [0, *cuts, n_out]
    return tuple(b - a for a, b in zip(edges[:-1], edges[1:], strict=True))


def _starts(chunks):
    return [0, *itertools.accumulate(chunks)]


def _overlaps(starts, lo, hi):
    """Chunk indices along one axis overlapping ``[lo, hi)``, with the part of each."""
    first = bisect.bisect_right(starts, lo) - 1
    out = []
    i = first
    while i < len(starts) - 1 and starts[i] < hi:
        a, b = max(lo, starts[i]), min(hi, starts[i + 1])
        if b > a:
            out.append((i, slice(a - starts[i], b - starts[i]), slice(a - lo, b - lo)))
        i += 1
    return out


def program_array(x, program, out_chunks=None, extras=()):
    """Run ``program`` (a :class:`~.program.BlockProgram`) lazily over the Dask array ``x``.

    Parameters
    ----------
    x : dask.array.Array
        The whole input, ``program.input_shape`` (batch axis first).
    out_chunks : tuple of tuple of int, optional
        Output chunks per spatial axis; default: proportional to ``x``'s chunks.
    extras : sequence of dask arrays
        Arrays every task receives whole (a per-op kernel and bias), passed to
        the stage cores.

    Returns
    -------
    dask.array.Array
        ``program.output_shape``, chunked by batch chunk x output block x all channels.
    """
    import dask.array as da
    from dask.array.utils import meta_from_array
    from dask.highlevelgraph import HighLevelGraph

    out_shape = program.output_shape
    if any(n == 0 for n in out_shape):
        return _empty(x, out_shape)
    fmt = program.data_format
    c_axis = shapes.channel_index(x.ndim, fmt)
    if len(x.chunks[c_axis]) > 1:
        x = x.rechunk({c_axis: -1})
    axes = program.spatial_axes
    x = _rechunk_for_halo(x, program)
    in_len = [x.shape[a] for a in axes]
    out_len = [out_shape[a] for a in axes]
    if out_chunks is None:
        out_chunks = tuple(output_chunks(x.chunks[a], n, m)
                           for a, n, m in zip(axes, in_len, out_len, strict=True))
    extras = [e.rechunk(e.shape) if len(e.chunks) and any(len(c) > 1 for c in e.chunks) else e
              for e in extras]
    extra_keys = [(e.name, *([0] * e.ndim)) for e in extras]

    chunks = [None] * x.ndim
    chunks[0] = x.chunks[0]
    chunks[c_axis] = (out_shape[c_axis],)
    for a, c in zip(axes, out_chunks, strict=True):
        chunks[a] = tuple(c)
    unknown = [a for a in range(x.ndim) if any(c != c for c in x.chunks[a])]
    if unknown:
        raise ValueError(f"the Dask array has unknown chunk sizes on axes {unknown}; call "
                         "x.compute_chunk_sizes() first")
    token = uuid.uuid4().hex
    name = f"cthulhu-predict-{token}"
    # The program (layers and weights) is one graph entry that every task refers to, so a
    # distributed scheduler ships it to each worker once, not once per task.
    program_key = f"cthulhu-program-{token}"
    starts = {a: _starts(x.chunks[a]) for a in (0, *axes)}
    dsk = {program_key: program}
    batch_starts = _starts(x.chunks[0])
    spatial_grid = [list(zip(_starts(c)[:-1], _starts(c)[1:], strict=True)) for c in out_chunks]
    for ib in range(len(x.chunks[0])):
        b0, b1 = batch_starts[ib], batch_starts[ib + 1]
        for index in itertools.product(*(range(len(g)) for g in spatial_grid)):
            out_range = tuple(g[i] for g, i in zip(spatial_grid, index, strict=True))
            plan = program.plan(out_range)
            src = plan.input_range if plan.from_zeros is None else None
            keys, places = _pieces(x, starts, axes, c_axis, (b0, b1), src)
            info = _Opaque((out_range, (b0, b1), src, places, plan))
            key = [None] * x.ndim
            key[0], key[c_axis] = ib, 0
            for a, i in zip(axes, index, strict=True):
                key[a] = i
            dsk[(name, *key)] = (_block_task, program_key, info, keys, list(extra_keys))
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x, *extras])
    meta = meta_from_array(x, ndim=x.ndim, dtype=x.dtype)
    return da.Array(graph, name, tuple(chunks), meta=meta)


def _halo_depths(program):
    """Per spatial axis, the ``(before, after)`` input samples a block reads beyond its core
    (``None`` where a padding is unknown), from the stages' range maps (cthulhu.shapes)."""
    from cthulhu.shapes.axis_maps import AxisInfo

    depths = []
    for j, axis in enumerate(program.spatial_axes):
        steps = [stage.steps[j] for stage in program.stages if stage.steps[j] is not None]
        depths.append(AxisInfo(axis, steps).depth if steps else (0, 0))
    return depths


def _merged(chunks, target):
    """Neighbouring chunks joined until each holds at least ``target`` samples."""
    out, run = [], 0
    for c in chunks:
        run += c
        if run >= target:
            out.append(run)
            run = 0
    if run:
        if out:
            out[-1] += run
        else:
            out.append(run)
    return tuple(out)


def _rechunk_for_halo(x, program):
    """Join chunks smaller than the halo, so that a task gathers a few chunks per axis.

    A task reads its block's core plus the halo; with chunks of 1 sample and a halo
    of 3 on each side, every voxel's task would gather 7**3 chunks, and a few
    thousand voxels would take a minute. Chunks at least as long as the halo are
    kept as the user made them.
    """
    wanted = {}
    for axis, depth in zip(program.spatial_axes, _halo_depths(program), strict=True):
        if depth is None:
            continue
        halo = depth[0] + depth[1]
        if halo and any(c < halo for c in x.chunks[axis][:-1]):
            wanted[axis] = _merged(x.chunks[axis], 2 * halo)
    return x.rechunk(wanted) if wanted else x


def _empty(x, shape):
    """A Dask array of ``shape`` (which has a zero-size axis) in ``x``'s library and dtype.

    With nothing to compute there is no block to plan: one empty chunk.
    """
    import array_api_compat as aac
    import dask.array as da
    from dask.array.utils import meta_from_array

    meta = meta_from_array(x, ndim=len(shape), dtype=x.dtype)
    empty = aac.array_namespace(meta).zeros(tuple(shape), dtype=x.dtype)
    return da.from_array(empty, chunks=tuple(max(n, 1) for n in shape), meta=meta)


def _pieces(x, starts, axes, c_axis, batch, src):
    """Input chunk keys a region needs and where each part goes in the region."""
    if src is None:
        # Only border zeros reach this block: one chunk tells the task the library.
        src = tuple((0, 1) for _ in axes)
    per_axis = {0: _overlaps(starts[0], *batch)}
    for a, (lo, hi) in zip(axes, src, strict=True):
        per_axis[a] = _overlaps(starts[a], lo, hi)
    keys, places = [], []
    order = sorted(per_axis)
    for combo in itertools.product(*(per_axis[a] for a in order)):
        key = [0] * x.ndim
        take = [slice(None)] * x.ndim
        put = [slice(None)] * x.ndim
        for a, (i, in_sl, out_sl) in zip(order, combo, strict=True):
            key[a], take[a], put[a] = i, in_sl, out_sl
        key[c_axis] = 0
        keys.append((x.name, *key))
        places.append((tuple(take), tuple(put)))
    return keys, places


def _assemble(pieces, places, shape):
    import array_api_compat as aac

    if len(pieces) == 1:
        return pieces[0][places[0][0]]
    first = pieces[0]
    xp = aac.array_namespace(first)
    region = xp.empty(shape, dtype=first.dtype, device=aac.device(first))
    for piece, (take, put) in zip(pieces, places, strict=True):
        region[put] = piece[take]
    return region


def _block_task(program, info, pieces, extras):
    out_range, batch, src, places, plan = info.value
    shape = [batch[1] - batch[0]] + [0] * (len(program.input_shape) - 1)
    c_axis = shapes.channel_index(len(shape), program.data_format)
    shape[c_axis] = pieces[0].shape[c_axis]
    src_or_probe = src if src is not None else tuple((0, 1) for _ in program.spatial_axes)
    for a, (lo, hi) in zip(program.spatial_axes, src_or_probe, strict=True):
        shape[a] = hi - lo
    region = _assemble(pieces, places, tuple(shape))
    origin = [batch[0]] + [0] * (len(shape) - 1)
    for a, (lo, _) in zip(program.spatial_axes, src_or_probe, strict=True):
        origin[a] = lo

    def read(index):
        local = tuple(slice(sl.start - o, sl.stop - o) if sl.start is not None else sl
                      for sl, o in zip(index, origin, strict=True))
        return region[local]

    return program.run(read, out_range, batch=batch, dtype=str(region.dtype), extras=extras,
                       plan=plan)
