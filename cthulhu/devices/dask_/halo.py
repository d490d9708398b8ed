"""Map a block function with a halo over Dask arrays: one task per output block.

What both Dask paths share: the per-op router (:mod:`.ops`, one layer per
graph) and the fused whole-model runner of :mod:`cthulhu.blockwise`, which
imports this module (downward). :func:`halo_map` builds a lazy Dask array by
hand: for each output block (a batch chunk x one block per spatial axis x all
channels) a *planner* says which region of every input the block needs (its
core plus the halo, clipped to the array), and the task receives exactly the
input chunks under that region, assembles it, and calls the block function on
it in memory with the chunks' own library (NumPy or CuPy). Nothing is computed
when the graph is built, and no intermediate volume ever exists.

The arithmetic of halos lives in :mod:`cthulhu.shapes` (the planners ask it);
this module only cuts, gathers and assembles.
"""

from __future__ import annotations

import bisect
import itertools
import uuid

from cthulhu import shapes

__all__ = ["halo_map", "Region", "output_chunks", "merged_chunks", "Opaque", "pad_zeros",
           "spatial_widths", "keep_part", "empty_like"]


class Opaque:
    """A value Dask must pass to a task as it is (never mistaken for a task, a key or a
    list to walk); also the block runs of ``cthulhu.blockwise.scheduling``."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __reduce__(self):
        return (Opaque, (self.value,))


class Region:
    """What a block task receives for one input: the assembled region and where it lies.

    Attributes
    ----------
    array : array or None
        The input's samples over ``ranges`` (every channel, the task's batch items);
        ``None`` when the block reads nothing of this input.
    ranges : tuple of (int, int) or None
        The region's ``(start, stop)`` per spatial axis, in the input's coordinates.
    probe : array
        A one-sample piece of the input: its library, device and dtype (for a block
        that reads nothing, to make zeros of the right kind).
    """

    __slots__ = ("array", "ranges", "probe")

    def __init__(self, array, ranges, probe):
        self.array, self.ranges, self.probe = array, ranges, probe

    def take(self, ranges, spatial_axes):
        """The part ``ranges`` (input coordinates, inside :attr:`ranges`) of the region."""
        index = [slice(None)] * self.array.ndim
        whole = True
        for axis, (a, b), (start, stop) in zip(spatial_axes, ranges, self.ranges, strict=True):
            index[axis] = slice(a - start, b - start)
            whole = whole and a == start and b == stop
        return self.array if whole else self.array[tuple(index)]


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


def merged_chunks(chunks, target):
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


def _join_small_chunks(x, spatial_axes, depths):
    """Join chunks smaller than the halo, so that a task gathers a few chunks per axis.

    A task reads its block's core plus the halo; with chunks of 1 sample and a halo
    of 3 on each side, every voxel's task would gather 7**3 chunks, and a few
    thousand voxels would take a minute. Chunks at least as long as the halo are
    kept as the user made them.
    """
    wanted = {}
    for axis, depth in zip(spatial_axes, depths, strict=True):
        if depth is None:
            continue
        halo = depth[0] + depth[1]
        if halo and any(c < halo for c in x.chunks[axis][:-1]):
            wanted[axis] = merged_chunks(x.chunks[axis], 2 * halo)
    return x.rechunk(wanted) if wanted else x


def empty_like(x, shape):
    """A Dask array of ``shape`` (with a zero-size axis) in ``x``'s library and dtype: one
    empty chunk (with nothing to compute there is no block to plan)."""
    import array_api_compat as aac
    import dask.array as da
    from dask.array.utils import meta_from_array

    meta = meta_from_array(x, ndim=len(shape), dtype=x.dtype)
    empty = aac.array_namespace(meta).zeros(tuple(shape), dtype=x.dtype)
    return da.from_array(empty, chunks=tuple(max(n, 1) for n in shape), meta=meta)


def halo_map(inputs, out_shapes, planner, task, *, spatial_axes, channel_axis,
             out_chunks=None, depths=None, extras=(), name="cthulhu-block"):
    """Lazy arrays of ``out_shapes``, one task per output block, from regions of ``inputs``.

    Parameters
    ----------
    inputs : sequence of dask.array.Array
        Of one rank; batch axis 0, the channels on ``channel_axis``, the spatial axes
        ``spatial_axes``. The batch chunks of the first input are every input's.
    out_shapes : sequence of tuple
        The outputs' shapes (batch axis included); they share their spatial sizes.
    planner : callable
        ``planner(out_range) -> (reads, info)`` for one output block (``(start, stop)``
        per spatial axis): ``reads[i]`` is the region of input ``i`` it needs
        (``(start, stop)`` per spatial axis, inside the input) or ``None``; ``info``
        (picklable) goes to the task. Called once per spatial block, while the graph
        is built.
    task : callable
        ``task(regions, info, *extras)`` with one :class:`Region` per input; returns
        the block of the output (or a tuple, one per output: batch items of the
        chunk, the block's spatial samples, every channel). Pickled once per graph.
    out_chunks : tuple of tuple of int, optional
        Output chunks per spatial axis; default: proportional to the first input's.
    depths : sequence, optional
        Per input, the halo ``(before, after)`` per spatial axis (``None``: unknown);
        chunks shorter than the halo are joined first (:func:`_join_small_chunks`).
    extras : sequence of dask arrays
        Arrays every task receives whole, after the regions (a per-op kernel).

    Returns
    -------
    list of dask.array.Array
    """
    import dask.array as da
    from dask.array.utils import meta_from_array
    from dask.highlevelgraph import HighLevelGraph

    inputs = list(inputs)
    first = inputs[0]
    if any(n == 0 for n in out_shapes[0]) or any(0 in x.shape for x in inputs):
        return [empty_like(first, shape) for shape in out_shapes]
    unknown = [(i, a) for i, x in enumerate(inputs) for a in range(x.ndim)
               if any(c != c for c in x.chunks[a])]
    if unknown:
        raise ValueError(f"the Dask array has unknown chunk sizes (input, axis) {unknown}; "
                         "call x.compute_chunk_sizes() first")
    # a task reads every channel of its region: one chunk along the channels
    inputs = [x.rechunk({channel_axis: -1}) if len(x.chunks[channel_axis]) > 1 else x
              for x in inputs]
    if depths is not None:
        inputs = [_join_small_chunks(x, spatial_axes, d) for x, d in zip(inputs, depths,
                                                                          strict=True)]
    first = inputs[0]
    inputs = [first, *(x.rechunk({0: first.chunks[0]}) if x.chunks[0] != first.chunks[0] else x
                       for x in inputs[1:])]
    out_len = [out_shapes[0][a] for a in spatial_axes]
    if out_chunks is None:
        out_chunks = tuple(output_chunks(first.chunks[a], first.shape[a], m)
                           for a, m in zip(spatial_axes, out_len, strict=True))
    extras = [e.rechunk(e.shape) if len(e.chunks) and any(len(c) > 1 for c in e.chunks) else e
              for e in extras]
    extra_keys = [(e.name, *([0] * e.ndim)) for e in extras]

    token = uuid.uuid4().hex
    block_name = f"{name}-{token}"
    # The task function (layers and weights) is one graph entry every task refers to, so a
    # distributed scheduler ships it to each worker once, not once per task.
    task_key = f"{name}-task-{token}"
    dsk = {task_key: task}
    starts = [{a: _starts(x.chunks[a]) for a in (0, *spatial_axes)} for x in inputs]
    batch_starts = _starts(first.chunks[0])
    grid = [list(zip(_starts(c)[:-1], _starts(c)[1:], strict=True)) for c in out_chunks]
    plans = {}
    for index in itertools.product(*(range(len(g)) for g in grid)):
        out_range = tuple(g[i] for g, i in zip(grid, index, strict=True))
        plans[index] = planner(out_range)
    for ib in range(len(first.chunks[0])):
        batch = (batch_starts[ib], batch_starts[ib + 1])
        for index, (reads, info) in plans.items():
            keys, places = [], []
            for x, st, src in zip(inputs, starts, reads, strict=True):
                k, p = _pieces(x, st, spatial_axes, channel_axis, batch, src)
                keys.append(k)
                places.append(p)
            key = [None] * first.ndim
            key[0], key[channel_axis] = ib, 0
            for a, i in zip(spatial_axes, index, strict=True):
                key[a] = i
            what = Opaque((info, batch, tuple(reads), tuple(places), tuple(spatial_axes),
                           channel_axis))
            dsk[(block_name, *key)] = (_block_task, task_key, what, keys, list(extra_keys))
    graph = HighLevelGraph.from_collections(block_name, dsk, dependencies=[*inputs, *extras])
    meta = meta_from_array(first, ndim=first.ndim, dtype=first.dtype)

    def chunks_of(shape):
        chunks = [None] * first.ndim
        chunks[0] = first.chunks[0]
        chunks[channel_axis] = (shape[channel_axis],)
        for a, c in zip(spatial_axes, out_chunks, strict=True):
            chunks[a] = tuple(c)
        return tuple(chunks)

    blocks = da.Array(graph, block_name, chunks_of(out_shapes[0]), meta=meta)
    if len(out_shapes) == 1:
        return [blocks]
    # Several outputs: each task returns a tuple; one light layer per output picks its part.
    outputs = []
    for i, shape in enumerate(out_shapes):
        part = f"{name}-out{i}-{token}"
        layer = {(part, *k[1:]): (_item, k, i) for k in dsk if isinstance(k, tuple)}
        g = HighLevelGraph.from_collections(part, layer, dependencies=[blocks])
        outputs.append(da.Array(g, part, chunks_of(shape), meta=meta))
    return outputs


def _item(values, i):
    return values[i]


def _pieces(x, starts, axes, c_axis, batch, src):
    """Input chunk keys a region needs and where each part goes in the region."""
    if src is None:
        # Nothing is read: one chunk tells the task the library (the probe).
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


def _block_task(task, what, pieces, extras):
    info, batch, reads, places, axes, c_axis = what.value
    regions = []
    for chunks, where, src in zip(pieces, places, reads, strict=True):
        probe = chunks[0]
        shape = [batch[1] - batch[0]] + [0] * (probe.ndim - 1)
        shape[c_axis] = probe.shape[c_axis]
        ranges = src if src is not None else tuple((0, 1) for _ in axes)
        for a, (lo, hi) in zip(axes, ranges, strict=True):
            shape[a] = hi - lo
        array = _assemble(chunks, where, tuple(shape))
        if src is None:
            regions.append(Region(None, None, array))
        else:
            regions.append(Region(array, tuple(src), array))
    return task(regions, info, *extras)


def pad_zeros(x, widths, dtype=None):
    """``x`` with ``widths[axis] = (lo, hi)`` zeros around it (one copy; ``x`` itself when
    nothing is added and ``dtype`` is ``None``); ``dtype`` converts in the same copy."""
    if dtype is None and not any(lo or hi for lo, hi in widths):
        return x
    import array_api_compat as aac

    xp = aac.array_namespace(x)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths, strict=True))
    out = xp.empty(padded, dtype=x.dtype if dtype is None else dtype, device=aac.device(x))
    # Zero only the border slabs, then copy the data once into the middle.
    for axis, (lo, hi) in enumerate(widths):
        for start, stop in ((0, lo), (padded[axis] - hi, padded[axis])):
            if stop > start:
                slab = [slice(None)] * len(padded)
                slab[axis] = slice(start, stop)
                out[tuple(slab)] = 0
    inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, widths, strict=True))
    out[inner] = x
    return out


def spatial_widths(pairs, spatial_axes, ndim):
    """Per-axis ``(lo, hi)`` of an array of ``ndim`` axes: ``pairs`` on the spatial axes."""
    widths = [(0, 0)] * ndim
    for axis, pair in zip(spatial_axes, pairs, strict=True):
        widths[axis] = tuple(pair)
    return widths


def keep_part(x, keep, spatial_axes):
    """The part ``keep`` (``(start, stop)`` per spatial axis) of ``x`` (``x`` if all of it)."""
    if all(a == 0 and b == x.shape[axis] for axis, (a, b) in zip(spatial_axes, keep,
                                                                   strict=True)):
        return x
    index = [slice(None)] * x.ndim
    for axis, (a, b) in zip(spatial_axes, keep, strict=True):
        index[axis] = slice(a, b)
    return x[tuple(index)]
